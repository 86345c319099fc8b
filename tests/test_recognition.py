"""Recognition below the HTTP edge: translation both ways through yrd-common/1 for Hangzhou and
Wenzhou, honest partner data files, and the status-list fetcher (cache bounds and every refusal)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from gateway.exchange import (
    TYP_SCORE_ASSERTION,
    TYP_STATUS_LIST,
    Status,
    StatusList,
    build_status_list_token_claims,
    generate_signing_key,
    sign,
)
from gateway.exchange._b64 import b64url_decode
from gateway.exchange.tiers import UNRATED, load_mappings
from gateway.services.recognition.partner_keys import (
    PartnerKeys,
    StatusListRejected,
    StatusListUnavailable,
    TrustAnchor,
)
from gateway.services.recognition.recognition import TierRef, level_on, translate
from tests.support.assertions import CITIES, Clock, FakePartner, no_sleep, status_list_token
from tests.support.jose import forge
from tests.support.partners import partner_key

MAPPINGS = load_mappings(PROJECT_ROOT / "mappings")
SX = "sx-integrity/2026.1"
HZ = "hangzhou-credit/1"
WZ = "wenzhou-credit/1"
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _across(source_scheme: str, code: str, target: str) -> tuple[str, str | None]:
    t = translate(MAPPINGS, TierRef(source_scheme, code), target)
    return t.common_level, t.target.code if t.target else None


HANGZHOU_TO_SHAOXING = {
    "750plus": ("outstanding", "A"),
    "700-750": ("good", "B"),
    "600-700": ("fair", "C"),
    "550-600": ("basic", "D"),
    "lt550": ("low", "E"),
}
WENZHOU_TO_SHAOXING = {
    "750plus": ("outstanding", "A"),
    "700-749": ("good", "B"),
    "650-699": ("fair", "C"),
    "600-649": ("fair", "C"),
    "lt600": ("low", "E"),  # nothing below 600 is known: never credited as 'basic'
}
SHAOXING_TO_HANGZHOU = {"A": "750plus", "B": "700-750", "C": "600-700", "D": "550-600", "E": "lt550"}
# Back down, each common level goes to the lowest Wenzhou band that maps to it.
SHAOXING_TO_WENZHOU = {"A": "750plus", "B": "700-749", "C": "600-649", "D": "lt600", "E": "lt600"}


@pytest.mark.parametrize(("city", "table"), [(HZ, HANGZHOU_TO_SHAOXING), (WZ, WENZHOU_TO_SHAOXING)])
def test_every_partner_tier_translates_into_shaoxing(city: str, table: dict[str, tuple[str, str]]) -> None:
    scheme = MAPPINGS.schemes[city]
    assert {t.code for t in scheme.tiers} == set(table)
    for code, expected in table.items():
        assert _across(city, code, SX) == expected, code


@pytest.mark.parametrize(("city", "table"), [(HZ, SHAOXING_TO_HANGZHOU), (WZ, SHAOXING_TO_WENZHOU)])
def test_every_shaoxing_tier_translates_into_the_partner_scheme(city: str, table: dict[str, str]) -> None:
    for code, expected in table.items():
        level, local = _across(SX, code, city)
        assert local == expected, code
        assert level == MAPPINGS.crosswalks[SX].to_common_by_tier[code]


def test_a_translation_names_both_crosswalks_with_version_and_digest() -> None:
    t = translate(MAPPINGS, TierRef(HZ, "700-750"), SX)
    assert t.placement == "translated" and t.provisional
    refs = t.crosswalk_refs()
    assert [r["id"] for r in refs] == ["hangzhou-credit-yrd-common", "sx-integrity-yrd-common"]
    assert all(r["version"] == 1 and r["digest"].startswith("sha256:") for r in refs)
    assert t.target is not None and t.target.label == {"zh": "诚信良好", "en": "Good"}
    # Our own tier back onto our own scheme uses one crosswalk once.
    assert [r["id"] for r in translate(MAPPINGS, TierRef(SX, "B"), SX).crosswalk_refs()] == ["sx-integrity-yrd-common"]


def test_hangzhou_and_wenzhou_translate_into_each_other() -> None:
    assert _across(HZ, "700-750", WZ) == ("good", "700-749")
    assert _across(WZ, "700-749", HZ) == ("good", "700-750")
    assert _across(WZ, "650-699", HZ) == ("fair", "600-700")


def test_what_no_crosswalk_places_is_unrated() -> None:
    unknown_scheme = translate(MAPPINGS, TierRef("hangzhou-credit/9", "750plus"), SX)
    assert (unknown_scheme.common_level, unknown_scheme.placement, unknown_scheme.target) == (
        UNRATED,
        "no_crosswalk",
        None,
    )
    unknown_tier = translate(MAPPINGS, TierRef(HZ, "800plus"), SX)
    assert (unknown_tier.common_level, unknown_tier.placement) == (UNRATED, "not_placed")
    for city in ("huzhou-credit", "jiaxing-credit", "jinhua-credit", "quzhou-credit"):
        t = translate(MAPPINGS, TierRef(f"{city}/1", "unrated"), SX)
        assert t.common_level == UNRATED and t.target is None
    assert level_on(MAPPINGS, unknown_tier, "yrd-common/1") is None


def test_level_on_reaches_another_scheme_through_the_common_level() -> None:
    t = translate(MAPPINGS, TierRef(HZ, "600-700"), SX)
    on_common = level_on(MAPPINGS, t, "yrd-common/1")
    assert on_common is not None and on_common.code == "fair"
    on_wenzhou = level_on(MAPPINGS, t, WZ)
    assert on_wenzhou is not None and on_wenzhou.code == "600-649"


def test_a_band_crosswalk_uses_a_disclosed_score_and_never_returns_it(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "mappings", tmp_path / "mappings")
    levels = ("outstanding", "good", "fair", "basic", "low")
    documents = {
        "schemes/band-city-1.json": {
            "scheme": "band-city/1",
            "kind": "local",
            "name": {"zh": "分段", "en": "Bands"},
            "provisional": True,
            "source": "test",
            "score_range": {"min": 0, "max": 1000},
            "tiers": [
                {"code": "hi", "rank": 1, "label": {"zh": "高", "en": "High"}, "min_score": 650},
                {"code": "lo", "rank": 2, "label": {"zh": "低", "en": "Low"}, "max_score": 649},
            ],
        },
        "crosswalks/band-city-yrd-common.json": {
            "id": "band-city-yrd-common",
            "version": 1,
            "effective_from": "2026-01-01",
            "local_scheme": "band-city/1",
            "common_scheme": "yrd-common/1",
            "provisional": True,
            "basis": "test",
            "to_common": [
                {"min_score": 0, "max_score": 699, "common": "fair"},
                {"min_score": 700, "max_score": 1000, "common": "good"},
            ],
            "from_common": [{"common": c, "local": "hi" if c in levels[:2] else "lo"} for c in levels],
        },
    }
    for name, doc in documents.items():
        (tmp_path / "mappings" / name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    mappings = load_mappings(tmp_path / "mappings")
    source = TierRef("band-city/1", "x")
    assert translate(mappings, source, SX, score=712).common_level == "good"
    assert translate(mappings, source, SX, score=699).common_level == "fair"
    assert translate(mappings, source, SX).common_level == UNRATED
    assert "712" not in repr(translate(mappings, source, SX, score=712))
    # A tier-only assertion is still placed: at the lowest level any score of its band reaches.
    assert translate(mappings, TierRef("band-city/1", "hi"), SX).common_level == "fair"  # 650–1000 spans both
    assert translate(mappings, TierRef("band-city/1", "lo"), SX).common_level == "fair"
    assert translate(mappings, TierRef("band-city/1", "hi"), SX, score=712).common_level == "good"


def test_partner_schemes_hold_only_what_the_research_found() -> None:
    for city in (
        "hangzhou-credit",
        "wenzhou-credit",
        "huzhou-credit",
        "jiaxing-credit",
        "jinhua-credit",
        "quzhou-credit",
    ):
        doc = json.loads((PROJECT_ROOT / "mappings" / "schemes" / f"{city}-1.json").read_text(encoding="utf-8"))
        assert doc["provisional"] is True and "score_range" not in doc, city
        assert "NOT FOUND" in doc["source"], city
    hz = MAPPINGS.schemes[HZ]
    assert [t.label_zh for t in hz.tiers] == ["信用极…", "信用优秀", "信用良好", "信用一般", "信用待提高"]
    assert [t.min_score for t in MAPPINGS.schemes[WZ].tiers] == [750, 700, 650, 600, None]
    for city in ("huzhou-credit", "jiaxing-credit", "jinhua-credit", "quzhou-credit"):
        assert [t.code for t in MAPPINGS.schemes[f"{city}/1"].tiers] == [UNRATED]
        assert MAPPINGS.crosswalk_for(f"{city}/1") is None
    for scheme in (HZ, WZ):
        crosswalk = MAPPINGS.crosswalks[scheme]
        assert crosswalk.document["provisional"] is True and "not an agreement" in crosswalk.document["basis"]


# --- status lists over HTTP -------------------------------------------------------------------------

WZ_ISSUER = CITIES["wenzhou-credit"]["issuer"]
LIST_URI = "https://credit.wenzhou.example/status/1"
WZ_ANCHOR = TrustAnchor(
    WZ_ISSUER,
    "wenzhou-credit",
    keys={partner_key("wenzhou-credit").kid: partner_key("wenzhou-credit").verification_key()},
)


def _keys(partner: FakePartner, wall: Clock | None = None, **options: Any) -> PartnerKeys:
    return PartnerKeys(transport=partner.transport(), now=Clock(), wall=wall or time.time, sleep=no_sleep, **options)


def test_a_status_list_is_reused_within_its_ttl_and_fetched_again_after() -> None:
    partner = FakePartner()
    wall = Clock(time.time())
    partner.serve_token(
        LIST_URI, status_list_token("wenzhou-credit", LIST_URI, {7: Status.INVALID}, iat=int(wall()), ttl=60)
    )

    async def scenario() -> None:
        keys = _keys(partner, wall)
        first = await keys.status_list(WZ_ANCHOR, LIST_URI)
        assert first.status(7) == Status.INVALID and first.status(8) == Status.VALID
        wall.advance(59)
        await keys.status_list(WZ_ANCHOR, LIST_URI)
        assert partner.hits[LIST_URI] == 1
        wall.advance(2)
        await keys.status_list(WZ_ANCHOR, LIST_URI)
        assert partner.hits[LIST_URI] == 2
        await keys.aclose()

    run(scenario())


@pytest.mark.parametrize(("ttl", "exp_in", "reuse_for"), [(None, 30, 30), (100_000, 100_000, 300), (None, None, 60)])
def test_a_status_list_is_never_reused_past_exp_or_our_ceiling(
    ttl: int | None, exp_in: int | None, reuse_for: int
) -> None:
    partner = FakePartner()
    wall = Clock(time.time())
    now = int(wall())
    exp = now + exp_in if exp_in is not None else None
    token = status_list_token("wenzhou-credit", LIST_URI, {}, iat=now, ttl=ttl, exp=exp)
    if exp is None:  # a list without exp: build it by hand
        claims = build_status_list_token_claims(LIST_URI, StatusList(2, 64), now, None, ttl, iss=WZ_ISSUER)
        token = sign(claims, partner_key("wenzhou-credit"), TYP_STATUS_LIST)
    partner.serve_token(LIST_URI, token)

    async def scenario() -> None:
        keys = _keys(partner, wall)
        await keys.status_list(WZ_ANCHOR, LIST_URI)
        wall.advance(reuse_for - 1)
        await keys.status_list(WZ_ANCHOR, LIST_URI)
        assert partner.hits[LIST_URI] == 1
        wall.advance(2)
        if exp is not None and wall() >= exp:
            partner.serve_token(LIST_URI, status_list_token("wenzhou-credit", LIST_URI, {}, iat=int(wall()), ttl=ttl))
        await keys.status_list(WZ_ANCHOR, LIST_URI)
        assert partner.hits[LIST_URI] == 2
        await keys.aclose()

    run(scenario())


def _payload(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def _refused(partner: FakePartner) -> StatusListRejected:
    async def scenario() -> StatusListRejected:
        keys = _keys(partner)
        try:
            with pytest.raises(StatusListRejected) as caught:
                await keys.status_list(WZ_ANCHOR, LIST_URI)
            return caught.value
        finally:
            await keys.aclose()

    return run(scenario())


def test_a_status_list_with_a_bad_signature_is_refused() -> None:
    claims = _payload(status_list_token("wenzhou-credit", LIST_URI, {}))
    # Wenzhou's kid, an attacker's signature: the key is found and the signature fails.
    header = {"typ": "statuslist+jwt", "kid": partner_key("wenzhou-credit").kid}
    partner = FakePartner()
    partner.serve_token(LIST_URI, forge(header, claims, generate_signing_key()))
    error = _refused(partner)
    assert error.status == 502 and error.extensions["failed_check"] == "bad_signature"


def test_a_status_list_signed_by_an_unknown_key_is_refused() -> None:
    partner = FakePartner()
    partner.serve_token(LIST_URI, status_list_token("wenzhou-credit", LIST_URI, {}, key=generate_signing_key()))
    assert _refused(partner).extensions["failed_check"] == "unknown_key"


def test_a_status_list_for_another_uri_is_refused() -> None:
    partner = FakePartner()
    partner.serve_token(LIST_URI, status_list_token("wenzhou-credit", LIST_URI, {}, sub=LIST_URI + "0"))
    assert _refused(partner).extensions["failed_check"] == "subject_mismatch"


def test_an_expired_status_list_is_refused() -> None:
    now = int(time.time())
    partner = FakePartner()
    partner.serve_token(LIST_URI, status_list_token("wenzhou-credit", LIST_URI, {}, iat=now - 100, exp=now - 10))
    assert _refused(partner).extensions["failed_check"] == "token_expired"


def test_a_status_list_of_another_type_or_with_crit_is_refused() -> None:
    claims = _payload(status_list_token("wenzhou-credit", LIST_URI, {}))
    partner = FakePartner()
    partner.serve_token(LIST_URI, sign(claims, partner_key("wenzhou-credit"), TYP_SCORE_ASSERTION))
    assert _refused(partner).extensions["failed_check"] == "token_type_mismatch"
    partner.serve_token(
        LIST_URI, forge({"typ": "statuslist+jwt", "crit": ["ttl"]}, claims, partner_key("wenzhou-credit"))
    )
    assert _refused(partner).extensions["failed_check"] == "unsupported_critical_header"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (httpx.ConnectError("down"), "transport"),
        (httpx.Response(503), "http_status"),
        (httpx.Response(404), "http_status"),
    ],
)
def test_an_unreachable_status_list_fails_closed(reply: httpx.Response | Exception, reason: str) -> None:
    partner = FakePartner()
    partner.routes[LIST_URI] = reply

    async def scenario() -> None:
        keys = _keys(partner)
        with pytest.raises(StatusListUnavailable) as caught:
            await keys.status_list(WZ_ANCHOR, LIST_URI)
        assert caught.value.status == 503 and caught.value.extensions["reason"] == reason
        await keys.aclose()

    run(scenario())
    assert partner.hits[LIST_URI] == (1 if isinstance(reply, httpx.Response) and reply.status_code == 404 else 2)


def test_a_status_list_is_verified_with_keys_from_the_issuers_jwks_uri() -> None:
    jwks_uri = "https://credit.wenzhou.example/jwks.json"
    anchor = TrustAnchor(WZ_ISSUER, "wenzhou-credit", jwks_uri=jwks_uri)
    partner = FakePartner()
    partner.serve_jwks(jwks_uri, partner_key("wenzhou-credit"))
    partner.serve_token(LIST_URI, status_list_token("wenzhou-credit", LIST_URI, {3: Status.SUSPENDED}))

    async def scenario() -> None:
        keys = _keys(partner)
        assert (await keys.status_list(anchor, LIST_URI)).status(3) == Status.SUSPENDED
        await keys.aclose()

    run(scenario())
    assert partner.hits == {jwks_uri: 1, LIST_URI: 1}
