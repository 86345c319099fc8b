"""The pure scoring core of the Shaoxing personal integrity score (个人诚信分, 0–1000).

No web, database or clock in here: :func:`compute` takes a person's records, a compiled
:class:`ScoringModel` and the day to score on, and returns the same :class:`ScoreResult` every time
for the same three. Models are versioned data (measure 三(一)); load them with :func:`load_model`
or :func:`load_default_model`.
"""

from __future__ import annotations

from gateway.scoring.eligibility import Ineligibility, check_eligibility
from gateway.scoring.engine import compute
from gateway.scoring.inputs import (
    COUNTING_STATUSES,
    FamilyResult,
    IndicatorResult,
    RecordInput,
    RecordStatus,
    ScoreResult,
    ScoringInputs,
    Tier,
)
from gateway.scoring.model import (
    DEFAULT_MODEL_PATH,
    SCHEMA_PATH,
    Family,
    Indicator,
    ScoringModel,
    load_default_model,
    load_model,
    validate_model_document,
)
from gateway.scoring.resident_id import ResidentId, parse_resident_id

__all__ = [
    "COUNTING_STATUSES",
    "DEFAULT_MODEL_PATH",
    "SCHEMA_PATH",
    "Family",
    "FamilyResult",
    "Indicator",
    "IndicatorResult",
    "Ineligibility",
    "RecordInput",
    "RecordStatus",
    "ResidentId",
    "ScoreResult",
    "ScoringInputs",
    "ScoringModel",
    "Tier",
    "check_eligibility",
    "compute",
    "load_default_model",
    "load_model",
    "parse_resident_id",
    "validate_model_document",
]
