"""What the residents' pages need beyond the API's services: the score history for the chart, the
partners a consent may name, and the development sign-in (measure 一(一): real-name first).

A resident's page session carries the same :class:`Resident` the API builds from an ID token —
keyed hashes only — so the pages call ``me``, ``consents``, ``objections`` and ``evidence`` exactly as
the API routes do.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select

from gateway.errors import ConfigurationError
from gateway.services.context import Gateway
from gateway.services.residents.dev_idp import DevIdentityProvider
from gateway.services.residents.resident_identity import Resident
from gateway.store.engine import reader
from gateway.store.people import find_person
from gateway.store.tables import score_history

__all__ = ["consent_audiences", "dev_sign_in", "history_points", "resident_from_profile", "resident_profile"]

_HISTORY_POINTS = 24
_EXCHANGE_KINDS = frozenset({"city_platform", "financial_institution", "incentive_provider"})


def dev_sign_in(gw: Gateway, id_number: str, name: str) -> Resident:
    """Development mode: the dev IdP issues an ID token and the gateway verifies it like any other.

    :raises ConfigurationError: a real identity provider is configured, or production mode.
    :raises InvalidToken: (401) e.g. ``invalid_id_number_claim`` for a number that breaks GB 11643.
    """
    if not gw.settings.dev_idp_enabled:
        raise ConfigurationError("Residents sign in at the real-name identity provider here.")
    token = DevIdentityProvider(gw.settings).issue_id_token(id_number.strip(), name.strip() or "-", lifetime=120)
    return gw.residents.authenticate(token)


def resident_profile(resident: Resident) -> dict[str, str]:
    return {
        "name_hash": resident.name_hash,
        "name_masked": resident.name_masked,
        "birth_date": resident.birth_date.isoformat(),
    }


def resident_from_profile(id_hash: str, profile: Mapping[str, Any]) -> Resident:
    return Resident(
        id_hash=id_hash,
        name_hash=str(profile["name_hash"]),
        name_masked=str(profile["name_masked"]),
        birth_date=date.fromisoformat(str(profile["birth_date"])),
    )


def history_points(gw: Gateway, resident: Resident) -> list[tuple[str, int]]:
    """The resident's last scores, oldest first, for the history chart."""
    h = score_history
    with reader(gw.engine).connect() as conn:
        person = find_person(conn, resident.id_hash)
        if person is None:
            return []
        rows = conn.execute(
            select(h.c.as_of, h.c.score)
            .where(h.c.person_id == person.id, h.c.eligible.is_(True), h.c.score.is_not(None))
            .order_by(h.c.id.desc())
            .limit(_HISTORY_POINTS)
        ).all()
        conn.rollback()
    return [(row.as_of.isoformat(), int(row.score)) for row in reversed(rows)]


def consent_audiences(gw: Gateway) -> list[dict[str, Any]]:
    """Partners a resident may consent to, with the purposes each may ask for."""
    return [
        {"id": p.id, "name": {"zh": p.name_zh, "en": p.name_en}, "purposes": sorted(p.allowed_purposes)}
        for p in gw.partners.all()
        if p.kind in _EXCHANGE_KINDS and p.allowed_purposes
    ]
