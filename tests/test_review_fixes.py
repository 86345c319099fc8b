"""Regression tests for review findings: status-list SSRF, crosswalk validation holes, the
same-scheme round trip, and our own revocations honoured at once."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from gateway.api.app import create_app
from gateway.config import PROJECT_ROOT
from gateway.exchange import TYP_SCORE_ASSERTION, sign
from gateway.exchange.tiers import InvalidMapping, Mappings, SchemeTier, TierScheme, load_mappings, validate_crosswalk
from gateway.services.context import Gateway
from gateway.services.exchange.oauth import PartnerPrincipal, partner_scopes
from gateway.services.recognition.partner_keys import (
    PartnerKeys,
    StatusListUnavailable,
    StatusListUntrusted,
    TrustAnchor,
    check_status_list_uri,
)
from gateway.services.recognition.recognition import TierRef, level_on, translate, verify_inbound
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.services.scores.ingestion import ingest_batch
from gateway.store.tables import status_slots
from tests.support import basic_records, make_id
from tests.support.assertions import CITIES, Clock, FakePartner, city_claims, no_sleep
from tests.support.partners import access_token, partner_key

T = TypeVar("T")
MAPPINGS = load_mappings(PROJECT_ROOT / "mappings")
SX = "sx-integrity/2026.1"
HZ = "hangzhou-credit/1"
COMMON = MAPPINGS.schemes["yrd-common/1"]
WZ = "wenzhou-credit"
WZ_ISSUER = CITIES[WZ]["issuer"]
WZ_LIST = f"{WZ_ISSUER}/status/1"
WZ_ANCHOR = TrustAnchor(WZ_ISSUER, WZ, keys={partner_key(WZ).kid: partner_key(WZ).verification_key()})
BANK = "sx-example-bank"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _keys(partner: FakePartner) -> PartnerKeys:
    return PartnerKeys(transport=partner.transport(), now=Clock(), wall=time.time, sleep=no_sleep)


# --- 1. status list uris are never fetched off the issuer's origin -----------------------------------

UNTRUSTED = {
    "https://169.254.169.254/latest/meta-data/iam": "address",
    "https://10.0.0.5/status/1": "address",
    "https://127.0.0.1:8443/status/1": "address",
    "https://[::1]/status/1": "address",
    "https://[::ffff:192.168.1.1]/status/1": "address",
    "https://[fe80::1]/status/1": "address",
    "https://internal.example/status/1": "origin",
    "https://credit.wenzhou.example.evil.example/status/1": "origin",
    "https://credit.wenzhou.example:8443/status/1": "origin",
    "https://evil@credit.hangzhou.example/status/1": "origin",
    "http://credit.wenzhou.example/status/1": "scheme",
}


@pytest.mark.parametrize(("uri", "check"), list(UNTRUSTED.items()))
def test_a_partner_status_list_off_its_issuers_origin_is_refused_before_any_fetch(
    gw: Gateway, uri: str, check: str
) -> None:
    web = FakePartner()
    gw.partner_keys = _keys(web)
    bank = gw.partners.enabled(BANK)
    claims = city_claims(WZ, BANK, "700-749")
    claims["status"] = {"status_list": {"idx": 0, "uri": uri}}
    token = sign(claims, partner_key(WZ), TYP_SCORE_ASSERTION)

    async def scenario() -> None:
        try:
            await verify_inbound(gw, PartnerPrincipal(bank, partner_scopes(bank), "t"), token)
        finally:
            await gw.partner_keys.aclose()

    if check == "scheme":  # the assertion schema already insists on https
        with pytest.raises(Exception) as caught:
            run(scenario())
        assert getattr(caught.value, "code", None) != "status_list_unavailable"
    else:
        with pytest.raises(StatusListUntrusted) as refused:
            run(scenario())
        assert refused.value.status == 403 and refused.value.code == "status_list_untrusted"
        assert refused.value.extensions["check"] == check
    assert web.hits == {}


def test_the_status_list_uri_rule_itself() -> None:
    check_status_list_uri(WZ_ANCHOR, WZ_LIST)
    check_status_list_uri(WZ_ANCHOR, "https://CREDIT.wenzhou.example:443/other/list")
    with_jwks = TrustAnchor(WZ_ISSUER, WZ, jwks_uri="https://keys.wenzhou.example/jwks.json")
    check_status_list_uri(with_jwks, "https://keys.wenzhou.example/status/9")
    for bad in ("http://credit.wenzhou.example/status/1", "https://keys.hangzhou.example/status/1", "not a url"):
        with pytest.raises(StatusListUntrusted):
            check_status_list_uri(with_jwks, bad)
    # Even an issuer registered on a private address gets nothing fetched from it.
    private = TrustAnchor("https://10.1.2.3", WZ, keys={})
    with pytest.raises(StatusListUntrusted) as caught:
        check_status_list_uri(private, "https://10.1.2.3/status/1")
    assert caught.value.extensions["check"] == "address"


def test_an_upstream_answer_never_reaches_the_problem() -> None:
    web = FakePartner()
    web.routes[WZ_LIST] = httpx.Response(404)

    async def scenario() -> None:
        keys = _keys(web)
        with pytest.raises(StatusListUnavailable) as caught:
            await keys.status_list(WZ_ANCHOR, WZ_LIST)
        assert caught.value.extensions == {"reason": "http_status"}
        await keys.aclose()

    run(scenario())


def test_fetch_locks_are_per_issuer_not_per_uri() -> None:
    web = FakePartner()

    async def scenario() -> PartnerKeys:
        keys = _keys(web)
        for n in range(40):
            with pytest.raises(StatusListUnavailable):
                await keys.status_list(WZ_ANCHOR, f"{WZ_ISSUER}/status/{n}")
        await keys.aclose()
        return keys

    keys = run(scenario())
    assert list(keys._locks) == [WZ_ISSUER]


# --- 2. crosswalk validation -------------------------------------------------------------------------


def _doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PROJECT_ROOT / "mappings" / "crosswalks" / name).read_text(encoding="utf-8"))
    return copy.deepcopy(doc)


LEVELS = ("outstanding", "good", "fair", "basic", "low")


def test_from_common_must_be_monotonic() -> None:
    doc = _doc("sx-integrity-yrd-common.json")
    doc["from_common"] = [{"common": c, "local": t} for c, t in zip(LEVELS, "EDCBA", strict=True)]
    with pytest.raises(InvalidMapping, match="not monotonic"):
        validate_crosswalk(doc, MAPPINGS.schemes[SX], COMMON)


def test_from_common_may_not_map_a_level_twice() -> None:
    doc = _doc("sx-integrity-yrd-common.json")
    doc["from_common"].append({"common": "low", "local": "D"})
    with pytest.raises(InvalidMapping, match="mapped back twice"):
        validate_crosswalk(doc, MAPPINGS.schemes[SX], COMMON)


def test_a_scheme_with_an_open_scale_cannot_be_mapped_by_band() -> None:
    doc = _doc("hangzhou-credit-yrd-common.json")
    doc["to_common"] = [{"min_score": 740, "max_score": 760, "common": "outstanding"}]
    with pytest.raises(InvalidMapping, match="no score_range"):
        validate_crosswalk(doc, MAPPINGS.schemes[HZ], COMMON)


def _bounded(*, open_top: bool = False, unbounded_tier: bool = False) -> TierScheme:
    tiers = (
        SchemeTier("hi", 1, "高", "High", 700, None if open_top else 900),
        SchemeTier("mid", 2, "中", "Mid", None if unbounded_tier else 500, None if unbounded_tier else 699),
        SchemeTier("lo", 3, "低", "Low", 300, 499),
    )
    return TierScheme("bounded/1", "local", True, tiers, {"scheme": "bounded/1"})


def _band_doc(*bands: tuple[int, int, str]) -> dict[str, Any]:
    return {
        "id": "bounded-yrd-common",
        "version": 1,
        "effective_from": "2026-01-01",
        "local_scheme": "bounded/1",
        "common_scheme": "yrd-common/1",
        "provisional": True,
        "basis": "test",
        "to_common": [{"min_score": lo, "max_score": hi, "common": lvl} for lo, hi, lvl in bands],
        "from_common": [
            {"common": c, "local": t} for c, t in zip(LEVELS, ("hi", "hi", "mid", "lo", "lo"), strict=True)
        ],
    }


def test_without_score_range_bands_must_cover_the_span_of_the_tiers() -> None:
    partial = _band_doc((740, 760, "outstanding"))
    with pytest.raises(InvalidMapping, match="do not cover 300–900"):
        validate_crosswalk(partial, _bounded(), COMMON)
    with pytest.raises(InvalidMapping, match="no score_range"):
        validate_crosswalk(partial, _bounded(open_top=True), COMMON)
    full = _band_doc((300, 599, "low"), (600, 749, "fair"), (750, 900, "good"))
    crosswalk = validate_crosswalk(full, _bounded(), COMMON)
    assert crosswalk.common_level(score=760) == "good"


def test_a_band_only_crosswalk_still_places_tier_only_assertions_conservatively() -> None:
    crosswalk = validate_crosswalk(
        _band_doc((300, 599, "low"), (600, 749, "fair"), (750, 900, "good")), _bounded(), COMMON
    )
    # hi (700–900) reaches fair and good: a tier alone is credited only what all its scores guarantee.
    assert crosswalk.common_level("hi") == "fair"
    assert crosswalk.common_level("mid") == "low"
    assert crosswalk.common_level("lo") == "low"
    assert crosswalk.common_level("hi", 800) == "good"  # a disclosed score still uses its own band
    with pytest.raises(InvalidMapping, match="tier 'mid' has no score band"):
        validate_crosswalk(
            _band_doc((300, 599, "low"), (600, 749, "fair"), (750, 900, "good")),
            TierScheme(
                "bounded/1",
                "local",
                True,
                _bounded(unbounded_tier=True).tiers,
                {"score_range": {"min": 300, "max": 900}},
            ),
            COMMON,
        )


def test_the_published_crosswalks_still_validate() -> None:
    for name in ("sx-integrity-yrd-common.json", "hangzhou-credit-yrd-common.json", "wenzhou-credit-yrd-common.json"):
        doc = _doc(name)
        validate_crosswalk(doc, MAPPINGS.schemes[doc["local_scheme"]], COMMON)


# --- 3. a tier of the target scheme is never round-tripped ---------------------------------------------


def test_a_tier_of_the_target_scheme_stays_itself() -> None:
    doc = _doc("sx-integrity-yrd-common.json")
    doc["to_common"][1]["common"] = "outstanding"  # B → outstanding: monotonic, valid
    crosswalk = validate_crosswalk(doc, MAPPINGS.schemes[SX], COMMON)
    mappings = Mappings(MAPPINGS.schemes, {**MAPPINGS.crosswalks, SX: crosswalk})
    t = translate(mappings, TierRef(SX, "B"), SX)
    assert t.target is not None and t.target.code == "B" and t.common_level == "outstanding"
    assert t.placement == "translated" and [c.id for c in t.crosswalks] == ["sx-integrity-yrd-common"]
    # Reached through level_on too (a programme on the assertion's own scheme).
    into_hz = translate(mappings, TierRef(SX, "B"), HZ)
    assert level_on(mappings, into_hz, SX) == TierRef(SX, "B", t.target.label)


# --- 4. our own revocations are honoured at once ------------------------------------------------------


def _own_assertion(gw: Gateway, client: TestClient, seq: int) -> tuple[str, str, dict[str, str]]:
    idn, name = make_id(seq=seq), "冯二"
    for unit_id, batch in basic_records(idn, name, f"rv{seq}").items():
        ingest_batch(gw, gw.partners.enabled(unit_id), batch)
    resident = {"Authorization": "Bearer " + DevIdentityProvider(gw.settings).issue_id_token(idn, name)}
    consent = {"audience": BANK, "purposes": ["loan_discount"], "valid_days": 7, "channel": "app"}
    created = client.post("/v1/me/consents", json=consent, headers=resident)
    created.raise_for_status()
    bank = {"Authorization": "Bearer " + access_token(client, BANK)}
    issued = client.post(
        "/v1/assertions", json={"subject": {"id_number": idn, "name": name}, "purpose": "loan_discount"}, headers=bank
    )
    assert issued.status_code == 201, issued.text
    assertion = issued.json()["assertion"]
    ok = client.post("/v1/recognitions", json={"assertion": assertion}, headers=bank)
    assert ok.status_code == 200, ok.text
    gw.status_lists.served(1)  # the served list is cached, as after any public fetch
    return assertion, created.json()["id"], resident


def test_our_own_revocation_is_honoured_at_once(gw: Gateway) -> None:
    client = TestClient(create_app(gw))
    assertion, consent_id, resident = _own_assertion(gw, client, 611)
    client.delete(f"/v1/me/consents/{consent_id}", headers=resident).raise_for_status()
    bank = {"Authorization": "Bearer " + access_token(client, BANK)}
    resp = client.post("/v1/recognitions", json={"assertion": assertion}, headers=bank)
    assert resp.status_code == 403 and resp.json()["code"] == "assertion_revoked"
    assert assertion not in resp.text


def test_an_own_assertion_without_a_slot_has_an_unknown_status(gw: Gateway) -> None:
    client = TestClient(create_app(gw))
    assertion, _, _ = _own_assertion(gw, client, 612)
    with gw.engine.begin() as conn:
        conn.execute(delete(status_slots))
    bank = {"Authorization": "Bearer " + access_token(client, BANK)}
    resp = client.post("/v1/recognitions", json={"assertion": assertion}, headers=bank)
    assert resp.status_code == 403 and resp.json()["code"] == "assertion_status_unknown"
