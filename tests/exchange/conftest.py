"""Fixtures for the exchange tests (helpers live in ``exchange_support``)."""

from __future__ import annotations

import pytest

from gateway.exchange import SigningKey
from tests.exchange.exchange_support import START, Clock, Tokens, load_test_keys


@pytest.fixture(scope="session")
def test_keys() -> dict[str, SigningKey]:
    return load_test_keys()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def tokens(test_keys: dict[str, SigningKey], clock: Clock) -> Tokens:
    return Tokens(test_keys, clock)
