"""Whether a resident may hold a credit code now (measure 一(一): only with a live authorisation
to be scored, and only a true score).

One small function so the residents' authorisation API (issue 9) can replace it: today the
authorisation is the ``scoring_authorisation`` record the eligibility rules already require, so
"eligible with a current score" is exactly "authorised and scored".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from gateway.clock import today_in_shaoxing
from gateway.exchange.tiers import UNRATED
from gateway.scoring.inputs import Tier
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import COMMON_SCHEME, local_scheme_id
from gateway.services.residents.resident_identity import Resident
from gateway.services.scores.scoring import recompute_people
from gateway.store import people as people_store
from gateway.store import scores as scores_store
from gateway.store.scores import CurrentScore

__all__ = ["Standing", "current_standing"]


@dataclass(frozen=True, slots=True)
class Standing:
    person_id: int
    current: CurrentScore
    tier: Tier
    scheme: str  # the local scheme id, sx-integrity/<model version>
    common_level: str  # the yrd-common/1 level
    common_scheme: str = COMMON_SCHEME


def current_standing(conn: Connection, gw: Gateway, resident: Resident) -> Standing | None:
    """The resident's person id, current score and levels, or ``None`` when they may hold none.

    Locks the person (as assertion issuance does) and rescores a stale score first.
    """
    person = people_store.find_person(conn, resident.id_hash)
    if person is None:
        return None
    people_store.lock_people(conn, [person.id])
    current = scores_store.get_current(conn, person.id)
    if current is not None and (current.model_version != gw.model.version or current.as_of != today_in_shaoxing()):
        recompute_people(conn, gw, [person.id], trigger="credential")
        current = scores_store.get_current(conn, person.id)
    if current is None or not current.eligible or current.score is None or current.tier is None:
        return None
    tier = next(t for t in gw.model.tiers if t.code == current.tier)
    scheme = local_scheme_id(current.model_version)
    crosswalk = gw.mappings.crosswalk_for(scheme)
    level = crosswalk.common_level(tier.code) if crosswalk else UNRATED
    return Standing(person.id, current, tier, scheme, level)
