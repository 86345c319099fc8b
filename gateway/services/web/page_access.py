"""Console pages forced by a role that may not use them (issue 11: "a page a role may not use is
not in that role's menu and answers 403 when forced").

The 403 also leaves an audit row — who, which page (the route's template, so no id from the URL),
which roles it needs and which the person holds — for the auditor to see someone probing. At most
one row per person, page and method in :data:`WINDOW`: every audit row takes the chain head's lock,
so a script hammering a page must not turn into a stream of audit writes. Two processes may each
write one in the same window; that is the bound, not one exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Final

from sqlalchemy import select

from gateway.clock import utcnow
from gateway.services.context import Gateway
from gateway.store.audit import append_audit
from gateway.store.tables import audit_log

__all__ = ["FORBIDDEN_ACTION", "WINDOW", "record_forbidden_page"]

FORBIDDEN_ACTION: Final = "console.forbidden"
WINDOW: Final = timedelta(minutes=10)
_TARGET_TYPE: Final = "console_page"


def record_forbidden_page(
    gw: Gateway, *, actor: str, page: str, method: str, required: Iterable[str], held: Iterable[str]
) -> bool:
    """Audit one refused page view; False when the same one was audited within the window."""
    t = audit_log
    now = utcnow()
    with gw.engine.begin() as conn:
        seen = conn.execute(
            select(t.c.id, t.c.details)
            .where(
                t.c.target_type == _TARGET_TYPE,  # indexed with target_ref
                t.c.target_ref == page[:128],
                t.c.action == FORBIDDEN_ACTION,
                t.c.actor_id == actor[:128],
                t.c.at >= now - WINDOW,
            )
            .order_by(t.c.id.desc())
            .limit(20)
        ).all()
        if any(row.details.get("method") == method for row in seen):
            return False
        append_audit(
            conn,
            actor_type="admin",
            actor_id=actor[:128],
            action=FORBIDDEN_ACTION,
            target_type=_TARGET_TYPE,
            target_ref=page[:128],
            details={"method": method, "missing_role": sorted(required), "roles": sorted(held)},
        )
    return True
