"""Residents' own acts (issue 9): the HTTP fixtures of tests/api, shared."""

from __future__ import annotations

from tests.api.conftest import client, keys

__all__ = ["client", "keys"]
