"""Consents: granting within the partner's limits, listing, revoking, and find_live_consent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.clock import utcnow
from gateway.privacy import mask_name
from gateway.scoring import parse_resident_id
from gateway.services.context import Gateway
from gateway.services.residents.consents import (
    PURPOSES,
    ConsentNotFound,
    DisclosureNotAllowed,
    InvalidConsentExpiry,
    PurposeNotAllowed,
    UnknownAudience,
    UnknownChannel,
    UnknownPurpose,
    find_live_consent,
    grant_consent,
    list_consents,
    revoke_consent,
)
from gateway.services.residents.resident_identity import Resident
from gateway.store import people as people_store
from gateway.store.tables import audit_log, consents
from tests.support import authorise, make_id

BANK = "sx-example-bank"
CITY = "hangzhou-credit"
SCENIC = "sx-scenic-example"


def _resident(gw: Gateway, idn: str, name: str = "张三") -> Resident:
    rid = parse_resident_id(idn)
    resident = Resident(gw.hasher.id_hash(rid.normalised), gw.hasher.name_hash(name), mask_name(name), rid.birth_date)
    authorise(gw, resident)  # a disclosure consent needs a live scoring authorisation (issue 9)
    return resident


def _person_id(gw: Gateway, resident: Resident) -> int:
    with gw.engine.connect() as conn:
        person = people_store.find_person(conn, resident.id_hash)
    assert person is not None
    return person.id


def _grant(gw: Gateway, resident: Resident, audience: str = BANK, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("purposes", ["loan_discount"])
    kwargs.setdefault("channel", "app")
    return grant_consent(gw, resident, audience=audience, **kwargs)


def test_grant_list_revoke(gw: Gateway) -> None:
    idn = make_id(seq=601)
    me = _resident(gw, idn, "李四")
    first = _grant(gw, me, purposes=["loan_discount", "deposit_waiver", "loan_discount"], disclosure="score")
    assert first["id"].startswith("cns_") and len(first["id"]) > 20
    assert first["audience"] == BANK and first["audience_name"]["zh"]
    assert first["purposes"] == ["deposit_waiver", "loan_discount"]
    assert (first["disclosure"], first["channel"], first["status"]) == ("score", "app", "active")
    second = _grant(gw, me, CITY, purposes=["cross_city_recognition"], channel="wechat", valid_days=30)
    assert second["disclosure"] == "tier"
    listed = list_consents(gw, me)
    assert {c["id"] for c in listed} == {first["id"], second["id"]}

    revoked = revoke_consent(gw, me, first["id"])
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    again = revoke_consent(gw, me, first["id"])  # idempotent: same state, same instant
    assert again["status"] == "revoked" and again["revoked_at"] == revoked["revoked_at"]
    statuses = {c["id"]: c["status"] for c in list_consents(gw, me)}
    assert statuses == {first["id"]: "revoked", second["id"]: "active"}

    pid = _person_id(gw, me)
    with gw.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor_type, audit_log.c.actor_id, audit_log.c.action, audit_log.c.details)
        ).all()
    actions = [(r.actor_type, r.actor_id, r.action) for r in rows]
    assert actions.count(("resident", str(pid), "consent.grant")) == 2
    assert actions.count(("resident", str(pid), "consent.revoke")) == 1
    dumped = json.dumps([list(map(str, r)) for r in rows], ensure_ascii=False)
    assert idn not in dumped and "李四" not in dumped


def test_another_persons_consent_is_not_found(gw: Gateway) -> None:
    owner, other = _resident(gw, make_id(seq=602)), _resident(gw, make_id(seq=603))
    consent = _grant(gw, owner)
    with pytest.raises(ConsentNotFound) as info:
        revoke_consent(gw, other, consent["id"])  # unknown to the gateway altogether
    assert info.value.status == 404
    _grant(gw, other)
    with pytest.raises(ConsentNotFound) as known:
        revoke_consent(gw, other, consent["id"])  # known person, someone else's consent
    assert known.value.detail == info.value.detail
    with pytest.raises(ConsentNotFound):
        revoke_consent(gw, other, "cns_does-not-exist")
    assert list_consents(gw, owner)[0]["status"] == "active"
    assert list_consents(gw, _resident(gw, make_id(seq=604))) == []


def test_audience_must_be_an_enabled_partner_that_receives_disclosures(gw: Gateway) -> None:
    me = _resident(gw, make_id(seq=605))
    for audience in ("no-such-partner", "sx-transport"):  # unknown; a collaborating unit
        with pytest.raises(UnknownAudience) as info:
            _grant(gw, me, audience)
        assert info.value.status == 422 and info.value.code == "unknown_audience"
    with gw.engine.connect() as conn:
        assert conn.execute(select(consents.c.id)).first() is None


def test_purpose_not_allowed_by_the_partner(gw: Gateway) -> None:
    me = _resident(gw, make_id(seq=606))
    scenic = gw.partners.enabled(SCENIC)
    assert scenic is not None
    refused = sorted(PURPOSES - scenic.allowed_purposes)[0]
    with pytest.raises(PurposeNotAllowed) as info:
        _grant(gw, me, SCENIC, purposes=[*sorted(scenic.allowed_purposes), refused])
    assert info.value.extensions["refused_purposes"] == [refused]
    with pytest.raises(UnknownPurpose):
        _grant(gw, me, SCENIC, purposes=["marketing"])
    with pytest.raises(UnknownPurpose):
        _grant(gw, me, SCENIC, purposes=[])


def test_disclosure_level_not_allowed(gw: Gateway) -> None:
    me = _resident(gw, make_id(seq=607))
    scenic = gw.partners.enabled(SCENIC)
    assert scenic is not None and "score" not in scenic.allowed_disclosure
    with pytest.raises(DisclosureNotAllowed) as info:
        _grant(gw, me, SCENIC, purposes=["tourism"], disclosure="score")
    assert info.value.code == "consent_disclosure_not_allowed"
    with pytest.raises(DisclosureNotAllowed):
        _grant(gw, me, disclosure="everything")
    with pytest.raises(UnknownChannel):
        _grant(gw, me, channel="counter")


def test_expiry_over_one_year_is_refused(gw: Gateway) -> None:
    me = _resident(gw, make_id(seq=608))
    now = utcnow()
    for kwargs in (
        {"valid_days": 366},
        {"valid_days": 0},
        {"expires_at": now + timedelta(days=366)},
        {"expires_at": now - timedelta(minutes=1)},
        {"expires_at": (now + timedelta(days=10)).replace(tzinfo=None)},
        {"valid_days": 10, "expires_at": now + timedelta(days=10)},
    ):
        with pytest.raises(InvalidConsentExpiry):
            _grant(gw, me, **kwargs)
    assert _grant(gw, me, valid_days=365)["status"] == "active"
    assert _grant(gw, me, expires_at=now + timedelta(days=364))["status"] == "active"


# --- find_live_consent ------------------------------------------------------------------------


def _find(gw: Gateway, person_id: int, **overrides: Any) -> Any:
    query: dict[str, Any] = {
        "person_id": person_id,
        "audience": BANK,
        "purpose": "loan_discount",
        "disclosure": "tier",
        "now": utcnow(),
    }
    query.update(overrides)
    with gw.engine.connect() as conn:
        return find_live_consent(conn, **query)


def test_find_live_consent(gw: Gateway) -> None:
    me = _resident(gw, make_id(seq=611))
    other = _resident(gw, make_id(seq=612))
    _grant(gw, other)  # someone else's consent never matches
    mine_tier = _grant(gw, me, purposes=["loan_discount"], disclosure="tier")
    pid = _person_id(gw, me)

    found = _find(gw, pid)
    assert found is not None and found.id == mine_tier["id"] and found.expires_at.tzinfo is not None
    assert _find(gw, pid, audience=CITY) is None  # other audience
    assert _find(gw, pid, purpose="deposit_waiver") is None  # other purpose
    assert _find(gw, pid, disclosure="score") is None  # level exceeded: tier consent, score asked
    assert _find(gw, pid, disclosure="everything") is None
    assert _find(gw, -1) is None  # the issuance service asks for unknown people with -1
    assert _find(gw, pid, for_update=True) is not None

    # Expired: at an instant after its expiry, and once the stored expiry has passed.
    assert _find(gw, pid, now=found.expires_at + timedelta(seconds=1)) is None
    with gw.engine.begin() as conn:
        conn.execute(
            update(consents).where(consents.c.id == mine_tier["id"]).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert _find(gw, pid) is None

    # A score consent covers the tier too; revoked, it covers nothing.
    mine_score = _grant(gw, me, purposes=["loan_discount"], disclosure="score")
    assert _find(gw, pid, disclosure="tier").id == mine_score["id"]
    assert _find(gw, pid, disclosure="score").id == mine_score["id"]
    revoke_consent(gw, me, mine_score["id"])
    assert _find(gw, pid, disclosure="tier") is None
    assert _find(gw, pid, disclosure="score") is None


def test_missing_consent(gw: Gateway) -> None:
    me = _resident(gw, make_id(seq=613))
    _grant(gw, me, CITY, purposes=["tourism"])
    assert _find(gw, _person_id(gw, me)) is None
