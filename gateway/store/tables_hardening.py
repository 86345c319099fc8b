"""Tables of issue 15 (hardening): the shared fill counters of the token status lists.

Each list's fill is counted in ``STRIPES`` rows, each allowed ``half / STRIPES`` places, so the
sum never passes half the list whichever process allocates; an allocation takes a place with a
conditional ``UPDATE … WHERE used < cap`` on one random stripe (a row lock held only by that
stripe, so concurrent issuances rarely wait for each other on PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, Table

from gateway.store.tables import metadata

__all__ = ["status_list_fill"]

status_list_fill = Table(
    "status_list_fill",
    metadata,
    Column("list_id", Integer, primary_key=True, autoincrement=False),
    Column("stripe", Integer, primary_key=True, autoincrement=False),
    Column("used", Integer, nullable=False),
)
