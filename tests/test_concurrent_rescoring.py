"""An issuance racing an ingestion that changes the person's tier: whichever commits second, the
assertion ends up either true or superseded — never a valid assertion of a stale tier."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from gateway.services.context import Gateway
from gateway.services.exchange import issuance
from gateway.services.exchange.oauth import PartnerPrincipal, partner_scopes
from gateway.services.residents.consents import grant_consent
from gateway.services.scores.ingestion import ingest_batch
from gateway.store import scores as scores_store
from gateway.store.tables import current_scores, status_slots
from tests.support import basic_records, make_id
from tests.test_supersession import _breach, _resident


def test_issuance_and_ingestion_race_leaves_no_stale_valid_assertion(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    idn, name = make_id(seq=951), "冯五"
    for unit_id, batch in basic_records(idn, name, "race").items():
        unit = gw.partners.enabled(unit_id)
        assert unit is not None
        ingest_batch(gw, unit, batch)
    grant_consent(gw, _resident(gw, idn, name), audience="sx-example-bank", purposes=["loan_discount"], channel="app")
    bank = gw.partners.enabled("sx-example-bank")
    court = gw.partners.enabled("sx-intermediate-court")
    assert bank is not None and court is not None

    real_get_current = scores_store.get_current
    reading = threading.Event()
    release = threading.Event()

    def slow_get_current(conn: Any, person_id: int) -> Any:
        current = real_get_current(conn, person_id)
        if person_id > 0 and not reading.is_set():
            reading.set()
            release.wait(10)  # hold the issuance between its read of the score and its commit
        return current

    monkeypatch.setattr(issuance.scores_store, "get_current", slow_get_current)
    out: dict[str, Any] = {}
    issuer = threading.Thread(
        target=lambda: out.setdefault(
            "issued",
            issuance.issue_assertion(
                gw,
                PartnerPrincipal(bank, partner_scopes(bank), "t"),
                id_number=idn,
                name=name,
                purpose="loan_discount",
                disclosure="tier",
            ),
        )
    )
    issuer.start()
    assert reading.wait(10)
    ingester = threading.Thread(target=lambda: ingest_batch(gw, court, [_breach(idn, name, "race-g1", "grave")]))
    ingester.start()
    time.sleep(0.3)  # let the ingestion reach its lock (or its write transaction) before releasing
    release.set()
    issuer.join(20)
    ingester.join(20)

    issued = out["issued"]
    claims = json.loads(base64.urlsafe_b64decode(issued.assertion.split(".")[1] + "=="))
    with gw.engine.connect() as conn:
        tier_now = conn.execute(select(current_scores.c.tier)).scalar_one()
        status = conn.execute(select(status_slots.c.status).where(status_slots.c.jti == issued.jti)).scalar_one()
    assert claims["tier"]["code"] == tier_now or status == 3, (claims["tier"]["code"], tier_now, status)
