"""The lookups issuance runs on the driver's cursor (person, live consent, current score; issue 12)
return what SQLAlchemy's types return for the same rows, on either database: timestamps, dates,
booleans, JSON and NULLs converted alike, and the same consent chosen."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.clock import as_utc, utcnow
from gateway.services.context import Gateway
from gateway.services.residents.consents import ConsentRow, find_live_consent
from gateway.store import scores as scores_store
from gateway.store.people import NewPerson, PersonRow, ensure_people, find_person
from gateway.store.tables import consents, current_scores, people

NOW = utcnow()


def _person_via_sqlalchemy(conn: Connection, id_hash: str) -> PersonRow:
    cols = (people.c.id, people.c.id_hash, people.c.name_hash, people.c.name_masked, people.c.birth_date)
    row = conn.execute(select(*cols).where(people.c.id_hash == id_hash)).one()
    return PersonRow(*row)


def _consent(pid: int, cid: str, *, level: str, created: int, expires: int, revoked: bool = False) -> dict[str, Any]:
    return {
        "id": cid,
        "person_id": pid,
        "audience": "hangzhou-credit",
        "purposes": ["cross_city_recognition", "loan_discount"],
        "disclosure": level,
        "channel": "app",
        "created_at": NOW - timedelta(days=created, microseconds=1234),
        "expires_at": NOW + timedelta(days=expires, microseconds=5678),
        "revoked_at": NOW - timedelta(hours=1) if revoked else None,
    }


def _setup(conn: Connection) -> tuple[int, int]:
    found = ensure_people(
        conn,
        [
            NewPerson("a" * 64, "b" * 64, "张*", date(1980, 2, 29)),
            NewPerson("c" * 64, "d" * 64, "李*", date(2001, 12, 31)),
        ],
    )
    pid, other = found["a" * 64].id, found["c" * 64].id
    conn.execute(
        insert(consents),
        [
            _consent(pid, "cns_newest_revoked", level="score", created=1, expires=30, revoked=True),
            _consent(pid, "cns_expired", level="score", created=2, expires=-1),
            _consent(pid, "cns_tier", level="tier", created=3, expires=30),
            _consent(pid, "cns_score", level="score", created=4, expires=60),
        ],
    )
    conn.execute(
        insert(current_scores),
        [
            {
                "person_id": pid,
                "score_id": 7,
                "eligible": True,
                "reason": None,
                "score": 812,
                "tier": "A",
                "model_version": "m1",
                "as_of": date(2026, 6, 1),
                "computed_at": NOW - timedelta(microseconds=42),
            },
            {
                "person_id": other,
                "score_id": 8,
                "eligible": False,
                "reason": "no_authorisation",
                "score": None,
                "tier": None,
                "model_version": "m1",
                "as_of": date(2026, 6, 2),
                "computed_at": NOW,
            },
        ],
    )
    return pid, other


def test_person_and_current_score_read_as_sqlalchemy_reads_them(gw: Gateway) -> None:
    with gw.engine.begin() as conn:
        pid, other = _setup(conn)
        for id_hash in ("a" * 64, "c" * 64):
            for lock in (False, True):
                assert find_person(conn, id_hash, lock=lock) == _person_via_sqlalchemy(conn, id_hash)
        assert find_person(conn, "e" * 64, lock=True) is None
        for person_id in (pid, other):
            current = scores_store.get_current(conn, person_id)
            row = conn.execute(
                select(*(c for c in current_scores.c if c.name != "digest")).where(
                    current_scores.c.person_id == person_id
                )
            ).one()
            assert current == scores_store.CurrentScore(*row)
            assert current is not None and type(current.eligible) is bool and type(current.as_of) is date
        assert scores_store.get_current(conn, -1) is None
        eligible = scores_store.get_current(conn, pid)
        assert eligible is not None and as_utc(eligible.computed_at) == NOW - timedelta(microseconds=42)


def test_live_consent_is_the_newest_covering_one(gw: Gateway) -> None:
    with gw.engine.begin() as conn:
        pid, other = _setup(conn)
        for for_update in (False, True):
            tier = find_live_consent(
                conn,
                person_id=pid,
                audience="hangzhou-credit",
                purpose="loan_discount",
                disclosure="tier",
                now=NOW,
                for_update=for_update,
            )
            score = find_live_consent(
                conn,
                person_id=pid,
                audience="hangzhou-credit",
                purpose="cross_city_recognition",
                disclosure="score",
                now=NOW,
                for_update=for_update,
            )
            assert tier is not None and tier.id == "cns_tier"  # newer than cns_score; revoked/expired skipped
            assert score == ConsentRow(
                id="cns_score",
                person_id=pid,
                audience="hangzhou-credit",
                purposes=("cross_city_recognition", "loan_discount"),
                disclosure="score",
                channel="app",
                created_at=NOW - timedelta(days=4, microseconds=1234),
                expires_at=NOW + timedelta(days=60, microseconds=5678),
                revoked_at=None,
            )
        misses = [
            {"person_id": other, "audience": "hangzhou-credit", "purpose": "loan_discount", "disclosure": "tier"},
            {"person_id": pid, "audience": "sx-example-bank", "purpose": "loan_discount", "disclosure": "tier"},
            {"person_id": pid, "audience": "hangzhou-credit", "purpose": "job_screening", "disclosure": "tier"},
            {"person_id": pid, "audience": "hangzhou-credit", "purpose": "loan_discount", "disclosure": "full"},
        ]
        for miss in misses:
            assert find_live_consent(conn, now=NOW, for_update=True, **miss) is None
        # Past cns_tier's expiry only cns_score (60 days) is live.
        later = find_live_consent(
            conn,
            person_id=pid,
            audience="hangzhou-credit",
            purpose="loan_discount",
            disclosure="tier",
            now=NOW + timedelta(days=45),
        )
        assert later is not None and later.id == "cns_score"


def test_a_lookup_on_a_fresh_connection_begins_its_transaction(gw: Gateway) -> None:
    with gw.engine.begin() as conn:
        _setup(conn)
    with gw.engine.connect() as conn:
        assert not conn.in_transaction()
        assert find_person(conn, "a" * 64) is not None
        assert conn.in_transaction()
