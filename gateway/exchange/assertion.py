"""Score assertions as a verifier sees them: every check RFC 8725 asks for, then the published schema.

Used by ``gateway verify`` (a partner checking what it received) and by the gateway itself when
an assertion is presented back to it. The verifier picks the algorithms, the expected ``typ``,
issuer and audience; the token picks nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

from jsonschema import Draft202012Validator

from gateway.config import bundled_path
from gateway.exchange.errors import InvalidToken
from gateway.exchange.keys import VerificationKey
from gateway.exchange.verify import DEFAULT_MAX_SKEW, TYP_SCORE_ASSERTION, TokenVerifier, VerifiedToken

__all__ = [
    "ASSERTION_ALGORITHMS",
    "MAX_ASSERTION_LIFETIME",
    "AssertionSchemaInvalid",
    "assertion_schema_errors",
    "score_assertion_verifier",
    "verify_score_assertion",
]

ASSERTION_ALGORITHMS: Final = frozenset({"ES256", "EdDSA", "PS256"})
MAX_ASSERTION_LIFETIME: Final = 7 * 24 * 3600
_SCHEMA_PATH = bundled_path("schemas") / "score-assertion.schema.json"
_REQUIRED = frozenset({"iss", "sub", "aud", "iat", "nbf", "exp", "jti"})


class AssertionSchemaInvalid(InvalidToken):
    """Signed and timely, but its claims break the published exchange format."""

    code = "assertion_schema_invalid"
    title = "The assertion's claims do not match the published schema"
    status = 422


@cache
def _validator() -> Draft202012Validator:
    # Built once per process: a prebuilt validator costs ~0.1 ms, jsonschema.validate() ~3 ms.
    return Draft202012Validator(json.loads(_SCHEMA_PATH.read_text(encoding="utf-8")))


def assertion_schema_errors(claims: Mapping[str, Any]) -> list[str]:
    """Where the claims break the schema: paths and rule names only, never values."""
    out = []
    for error in _validator().iter_errors(claims):
        where = "/".join(str(p) for p in error.absolute_path) or "(claims)"
        out.append(f"{where}: {error.validator}")
    return sorted(out)


def score_assertion_verifier(
    *,
    issuer: str,
    audience: str,
    now: Callable[[], float] = time.time,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> TokenVerifier:
    return TokenVerifier(
        typ=TYP_SCORE_ASSERTION,
        audience=audience,
        issuer=issuer,
        algorithms=ASSERTION_ALGORITHMS,
        required_claims=_REQUIRED,
        max_skew=max_skew,
        max_lifetime=MAX_ASSERTION_LIFETIME,
        kind="score_assertion",
        now=now,
    )


def verify_score_assertion(
    token: str,
    keys: Mapping[str, VerificationKey],
    *,
    issuer: str,
    audience: str,
    now: Callable[[], float] = time.time,
    verifier: TokenVerifier | None = None,
) -> VerifiedToken:
    """Verify signature, ``typ``, algorithm, ``iss``, ``aud``, time window, then the schema.

    :raises InvalidToken: a subclass naming the failed check (401), or
        :class:`AssertionSchemaInvalid` (422) when the claims break the published schema.
    """
    verified = (verifier or score_assertion_verifier(issuer=issuer, audience=audience, now=now)).verify(token, keys)
    problems = assertion_schema_errors(verified.claims)
    if problems:
        raise AssertionSchemaInvalid(
            "The claims do not match score-assertion.schema.json.",
            token_kind="score_assertion",  # noqa: S106 - a label, not a secret
            check="schema",
            errors=problems[:10],
        )
    return verified
