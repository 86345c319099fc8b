"""The scoring model and the information catalogue, governed like crosswalks (measure 三(一): the
public credit work institution sets the indicators, weights and tiering standard; 二(三): the
information catalogue).

Both live in ``governed_versions`` (kinds ``model`` and ``catalogue``, one document each). On first
start the file (``GATEWAY_SCORING_MODEL`` / ``GATEWAY_CATALOGUE``, or the bundled defaults) is
seeded as version 1; after that the database is the authority, and every process serves the
version published there (:func:`refresh`, run by the background refresher).

A model draft is checked by the existing schema and semantic checks (``gateway/scoring/model.py``,
against the catalogue in force) plus two rules of the exchange: a model version string names one
content for ever (a stored score names the version it came from), and the local tier scheme
``sx-integrity/<version>`` must be published with exactly the model's tiers (assertions name that
scheme and its crosswalk). Publishing (or rolling back) the model rescores everyone with the new
version and supersedes every live assertion whose tier or score changed — what ``gateway
recompute`` does after a new model file. A catalogue draft must still hold every item the model
in force reads; publishing it changes what ingestion accepts, not any score.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.catalogue import DEFAULT_CATALOGUE_PATH, Catalogue, catalogue_from_document
from gateway.clock import today_in_shaoxing
from gateway.errors import DocumentRejected, InvalidCatalogue, InvalidScoringModel, ValidationFailed
from gateway.exchange.tiers import TierScheme, canonical_digest
from gateway.scoring import ScoringModel, load_model
from gateway.scoring.model import DEFAULT_MODEL_PATH, validate_model_document
from gateway.services.exchange.issuance import local_scheme_id
from gateway.services.publication import governance
from gateway.store.engine import reader

__all__ = [
    "CATALOGUE_ID",
    "MODEL_ID",
    "catalogue_kind",
    "model_kind",
    "published_catalogue",
    "published_model",
    "seed",
]

log = logging.getLogger(__name__)
MODEL_ID = "scoring-model"
CATALOGUE_ID = "information-catalogue"
SEED_ACTOR = "seed:files"


def _compile_model(document: Mapping[str, Any], known_items: frozenset[str]) -> ScoringModel:
    try:
        return load_model(document, known_items=known_items)
    except InvalidScoringModel as exc:
        raise DocumentRejected(exc.detail) from None


def _check_scheme(model: ScoringModel, schemes: Mapping[str, TierScheme]) -> None:
    scheme_id = local_scheme_id(model.version)
    scheme = schemes.get(scheme_id)
    if scheme is None:
        raise DocumentRejected(
            f"The tier scheme {scheme_id} is not published: add it under mappings/schemes (and its crosswalk) first."
        )
    published = {(t.code, t.min_score, t.max_score) for t in scheme.tiers if t.min_score is not None}
    if published != {(t.code, t.min_score, t.max_score) for t in model.tiers}:
        raise DocumentRejected(f"The model's tiers are not those of the published scheme {scheme_id}.")


def model_kind(
    engine: Engine, catalogue: Any, schemes: Mapping[str, TierScheme], *, strict: bool = True
) -> governance.Kind:
    """``catalogue`` is read at each check (a callable returning the catalogue in force)."""

    def check(document: Mapping[str, Any], number: int) -> governance.Checked:
        model = _compile_model(document, catalogue().indicator_items)
        digest = canonical_digest(document)
        if strict:
            _check_scheme(model, schemes)
            with reader(engine).connect() as conn:
                versions = governance.history(conn, "model", MODEL_ID)
                conn.rollback()
            for v in versions:
                if v.document.get("version") == model.version and v.digest != digest:
                    raise DocumentRejected(
                        f"Model version {model.version} already names other content; give the draft a new version."
                    )
        return governance.Checked(dict(document), digest, model.effective_from)

    return governance.Kind("model", check)


def catalogue_kind(model: Any) -> governance.Kind:
    """``model`` returns the model in force: a catalogue must keep every item it reads."""

    def check(document: Mapping[str, Any], number: int) -> governance.Checked:
        try:
            cat = catalogue_from_document(document)
            validate_model_document(model().document(), known_items=cat.indicator_items)
        except (InvalidCatalogue, InvalidScoringModel) as exc:
            raise DocumentRejected(exc.detail) from None
        return governance.Checked(dict(document), canonical_digest(document), cat.effective_from)

    return governance.Kind("catalogue", check)


def _read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def seed(engine: Engine, model_path: Path | None, catalogue_path: Path | None) -> None:
    """Seed the model and catalogue files as version 1 when the database has none (idempotent)."""
    cat_doc = _read(catalogue_path or DEFAULT_CATALOGUE_PATH)
    cat = catalogue_from_document(cat_doc)
    model_doc = _read(model_path or DEFAULT_MODEL_PATH)
    lenient = governance.Kind(
        "model",
        lambda d, n: governance.Checked(
            dict(d), canonical_digest(d), load_model(d, known_items=cat.indicator_items).effective_from
        ),
    )
    plain = governance.Kind(
        "catalogue", lambda d, n: governance.Checked(dict(d), canonical_digest(d), cat.effective_from)
    )
    reason = "Seeded from the file on first start."
    governance.seed(engine, plain, CATALOGUE_ID, cat_doc, actor=SEED_ACTOR, reason=reason)
    if not governance.seed(engine, lenient, MODEL_ID, model_doc, actor=SEED_ACTOR, reason=reason):
        with reader(engine).connect() as conn:
            live = governance.published_documents(conn, "model")
            conn.rollback()
        if live and live[0].digest != canonical_digest(model_doc):
            log.info("the scoring model file is not the database's published model; the database is in force")


def published_model(engine: Engine, known_items: frozenset[str]) -> tuple[int, ScoringModel] | None:
    with reader(engine).connect() as conn:
        rows = governance.published_documents(conn, "model")
        conn.rollback()
    return (rows[0].version, load_model(rows[0].document, known_items=known_items)) if rows else None


def published_catalogue(engine: Engine) -> tuple[int, Catalogue] | None:
    with reader(engine).connect() as conn:
        rows = governance.published_documents(conn, "catalogue")
        conn.rollback()
    return (rows[0].version, catalogue_from_document(rows[0].document)) if rows else None


def check_effective_date(effective_from: date | None) -> date | None:
    """A version is in force from its publication: a future date is refused (no scheduling yet)."""
    if effective_from is not None and effective_from > today_in_shaoxing():
        raise ValidationFailed("effective_from may not be in the future: a version is in force when published.")
    return effective_from
