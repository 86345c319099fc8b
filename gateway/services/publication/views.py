"""What the information catalogue and the scoring model look like in public (measure 二(三), 三(一)).

The catalogue is published whole: which information is collected, from which kinds of units, and
how each item may count — nothing in it is personal. The scoring model is published as a summary
(families, indicators with their caps and age limits, tiers); whether weights and point values are
shown is the office's decision (``GATEWAY_PUBLISH_MODEL_WEIGHTS``), as 钱江分 publishes its five
dimensions but not their weights.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from gateway.catalogue import DEFAULT_CATALOGUE_PATH
from gateway.services.context import Gateway

__all__ = ["catalogue_content", "model_summary"]

# Members of an indicator that carry its numbers (weights, points, scales).
_WEIGHT_MEMBERS = ("weight", "scale", "points", "points_by_code", "per")


@cache
def _catalogue_file(path: Path, mtime_ns: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def catalogue_content(gw: Gateway) -> dict[str, Any]:
    """The catalogue document in force (without its ``$schema`` pointer)."""
    document = gw.catalogue.document
    if document is None:
        path = gw.settings.catalogue_path or DEFAULT_CATALOGUE_PATH
        document = _catalogue_file(path, path.stat().st_mtime_ns)
    return {k: v for k, v in document.items() if k != "$schema"}


def model_summary(gw: Gateway) -> dict[str, Any]:
    """Families, indicators (caps, age limits; numbers only when the office shows them), tiers."""
    model = gw.model
    doc = model.document()
    shown = gw.settings.publish_model_weights
    indicators = []
    for spec in doc["indicators"]:
        entry = {
            "code": spec["code"],
            "family": spec["family"],
            "label": spec["label"],
            "item": spec["item"],
            "kind": spec["kind"],
            "cap": spec["cap"],
            "max_age_days": spec.get("max_age_days"),
        }
        if "description" in spec:
            entry["description"] = spec["description"]
        if shown:
            entry.update({m: spec[m] for m in _WEIGHT_MEMBERS if m in spec})
        indicators.append(entry)
    return {
        "model": model.model_id,
        "version": model.version,
        "effective_from": model.effective_from.isoformat(),
        "model_digest": "sha256:" + model.digest,
        "max_score": model.max_score,
        "notice": model.notice,
        "weights_shown": shown,
        "families": [
            {
                "code": f.code,
                "label": {"zh": f.label_zh, "en": f.label_en},
                "min_points": f.min_points,
                "max_points": f.max_points,
            }
            for f in model.families
        ],
        "indicators": indicators,
        "tiers": [
            {"code": t.code, "label": {"zh": t.label_zh, "en": t.label_en}, "min": t.min_score, "max": t.max_score}
            for t in sorted(model.tiers, key=lambda t: -t.min_score)
        ],
    }
