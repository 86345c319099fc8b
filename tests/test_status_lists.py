"""The issuer side of the Token Status List: the draft's encoding, our signed lists verified as a
relying party would (published JWKS, verify_status_list_token), refusals of tampered, foreign and
expired lists, the propagation bound on an injected clock, and index allocation."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import insert, select, update

from gateway.clock import utcnow
from gateway.exchange import (
    TYP_STATUS_LIST,
    Status,
    StatusList,
    generate_signing_key,
    parse_jwks,
    verify_status_list_token,
)
from gateway.exchange.errors import InvalidToken
from gateway.services.context import Gateway
from gateway.services.exchange.status_lists import PURGE_GRACE, StatusListNotFound, StatusListService
from gateway.store.tables import status_slots
from tests.exchange.exchange_support import Clock, load_vector
from tests.support.jose import forge

VECTORS = load_vector("status-list.json")


def _service(gw: Gateway, clock: Clock, *, size: int | None = None) -> StatusListService:
    settings = gw.settings if size is None else replace(gw.settings, status_list_size=size)
    return StatusListService(settings, gw.engine, gw.keyring, now=clock)


def _verify(gw: Gateway, token: str, uri: str, clock: Clock) -> Any:
    keys = parse_jwks(gw.keyring.jwks()).keys  # only what any relying party can fetch
    return verify_status_list_token(token, uri=uri, keys=keys, issuer=gw.settings.issuer, now=clock)


def _refusal(gw: Gateway, token: str, uri: str, clock: Clock) -> str:
    with pytest.raises(InvalidToken) as caught:
        _verify(gw, token, uri, clock)
    return caught.value.code


def _allocate(svc: StatusListService, gw: Gateway, jti: str, expires_at: datetime | None = None) -> tuple[int, int]:
    with gw.engine.begin() as conn:
        return svc.allocate(conn, jti=jti, expires_at=expires_at or utcnow() + timedelta(hours=1))


def _row(idx: int, jti: str, status: int, now: datetime) -> dict[str, Any]:
    return {
        "list_id": 1,
        "idx": idx,
        "jti": jti,
        "status": status,
        "expires_at": now + timedelta(hours=1),
        "updated_at": now,
    }


def _set(gw: Gateway, jti: str, status: Status) -> None:
    with gw.engine.begin() as conn:
        conn.execute(update(status_slots).where(status_slots.c.jti == jti).values(status=int(status)))


@pytest.fixture
def clock() -> Clock:
    # Status list tokens are checked against the real key table, so the clock starts at the real now.
    return Clock(time.time())


@pytest.mark.parametrize("case", VECTORS["round_trip"], ids=lambda c: c["name"])
def test_codec_round_trip_against_the_draft_examples(case: dict[str, Any]) -> None:
    decoded = StatusList.decode({"bits": case["bits"], "lst": case["lst"]})
    assert [decoded.get(i) for i in range(len(case["statuses"]))] == case["statuses"]
    built = StatusList(case["bits"], len(case["statuses"]))
    for idx, value in enumerate(case["statuses"]):
        built.set(idx, value)
    assert built.to_bytes() == bytes.fromhex(case["bytes_hex"])
    assert built.encode() == {"bits": case["bits"], "lst": case["lst"]}
    assert StatusList.decode(built.encode()).to_bytes() == built.to_bytes()


def test_served_list_packs_the_stored_statuses_as_the_draft_does(gw: Gateway, clock: Clock) -> None:
    case = next(c for c in VECTORS["round_trip"] if c["bits"] == 2)
    svc = _service(gw, clock, size=16)
    now = utcnow()
    with gw.engine.begin() as conn:
        conn.execute(insert(status_slots), [_row(i, f"v{i}", s, now) for i, s in enumerate(case["statuses"])])
    token = _verify(gw, svc.served(1).token, svc.uri(1), clock)
    assert token.status_list.bits == 2
    assert token.status_list.to_bytes()[:3] == bytes.fromhex(case["bytes_hex"])
    assert [token.status(i) for i in range(len(case["statuses"]))] == case["statuses"]
    assert [token.status(i) for i in range(len(case["statuses"]), 16)] == [0, 0, 0, 0]


def test_served_list_verifies_with_the_published_jwks(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock)
    list_id, idx = _allocate(svc, gw, "jti-a")
    _, other = _allocate(svc, gw, "jti-b")
    _set(gw, "jti-b", Status.SUPERSEDED)
    served = svc.served(list_id)
    header = jwt.get_unverified_header(served.token)
    assert header["typ"] == TYP_STATUS_LIST and set(header) == {"alg", "kid", "typ"}
    verified = _verify(gw, served.token, svc.uri(list_id), clock)
    assert verified.uri == f"{gw.settings.issuer}/status-lists/{list_id}"
    assert verified.status_list.size == gw.settings.status_list_size == 1 << 20
    assert (verified.status(idx), verified.status(other)) == (Status.VALID, Status.SUPERSEDED)
    assert verified.ttl == gw.settings.status_list_max_age
    assert verified.exp is not None and verified.exp > verified.iat + verified.ttl


def test_a_list_with_a_bad_signature_is_refused(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock)
    token = svc.served(1).token
    head, body, sig = token.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert _refusal(gw, f"{head}.{body}.{flipped}", svc.uri(1), clock) == "bad_signature"
    # The same claims signed by a key we never published, under our kid.
    claims = jwt.decode(token, options={"verify_signature": False})
    impostor = generate_signing_key("ES256")
    forged = forge({"kid": jwt.get_unverified_header(token)["kid"], "typ": TYP_STATUS_LIST}, claims, impostor)
    assert _refusal(gw, forged, svc.uri(1), clock) == "bad_signature"


def test_a_list_with_the_wrong_sub_is_refused(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock, size=16)
    for i in range(9):  # list 1 is half full after 8: the ninth opens list 2
        _allocate(svc, gw, f"jti-{i}")
    list_one = svc.served(1).token
    assert _verify(gw, svc.served(2).token, svc.uri(2), clock).uri == svc.uri(2)
    # List 1's token presented for an assertion that names list 2.
    assert _refusal(gw, list_one, svc.uri(2), clock) == "subject_mismatch"


def test_an_expired_list_is_refused(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock)
    token = svc.served(1).token
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    clock.at = exp + 60  # beyond any leeway
    assert _refusal(gw, token, svc.uri(1), clock) == "token_expired"


def test_a_change_is_served_within_the_bound(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock)
    list_id, idx = _allocate(svc, gw, "jti-bound")
    first = svc.served(list_id)
    _set(gw, "jti-bound", Status.INVALID)
    clock.advance(svc.max_age - 1)
    assert svc.served(list_id) is first  # cached: the bound is the longest a change can take
    assert first.max_age(clock(), svc.max_age) == 1
    clock.advance(1)
    fresh = svc.served(list_id)
    assert fresh is not first
    assert _verify(gw, fresh.token, svc.uri(list_id), clock).status(idx) == Status.INVALID
    assert fresh.max_age(clock(), svc.max_age) == svc.max_age


def test_an_unknown_list_is_not_served(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock)
    assert svc.served(1).list_id == 1  # the first list exists before anything is in it
    for list_id in (0, 2, 1 << 31):
        with pytest.raises(StatusListNotFound):
            svc.served(list_id)


def _slots(gw: Gateway) -> dict[tuple[int, int], tuple[str, datetime]]:
    with gw.engine.connect() as conn:
        rows = conn.execute(
            select(status_slots.c.list_id, status_slots.c.idx, status_slots.c.jti, status_slots.c.expires_at)
        )
        return {(r.list_id, r.idx): (r.jti, r.expires_at) for r in rows}


def test_allocation_never_repeats_a_live_index(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock, size=16)
    held = {f"a{i}": _allocate(svc, gw, f"a{i}") for i in range(24)}
    assert len(set(held.values())) == 24
    # Each list takes half its size, then the next one opens: herd privacy without crowding.
    assert sorted(lst for lst, _ in held.values()) == [1] * 8 + [2] * 8 + [3] * 8
    assert all(0 <= idx < 16 for _, idx in held.values())

    # Six assertions of list 1 expired long ago, two just now (within the verifiers' grace).
    long_ago, just_now = utcnow() - PURGE_GRACE - timedelta(minutes=1), utcnow() - timedelta(seconds=5)
    in_list_one = sorted(j for j, (lst, _) in held.items() if lst == 1)
    with gw.engine.begin() as conn:
        for jti in in_list_one:
            expires = long_ago if jti in in_list_one[:6] else just_now
            conn.execute(update(status_slots).where(status_slots.c.jti == jti).values(expires_at=expires))
    assert svc.purge_expired() == 6
    kept = _slots(gw)
    assert {jti for jti, _ in kept.values()} == set(held) - set(in_list_one[:6])

    # List 1 is below half again: it is refilled, but only at indexes no live token holds.
    more = [_allocate(svc, gw, f"b{i}") for i in range(10)]
    assert sorted(lst for lst, _ in more) == [1] * 6 + [4] * 4
    assert len(set(more)) == 10 and not set(more) & set(kept)
    assert len(_slots(gw)) == 24 - 6 + 10


def test_allocation_survives_collisions(gw: Gateway, clock: Clock) -> None:
    svc = _service(gw, clock, size=16)
    now = utcnow()
    # Another process filled list 1 to the brim behind this one's back.
    with gw.engine.begin() as conn:
        svc.allocate(conn, jti="first", expires_at=now + timedelta(hours=1))
        taken = {r.idx for r in conn.execute(select(status_slots.c.idx))}
        conn.execute(insert(status_slots), [_row(i, f"x{i}", 0, now) for i in range(16) if i not in taken])
    assert _allocate(svc, gw, "next")[0] == 2
