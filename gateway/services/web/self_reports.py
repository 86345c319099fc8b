"""The officers' queue of self-reports waiting for verification (measure 二(三): a resident's own
report of a good deed counts only once an officer has verified it).

Read-only: deciding is :func:`gateway.services.scores.officer.decide_self_report`, which the API's
``POST /v1/officer/self-reports/{id}/decision`` calls too. People appear by masked name only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.clock import as_utc
from gateway.services.context import Gateway
from gateway.store.engine import reader
from gateway.store.tables import information_records, people

__all__ = ["pending_self_reports"]


def pending_self_reports(gw: Gateway, *, limit: int = 200) -> list[dict[str, Any]]:
    """Pending records, oldest first (the longest waiting are answered first)."""
    r = information_records
    with reader(gw.engine).connect() as conn:
        rows = conn.execute(
            select(r.c.id, r.c.unit_id, r.c.item_code, r.c.occurred_at, r.c.received_at, people.c.name_masked)
            .join(people, people.c.id == r.c.person_id)
            .where(r.c.status == "pending")
            .order_by(r.c.received_at, r.c.id)
            .limit(limit)
        ).all()
        conn.rollback()
    out = []
    for row in rows:
        item = gw.catalogue.item(row.item_code)
        out.append(
            {
                "id": row.id,
                "unit": row.unit_id,
                "item": row.item_code,
                "item_name": {"zh": item.name_zh, "en": item.name_en} if item is not None else None,
                "occurred_at": row.occurred_at.isoformat(),
                "received_at": as_utc(row.received_at).isoformat(timespec="minutes"),
                "name_masked": row.name_masked,
            }
        )
    return out
