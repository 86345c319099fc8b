"""Reading crosswalks against data: the impact of a draft on Shaoxing's residents, and drafts
proposed from score distributions by equipercentile linking. Nothing here changes anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select

from gateway.clock import today_in_shaoxing
from gateway.errors import Conflict, ValidationFailed
from gateway.exchange.equipercentile import propose_crosswalk
from gateway.exchange.tiers import UNRATED, Crosswalk, InvalidMapping, TierScheme
from gateway.services.context import Gateway
from gateway.services.exchange.issuance import local_scheme_id
from gateway.services.recognition.crosswalks import check_document, one_version, read_head
from gateway.store.engine import reader
from gateway.store.tables import current_scores

__all__ = ["PreviewUnavailable", "preview_impact", "propose"]


class PreviewUnavailable(Conflict):
    code = "preview_unavailable"
    title = "Impact can only be previewed for a crosswalk of Shaoxing's own scheme"


def preview_impact(
    gw: Gateway, crosswalk_id: str, *, version: int | None = None, document: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """How many scored Shaoxing residents would change common level if ``version`` (a stored
    draft) or ``document`` replaced the published version, per level. Counted from
    ``current_scores`` with one GROUP BY, never person by person.

    :raises PreviewUnavailable: the crosswalk does not map Shaoxing's own scheme.
    """
    if (version is None) == (document is None):
        raise ValidationFailed("Preview either a stored version or a document.")
    with reader(gw.engine).connect() as conn:
        head = read_head(conn, crosswalk_id)
        if document is None:
            assert version is not None
            doc: Mapping[str, Any] = one_version(conn, crosswalk_id, version).document
        else:
            if document.get("id") != crosswalk_id:
                raise InvalidMapping("The document's id is not the crosswalk it is previewed for.")
            doc = document
        proposed = check_document(doc, gw.mappings.schemes)
        current: Crosswalk | None = None
        if head is not None and head.published_version is not None:
            current = check_document(
                one_version(conn, crosswalk_id, head.published_version).document, gw.mappings.schemes
            )
        prefix = local_scheme_id("")
        if not proposed.local_scheme.startswith(prefix):
            raise PreviewUnavailable(f"{proposed.local_scheme} is not a scheme of Shaoxing's scores.")
        model_version = proposed.local_scheme.removeprefix(prefix)
        by_band = bool(proposed.to_common_by_band or (current and current.to_common_by_band))
        cs = current_scores
        cols = [cs.c.tier, cs.c.score] if by_band else [cs.c.tier]
        groups = conn.execute(
            select(*cols, func.count())
            .where(cs.c.model_version == model_version, cs.c.eligible.is_(True), cs.c.tier.is_not(None))
            .group_by(*cols)
        ).all()
        conn.rollback()
    moves: Counter[tuple[str, str]] = Counter()
    for row in groups:
        tier, score, n = (row[0], row[1], row[2]) if by_band else (row[0], None, row[1])
        before = current.common_level(tier, score) if current else UNRATED
        moves[(before, proposed.common_level(tier, score))] += int(n)
    common = gw.mappings.schemes[proposed.common_scheme]
    order = [t.code for t in sorted(common.tiers, key=lambda t: t.rank) if t.code != UNRATED] + [UNRATED]
    levels = []
    for level in order:
        was = sum(n for (a, _), n in moves.items() if a == level)
        will = sum(n for (_, b), n in moves.items() if b == level)
        leaving = sum(n for (a, b), n in moves.items() if a == level and b != level)
        joining = sum(n for (a, b), n in moves.items() if b == level and a != level)
        levels.append({"level": level, "current": was, "proposed": will, "leaving": leaving, "joining": joining})
    return {
        "crosswalk_id": crosswalk_id,
        "local_scheme": proposed.local_scheme,
        "current": {"version": current.version, "digest": current.digest} if current else None,
        "proposed": {"version": version, "digest": proposed.digest},
        "population": sum(moves.values()),
        "changed": sum(n for (a, b), n in moves.items() if a != b),
        "levels": levels,
        "moves": [
            {"from": a, "to": b, "count": n}
            for (a, b), n in sorted(moves.items(), key=lambda m: (order.index(m[0][0]), order.index(m[0][1])))
            if a != b
        ],
    }


def propose(
    schemes: Mapping[str, TierScheme],
    local_doc: Any,
    common_doc: Any,
    *,
    crosswalk_id: str | None = None,
    local_scheme: str | None = None,
    effective_from: date | None = None,
) -> dict[str, Any]:
    """An equipercentile crosswalk draft from two score distributions (see
    :mod:`gateway.exchange.equipercentile` for their format), with the shares it matched and
    whether the draft validates as it stands.

    :raises InvalidDistribution: a distribution document breaks its format.
    """
    if local_scheme and isinstance(local_doc, dict):
        local_doc = {**local_doc, "scale": local_scheme}
    scale = local_doc.get("scale") if isinstance(local_doc, dict) else None
    common_id = common_doc.get("common_scheme") if isinstance(common_doc, dict) else None
    proposal = propose_crosswalk(
        local_doc,
        common_doc,
        local_scheme=schemes.get(str(scale)) if scale else None,
        common_scheme=schemes.get(str(common_id)) if common_id else None,
        crosswalk_id=crosswalk_id,
        effective_from=effective_from or today_in_shaoxing(),
    )
    try:
        check_document(proposal.document, schemes)
        problem = None
    except InvalidMapping as exc:
        problem = exc.detail
    return {
        "document": proposal.document,
        "levels": [
            {
                "level": p.level,
                "reference_share": round(p.reference_share, 6),
                "band": {"min_score": p.band[0], "max_score": p.band[1]} if p.band else None,
                "local_share": round(p.local_share, 6),
            }
            for p in proposal.levels
        ],
        "notes": list(proposal.notes),
        "valid": problem is None,
        "problem": problem,
    }
