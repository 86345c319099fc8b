"""The OAuth 2.0 token endpoint (client credentials, ``private_key_jwt``) and its access tokens.

Every partner — other cities' platforms, banks, incentive providers and collaborating units —
authenticates with a client assertion signed by a key it registered (RFC 7523, hardened per
7523bis: ``aud`` is exactly our issuer identifier). The ``jti`` replay cache is a table, so a
client assertion replayed to another gateway process is refused as well.

Access tokens are JWTs (``typ`` ``at+jwt``, RFC 9068) signed with the gateway's own keys: any
process can check them with the published keys and no shared session state. They live at most
ten minutes and carry the partner's scopes: its allowed purposes, or ``ingest`` for a unit.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from gateway.clock import utcnow
from gateway.config import Settings
from gateway.errors import AuthenticationRequired, BadRequest, GatewayError
from gateway.exchange import (
    CLIENT_ASSERTION_TYPE,
    SUPPORTED_ALGORITHMS,
    ClientKeys,
    TokenVerifier,
    VerificationKey,
    sign,
    verify_client_assertion,
)
from gateway.partners import Partner, PartnerRegistry
from gateway.services.exchange.keyring import Keyring
from gateway.store.tables import client_assertion_jtis

__all__ = [
    "ACCESS_TOKEN_TYP",
    "INGEST_SCOPE",
    "OAuthServer",
    "PartnerPrincipal",
    "TokenRequestError",
]

log = logging.getLogger(__name__)
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a secret
INGEST_SCOPE = "ingest"
_VERIFIED_CACHE_SIZE = 10_000


class TokenRequestError(BadRequest):
    """An RFC 6749 §5.2 error; ``error`` is the OAuth error code."""

    code = "invalid_request"
    title = "The token request is not valid"


class UnsupportedGrantType(TokenRequestError):
    code = "unsupported_grant_type"
    title = "Only the client_credentials grant is supported"


class InvalidScope(TokenRequestError):
    code = "invalid_scope"
    title = "The requested scope is not allowed for this client"


@dataclass(frozen=True, slots=True)
class PartnerPrincipal:
    partner: Partner
    scopes: frozenset[str]
    token_id: str


def partner_scopes(partner: Partner) -> frozenset[str]:
    if partner.kind == "collaborating_unit":
        return frozenset({INGEST_SCOPE})
    return partner.allowed_purposes


class OAuthServer:
    def __init__(self, settings: Settings, engine: Engine, keyring: Keyring, partners: PartnerRegistry) -> None:
        self._settings = settings
        self._engine = engine
        self._keyring = keyring
        self._partners = partners
        self._verifier = TokenVerifier(
            typ=ACCESS_TOKEN_TYP,
            audience=settings.issuer,
            issuer=settings.issuer,
            algorithms=SUPPORTED_ALGORITHMS,
            required_claims=frozenset({"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}),
            max_lifetime=600,
            kind="access_token",
            refuse_high_s=True,  # the gateway signs its tokens in low-S form only
        )
        # token → (exp, partner id, scope, jti) of tokens that verified; per process, bounded.
        self._verified: dict[str, tuple[float, str, str, str]] = {}
        self._verified_lock = threading.Lock()

    # --- the jti replay cache --------------------------------------------------------------

    def remember_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        """Record a client assertion's jti; False when it was seen before (in any process)."""
        try:
            with self._engine.begin() as conn:
                if random.random() < 0.01:  # noqa: S311 - housekeeping cadence, not security
                    conn.execute(delete(client_assertion_jtis).where(client_assertion_jtis.c.expires_at < utcnow()))
                conn.execute(
                    insert(client_assertion_jtis).values(
                        client_id=client_id, jti=jti, expires_at=datetime.fromtimestamp(expires_at, UTC)
                    )
                )
        except IntegrityError:
            return False
        return True

    # --- issuing ------------------------------------------------------------------------------

    def token(
        self, form: Mapping[str, str], fetched_keys: Mapping[str, Mapping[str, VerificationKey]] | None = None
    ) -> dict[str, object]:
        """Answer a token request (form fields already parsed).

        :raises TokenRequestError: malformed request, wrong grant type, scope not allowed (400).
        :raises InvalidToken: a client-assertion check failed (401, OAuth ``invalid_client``).
        """
        if form.get("grant_type") != "client_credentials":
            raise UnsupportedGrantType("Use grant_type=client_credentials.", error="unsupported_grant_type")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
            raise TokenRequestError(
                "Authenticate with private_key_jwt: client_assertion_type="
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer and a client_assertion.",
                error="invalid_request",
            )

        def client_keys(client_id: str) -> ClientKeys | None:
            # Inline keys from the registry, or those the route fetched from the partner's jwks_uri.
            partner = self._partners.get(client_id)
            if partner is None:
                return None
            keys = partner.keys or (fetched_keys or {}).get(partner.id)
            return ClientKeys(client_id=partner.id, keys=keys, enabled=partner.enabled) if keys else None

        try:
            client = verify_client_assertion(
                form["client_assertion"],
                client_id_lookup=client_keys,
                token_endpoint_issuer=self._settings.issuer,
                replay_guard=self.remember_jti,
            )
        except GatewayError as exc:
            log.info("client assertion refused: %s", exc.code)
            exc.extensions.setdefault("error", "invalid_client")
            raise
        partner = self._partners.enabled(client.client_id)
        assert partner is not None  # verify_client_assertion refuses disabled and unknown clients
        allowed = partner_scopes(partner)
        requested = frozenset(form.get("scope", "").split()) or allowed
        if not requested <= allowed:
            raise InvalidScope("The requested scope exceeds what the partner is allowed.", error="invalid_scope")
        now = int(time.time())
        lifetime = self._settings.access_token_lifetime
        claims = {
            "iss": self._settings.issuer,
            "sub": partner.id,
            "aud": self._settings.issuer,
            "client_id": partner.id,
            "scope": " ".join(sorted(requested)),
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        token = sign(claims, self._keyring.signing_key(), ACCESS_TOKEN_TYP)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": claims["scope"],
        }

    # --- checking ----------------------------------------------------------------------------

    def authenticate(self, token: str) -> PartnerPrincipal:
        """The partner behind an access token; it must still be registered and enabled.

        A token that verified once is remembered until it expires (a partner presents the same
        token for minutes): signature checks were the largest cost of a request. The partner's
        state is looked up again on every call, so disabling it takes effect at once.

        :raises InvalidToken: (401) when the token fails a check.
        :raises AuthenticationRequired: when its partner is gone or disabled.
        """
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached[0] > now:
            partner_id, scope, token_id = cached[1], cached[2], cached[3]
        else:
            claims = self._verifier.verify(token, self._keyring.verification_keys()).claims
            partner_id, scope, token_id = str(claims["sub"]), str(claims["scope"]), str(claims["jti"])
            if claims.get("client_id") != partner_id:
                raise AuthenticationRequired("The token's client is not its subject.")
            with self._verified_lock:  # threadpool workers insert concurrently
                if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                    self._verified = {t: v for t, v in self._verified.items() if v[0] > now}
                    if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                        self._verified = {}
                self._verified[token] = (float(claims["exp"]), partner_id, scope, token_id)
        partner = self._partners.enabled(partner_id)
        if partner is None:
            raise AuthenticationRequired("The partner of this token is not enabled.")
        scopes = frozenset(scope.split()) & partner_scopes(partner)
        return PartnerPrincipal(partner=partner, scopes=scopes, token_id=token_id)
