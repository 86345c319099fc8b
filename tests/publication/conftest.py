from __future__ import annotations

from tests.api.conftest import client, keys  # noqa: F401  (the API fixtures, reused)
