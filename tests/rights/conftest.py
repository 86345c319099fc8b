"""The API fixtures (a test client, unit tokens and an officer key) for the rights tests."""

from tests.api.conftest import client, keys

__all__ = ["client", "keys"]
