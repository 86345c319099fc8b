"""The API fixtures (client, keys) for the hardening tests."""

from tests.api.conftest import auth, client, keys

__all__ = ["auth", "client", "keys"]
