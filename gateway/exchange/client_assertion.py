"""``private_key_jwt`` client authentication (RFC 7523 §2.2/§3, hardened per RFC 7523bis).

A bank or city authenticates to the gateway's token endpoint with a JWT it signed with one of
its registered keys. What we require, and why:

- ``typ`` is ``client-authentication+jwt`` — the explicit type introduced by
  draft-ietf-oauth-rfc7523bis (§ "Client Authentication Assertion Type") so that no other JWT
  signed by the same key (an ID token, a score assertion) can be replayed as a client
  assertion (RFC 8725 §3.11). Clients must set it; we do not accept untyped assertions.
- ``alg`` ∈ {ES256, EdDSA, PS256} and bound to the registered key.
- ``iss`` == ``sub`` == a registered, enabled client id (RFC 7523 §3 items 1–2). ``iss`` is read
  from the *unverified* payload only to select that client's keys; every claim is then
  verified against them.
- ``aud`` is exactly our issuer identifier, as a single string: arrays and the token-endpoint
  URL are refused (CVE-2025-27370/27371 audience injection; RFC 7523bis).
- ``exp`` is required and at most 300 s ahead of now; ``iat`` is required; ``exp − iat`` is at
  most 300 s too.
- ``jti`` is required and single-use: ``replay_guard(client_id, jti, exp)`` must record it
  atomically (across processes) and return ``False`` if it was already seen. If the guard fails
  we fail closed (``replay_guard_unavailable``). The guard runs last, so a rejected assertion
  never burns a ``jti``.

Every failure carries ``token_kind="client_assertion"``; the edge answers all of them with
OAuth ``invalid_client`` (RFC 6749 §5.2) and keeps the precise code for its logs.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from gateway.errors import GatewayError
from gateway.exchange.errors import (
    InvalidClaim,
    JtiReplayed,
    LifetimeTooLong,
    MissingClaim,
    ReplayGuardUnavailable,
    SubjectMismatch,
    UnknownClient,
)
from gateway.exchange.jws import sign
from gateway.exchange.keys import SUPPORTED_ALGORITHMS, SigningKey, VerificationKey
from gateway.exchange.verify import DEFAULT_MAX_SKEW, TYP_CLIENT_ASSERTION, TokenVerifier

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "MAX_ASSERTION_LIFETIME",
    "AuthenticatedClient",
    "ClientKeys",
    "make_client_assertion",
    "verify_client_assertion",
]

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME: Final = 300
_MAX_JTI_LENGTH: Final = 256
_KIND: Final = "client_assertion"


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """A registered client's verification keys (parsed once from its ``jwks``/``jwks_uri``)."""

    client_id: str
    keys: Mapping[str, VerificationKey]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    client_id: str
    kid: str
    jti: str
    expires_at: int


def verify_client_assertion(
    assertion: str,
    *,
    client_id_lookup: Callable[[str], ClientKeys | None],
    token_endpoint_issuer: str,
    replay_guard: Callable[[str, str, int], bool],
    now: Callable[[], float] = time.time,
    max_skew: float = DEFAULT_MAX_SKEW,
) -> AuthenticatedClient:
    """Authenticate a client by its ``client_assertion`` (``private_key_jwt``).

    The assertion's header must have ``typ: client-authentication+jwt``
    (draft-ietf-oauth-rfc7523bis); see the module docstring for every rule.

    :param client_id_lookup: returns the client's keys, or ``None`` if it is not registered.
    :param token_endpoint_issuer: our authorization-server issuer identifier, the only ``aud``.
    :param replay_guard: records ``(client_id, jti)`` until ``exp``; ``False`` if already seen.
    :raises InvalidToken: a subclass per failed check, e.g. ``unknown_client``,
        ``token_type_mismatch``, ``audience_mismatch``, ``subject_mismatch``, ``jti_replayed``.
    :raises ReplayGuardUnavailable: the replay guard raised; the assertion is not accepted.
    """
    verifier = TokenVerifier(
        typ=TYP_CLIENT_ASSERTION,
        audience=token_endpoint_issuer,
        algorithms=SUPPORTED_ALGORITHMS,
        required_claims=frozenset({"iss", "sub", "aud", "exp", "iat", "jti"}),
        max_skew=max_skew,
        max_lifetime=MAX_ASSERTION_LIFETIME,
        kind=_KIND,
        now=now,
    )
    # Header checks first, so a token of another kind is named as such (token_type_mismatch).
    unverified = verifier.inspect(assertion)
    client_id = unverified.claims.get("iss")
    if client_id is None:
        raise MissingClaim("A required claim is missing.", token_kind=_KIND, claim="iss")
    if not isinstance(client_id, str) or not client_id:
        raise InvalidClaim("A claim is not a string.", token_kind=_KIND, claim="iss")
    client = client_id_lookup(client_id)
    if client is None or not client.enabled or client.client_id != client_id:
        raise UnknownClient("The client is not registered or not enabled.", token_kind=_KIND)

    verified = dataclasses.replace(verifier, issuer=client_id).verify(assertion, client.keys)
    claims = verified.claims
    if claims["sub"] != client_id:
        raise SubjectMismatch("The assertion's subject is not its issuer.", token_kind=_KIND)
    exp = float(claims["exp"])
    if exp - now() > MAX_ASSERTION_LIFETIME:
        # max_lifetime bounds exp − iat; this bounds how far ahead of *our* clock exp may be.
        raise LifetimeTooLong(
            "The assertion expires too far in the future.",
            token_kind=_KIND,
            check="exp_horizon",
            max_lifetime=MAX_ASSERTION_LIFETIME,
        )
    jti = claims["jti"]
    if not jti or len(jti) > _MAX_JTI_LENGTH:
        raise InvalidClaim("The jti must be 1 to 256 characters.", token_kind=_KIND, claim="jti")
    expires_at = math.ceil(exp)
    try:
        fresh = replay_guard(client_id, jti, expires_at)
    except GatewayError:
        raise
    except Exception as exc:
        # Fail closed: an unreachable jti store must not turn into accepted replays.
        raise ReplayGuardUnavailable("The replay guard failed.") from exc
    if not fresh:
        raise JtiReplayed("The assertion has already been used.", token_kind=_KIND)
    return AuthenticatedClient(client_id, str(verified.header["kid"]), jti, expires_at)


def make_client_assertion(
    key: SigningKey, *, client_id: str, audience: str, lifetime: int = 60, now: float | None = None
) -> str:
    """The partner's side: a client assertion for the gateway's token endpoint (used by the demo,
    the tests, and as a reference for partners)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + min(lifetime, MAX_ASSERTION_LIFETIME),
        "jti": secrets.token_urlsafe(16),
    }
    return sign(claims, key, TYP_CLIENT_ASSERTION)
