"""Fixtures for the scoring core: the catalogue's scoring items, the default model and its document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.scoring import DEFAULT_MODEL_PATH, ScoringModel, load_default_model
from tests.scoring.scoring_helpers import CATALOGUE


@pytest.fixture(scope="session")
def catalogue_items() -> frozenset[str]:
    """The catalogue's indicator items: what the lead passes to load_model as known_items."""
    catalogue = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return frozenset(item["code"] for item in catalogue["items"] if item["scoring"]["use"] == "indicator")


@pytest.fixture(scope="session")
def default_model(catalogue_items: frozenset[str]) -> ScoringModel:
    return load_default_model(known_items=catalogue_items)


@pytest.fixture
def default_document() -> Iterator[dict[str, Any]]:
    yield json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
