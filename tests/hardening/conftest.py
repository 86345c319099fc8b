"""The API fixtures (client, keys) for the hardening tests."""

from tests.api.conftest import auth, client, keys

__all__ = ["auth", "client", "keys"]


def suite_on_postgres() -> bool:
    """The suite's second run (on PostgreSQL): tests that do not use the suite's database ran already."""
    import os

    return os.environ.get("GATEWAY_TEST_DATABASE_URL", "").startswith("postgresql")
