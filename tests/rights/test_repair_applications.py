"""Credit repair applications by residents (信用修复申请): approved (repaired, rescored, superseded,
audited like an officer's repair), refused, an item the catalogue does not let be repaired, too
early after the event, someone else's record, and the overdue-first queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.clock import today_in_shaoxing, utcnow
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.store.tables import audit_log, information_records
from gateway.store.tables_rights import repair_applications
from tests.support import basic_records, make_id, record

COURT = "sx-intermediate-court"
CIVIL = "sx-civil-affairs"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _enrol(client: TestClient, gw: Gateway, keys: dict[str, str], seq: int, *, breach_days_ago: int) -> Any:
    idn, name = make_id(seq=seq), "林二"
    for unit, batch in basic_records(idn, name, f"r{seq}").items():
        assert client.post("/v1/ingest/records", json=batch, headers=_h(keys[unit])).json()["accepted"] == 1
    occurred = (today_in_shaoxing() - timedelta(days=breach_days_ago)).isoformat()
    attrs = {"severity": "serious", "decision_ref": "d-7", "category": "contract"}
    breach = record("pledge_breach", attrs, ref=f"r{seq}-b", id_number=idn, name=name, occurred_at=occurred)
    assert client.post("/v1/ingest/records", json=[breach], headers=_h(keys[COURT])).json()["accepted"] == 1
    with gw.engine.connect() as conn:
        rid = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == f"r{seq}-b"))
        ref = f"r:{rid.scalar_one()}"
    return idn, _h(DevIdentityProvider(gw.settings).issue_id_token(idn, name)), ref


def _apply(client: TestClient, resident: dict[str, str], ref: str, evidence: list[str] | None = None) -> Any:
    body = {"record": ref, "statement": "The contract was fulfilled late; proof attached.", "evidence": evidence or []}
    return client.post("/v1/me/repair-applications", json=body, headers=resident)


def _decide(client: TestClient, keys: dict[str, str], app_id: str, **body: Any) -> Any:
    return client.post(f"/v1/officer/repair-applications/{app_id}/decision", json=body, headers=_h(keys["officer"]))


def _actions(gw: Gateway, target_ref: str) -> list[str]:
    with gw.engine.connect() as conn:
        t = audit_log
        return [r.action for r in conn.execute(select(t.c.action).where(t.c.target_ref == target_ref).order_by(t.c.id))]


def test_an_approved_application_repairs_rescores_and_is_audited(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    _, me, ref = _enrol(client, gw, keys, 471, breach_days_ago=200)
    before = client.get("/v1/me/score", headers=me).json()["score"]
    png = client.post("/v1/me/evidence", content=PNG, headers={**me, "Content-Type": "image/png"}).json()
    filed = _apply(client, me, ref, [png["sha256"]])
    assert filed.status_code == 201, filed.text
    app = filed.json()
    assert (app["state"], app["record"], app["evidence"][0]["sha256"]) == ("submitted", ref, png["sha256"])
    # A second application for the same record while the first is open.
    assert _apply(client, me, ref).json()["code"] == "repair_application_conflict"

    queue = client.get("/v1/officer/repair-applications", headers=_h(keys["officer"])).json()
    assert [i["id"] for i in queue["items"]] == [app["id"]] and queue["items"][0]["person"]["name_masked"] == "林*"
    missing_ref = _decide(client, keys, app["id"], decision="approved", answer="Repaired.")
    assert missing_ref.status_code == 422
    decided = _decide(client, keys, app["id"], decision="approved", answer="Repaired.", decision_ref="XF-2026-3")
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved" and decided.json()["result"]["score"] == before + 80
    assert client.get("/v1/me/score", headers=me).json()["score"] == before + 80
    with gw.engine.connect() as conn:
        t = information_records
        row = conn.execute(select(t.c.status, t.c.status_reason).where(t.c.id == int(ref[2:]))).one()
    assert (row.status, row.status_reason) == ("repaired", "XF-2026-3")
    [mine] = client.get("/v1/me/repair-applications", headers=me).json()
    assert (mine["state"], mine["answer"], mine["decision_ref"]) == ("approved", "Repaired.", "XF-2026-3")
    again = _decide(client, keys, app["id"], decision="refused", answer="No.")
    assert again.status_code == 409
    assert _actions(gw, app["id"]) == ["repair_application.submit", "repair_application.approved"]
    assert _actions(gw, ref) == ["record.repair"]  # the same audit entry as an officer's repair


def test_a_refused_application_changes_nothing_but_answers(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    _, me, ref = _enrol(client, gw, keys, 472, breach_days_ago=200)
    before = client.get("/v1/me/score", headers=me).json()["score"]
    app = _apply(client, me, ref).json()
    decided = _decide(client, keys, app["id"], decision="refused", answer="The breach was not corrected.")
    assert decided.status_code == 200 and decided.json()["state"] == "refused"
    assert client.get("/v1/me/score", headers=me).json()["score"] == before
    [mine] = client.get("/v1/me/repair-applications", headers=me).json()
    assert (mine["state"], mine["answer"]) == ("refused", "The breach was not corrected.")
    assert _actions(gw, app["id"]) == ["repair_application.submit", "repair_application.refused"]
    # Refused, the record still counts: the resident may apply again.
    assert _apply(client, me, ref).status_code == 201


def test_an_item_the_catalogue_does_not_allow_is_refused(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    idn, me, _ = _enrol(client, gw, keys, 473, breach_days_ago=200)
    honour = record(
        "honour", {"level": "municipal", "title": "Good neighbour"}, ref="r473-h", id_number=idn, name="林二"
    )
    resp = client.post("/v1/ingest/records", json=[honour], headers=_h(keys[CIVIL]))
    assert resp.json()["accepted"] == 1, resp.text
    with gw.engine.connect() as conn:
        rid = conn.execute(select(information_records.c.id).where(information_records.c.source_ref == "r473-h"))
        ref = f"r:{rid.scalar_one()}"
    resp = _apply(client, me, ref)
    assert resp.status_code == 422 and resp.json()["code"] == "repair_not_allowed"


def test_too_early_after_the_event_is_refused_with_the_earliest_date(
    client: TestClient, gw: Gateway, keys: dict[str, str]
) -> None:
    _, me, ref = _enrol(client, gw, keys, 474, breach_days_ago=30)
    resp = _apply(client, me, ref)
    assert resp.status_code == 422 and resp.json()["code"] == "repair_too_early"
    assert resp.json()["earliest"] == (today_in_shaoxing() + timedelta(days=60)).isoformat()
    assert resp.json()["min_days_since_event"] == 90


def test_someone_elses_record_looks_like_no_record(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    _, me, _ = _enrol(client, gw, keys, 475, breach_days_ago=200)
    _, _, other_ref = _enrol(client, gw, keys, 476, breach_days_ago=200)
    theirs, nothing = _apply(client, me, other_ref).json(), _apply(client, me, "r:999999").json()
    assert theirs["code"] == nothing["code"] == "repair_application_invalid"
    assert theirs["detail"] == nothing["detail"]


def test_the_queue_puts_overdue_first(client: TestClient, gw: Gateway, keys: dict[str, str]) -> None:
    _, me, ref = _enrol(client, gw, keys, 477, breach_days_ago=200)
    _, other, other_ref = _enrol(client, gw, keys, 478, breach_days_ago=200)
    first = _apply(client, me, ref).json()["id"]
    second = _apply(client, other, other_ref).json()["id"]
    with gw.engine.begin() as conn:
        t = repair_applications
        conn.execute(update(t).where(t.c.id == second).values(deadline=utcnow() - timedelta(days=1)))
    queue = client.get("/v1/officer/repair-applications", headers=_h(keys["officer"])).json()
    assert [i["id"] for i in queue["items"]] == [second, first] and queue["overdue"] == 1
    assert [i["overdue"] for i in queue["items"]] == [True, False]
    board = client.get("/v1/officer/rights/dashboard", headers=_h(keys["officer"])).json()
    assert board["repair_applications"] == {"open": 2, "overdue": 1}
