"""Staff sign-in: OpenID Connect authorization code flow with PKCE (issue 11).

In production administrators, officers and auditors sign in at the credit office's identity
provider (``GATEWAY_STAFF_IDP_ISSUER``); the roles the gateway grants come from one claim of the ID
token (``GATEWAY_STAFF_IDP_ROLES_CLAIM``), mapped through ``GATEWAY_STAFF_IDP_ROLE_MAP``. In
development mode the development staff IdP (:mod:`.dev_staff_idp`) plays the provider, over the same
code: the same authorization request, the same code exchange, the same ID token checks.

The protocol is Authlib's (authorization URL, PKCE S256, client authentication by secret or by
``private_key_jwt``, the token request); the ID token is checked by the gateway's own
:class:`~gateway.exchange.TokenVerifier` — the RFC 8725 rules every other token here gets (explicit
``typ``, the verifier's algorithm list, exact ``iss`` and ``aud``, bounded clock window) — plus the
nonce. The state, nonce and PKCE verifier wait in the database (``web_login_states``) so the callback
may reach any process, and each is usable once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, insert, select

from gateway.clock import as_utc, utcnow
from gateway.config import Settings
from gateway.errors import GatewayError, PermissionDenied, SignInFailed, StaffIdpNotConfigured
from gateway.exchange import SUPPORTED_ALGORITHMS, JwksClient, TokenVerifier, VerificationKey, load_signing_key
from gateway.services.admin.admins import ROLES
from gateway.services.context import Gateway
from gateway.services.web.dev_staff_idp import DEV_STAFF_CLIENT_ID, DEV_STAFF_PATH, DevStaffIdentityProvider
from gateway.store.tables_web import web_login_states

# Authlib 1.9 prefers httpx2 and warns (through a global "always" filter of its own) when it falls
# back to httpx, which it still supports; catch_warnings also undoes that global filter.
with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401 - installs that filter; ours goes in front of it

    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=DeprecationWarning)
    from authlib.common.errors import AuthlibBaseError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import ECKey, OKPKey, RSAKey  # Authlib's own JOSE library

__all__ = ["CALLBACK_PATH", "OidcSignIn", "StaffIdentity", "StaffSignIn", "map_roles"]

CALLBACK_PATH = "/console/auth/callback"
_STATE_LIFETIME = timedelta(minutes=10)
_ID_TOKEN_MAX_LIFETIME = 3600


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    subject: str
    display_name: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    client_id: str
    jwks_uri: str | None  # None: the development IdP, whose keys are in this process


def map_roles(settings: Settings, value: Any) -> frozenset[str]:
    """The gateway roles the IdP's roles claim grants: a list or a space-separated string, each value
    mapped through ``staff_idp_role_map`` (or taken as it is when no map is set); unknown ones dropped."""
    values = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    mapping: dict[str, set[str]] = {}
    for source, role in settings.staff_idp_role_map:
        mapping.setdefault(source, set()).add(role)
    granted: set[str] = set()
    for item in values:
        if isinstance(item, str):
            granted |= mapping.get(item, set()) if mapping else {item}
    return frozenset(granted & ROLES)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("ascii", "replace")).hexdigest()


class OidcSignIn:
    """The authorization code + PKCE flow against one provider, shared by staff and resident sign-in.
    One per application: the provider's metadata and keys are fetched once and cached.

    :param kind: the ``web_login_states`` kind; a state started for one kind is refused by another.
    :param transport: for the development IdP, the ASGI transport into this very application (its
        token endpoint is served here); for a real IdP ``None`` (tests inject a mock).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        kind: str,
        callback_path: str,
        issuer: str | None,
        client_id: str | None,
        client_secret: str | None,
        private_key: Path | None,
        dev: DevStaffIdentityProvider | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._kind = kind
        self._callback_path = callback_path
        self._issuer = issuer
        self._client_id = client_id
        self._client_secret = client_secret
        self._private_key = private_key
        self._transport = transport
        self._dev = dev
        self._metadata: _Provider | None = None
        self._jwks = JwksClient(transport=transport) if issuer else None

    @property
    def development(self) -> bool:
        return self._dev is not None

    @property
    def dev_idp(self) -> DevStaffIdentityProvider | None:
        return self._dev

    def redirect_uri(self, base_url: str) -> str:
        # Production: the registered URI under the gateway's own issuer URL, never a Host header.
        if self._dev is not None:
            return base_url.rstrip("/") + self._callback_path
        return self._settings.issuer + self._callback_path

    def _not_configured(self) -> GatewayError:
        return StaffIdpNotConfigured("Staff cannot sign in: GATEWAY_STAFF_IDP_ISSUER is not set.")

    async def _provider(self, base_url: str) -> _Provider:
        if self._dev is not None:
            base = base_url.rstrip("/") + DEV_STAFF_PATH
            return _Provider(self._dev.issuer, base + "/authorize", base + "/token", DEV_STAFF_CLIENT_ID, None)
        if self._issuer is None or self._client_id is None:
            raise self._not_configured()
        if self._metadata is None:
            self._metadata = await self._discover(self._issuer, self._client_id)
        return self._metadata

    async def _discover(self, issuer: str, client_id: str) -> _Provider:
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=5.0, follow_redirects=False) as client:
                response = await client.get(issuer + "/.well-known/openid-configuration")
            response.raise_for_status()
            doc = json.loads(response.content[: 256 * 1024])
        except (httpx.HTTPError, ValueError):
            raise SignInFailed("The identity provider could not be reached.", reason="discovery") from None
        endpoints = [
            doc.get(k) if isinstance(doc, dict) else None
            for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        ]
        if (
            not isinstance(doc, dict)
            or doc.get("issuer") != issuer
            or not all(isinstance(e, str) and urlsplit(e).scheme == "https" for e in endpoints)
        ):
            raise SignInFailed("The identity provider's metadata is not usable.", reason="discovery")
        auth, token, jwks = (str(e) for e in endpoints)
        return _Provider(issuer, auth, token, client_id, jwks)

    def _client(self, provider: _Provider, redirect_uri: str) -> AsyncOAuth2Client:
        if self._dev is not None:
            return AsyncOAuth2Client(
                provider.client_id,
                self._dev.client_secret(),
                token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
                scope="openid",
                redirect_uri=redirect_uri,
                code_challenge_method="S256",
                transport=self._transport,
            )
        if self._private_key is not None:
            pem = self._private_key.read_bytes()
            alg = load_signing_key(pem).alg  # the key's own algorithm: ES256, EdDSA or PS256
            # Authlib reads a PEM string as RSA; a key object of the right type signs as ``alg``.
            if alg == "ES256":
                key: Any = ECKey.import_key(pem)
            elif alg == "EdDSA":
                key = OKPKey.import_key(pem)
            else:
                key = RSAKey.import_key(pem)
            client = AsyncOAuth2Client(
                provider.client_id,
                key,
                token_endpoint_auth_method="private_key_jwt",  # noqa: S106 - a method name
                scope="openid profile",
                redirect_uri=redirect_uri,
                code_challenge_method="S256",
                transport=self._transport,
            )
            client.register_client_auth_method(PrivateKeyJWT(provider.token_endpoint, alg=alg))
            return client
        return AsyncOAuth2Client(
            provider.client_id,
            self._client_secret,
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
            scope="openid profile",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            transport=self._transport,
        )

    async def begin(self, gw: Gateway, base_url: str, return_to: str) -> str:
        """Start a sign-in: remember state, nonce and PKCE verifier; the provider's URL to go to."""
        provider = await self._provider(base_url)
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        with gw.engine.begin() as conn:
            conn.execute(delete(web_login_states).where(web_login_states.c.expires_at < utcnow()))
            conn.execute(
                insert(web_login_states).values(
                    state_hash=_digest(state),
                    kind=self._kind,
                    nonce=nonce,
                    code_verifier=verifier,
                    return_to=return_to,
                    expires_at=utcnow() + _STATE_LIFETIME,
                )
            )
        async with self._client(provider, self.redirect_uri(base_url)) as client:
            url, _ = client.create_authorization_url(
                provider.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
            )
        return str(url)

    def _take_state(self, gw: Gateway, state: str) -> tuple[str, str, str]:
        digest = _digest(state)
        with gw.engine.begin() as conn:
            row = conn.execute(
                select(web_login_states).where(
                    web_login_states.c.state_hash == digest, web_login_states.c.kind == self._kind
                )
            ).first()
            # Deleted before use and checked by row count: two processes cannot both take one state.
            taken = conn.execute(
                delete(web_login_states).where(
                    web_login_states.c.state_hash == digest, web_login_states.c.kind == self._kind
                )
            ).rowcount
        if row is None or not taken or as_utc(row.expires_at) <= utcnow():
            raise SignInFailed("The sign-in expired or was already used; start again.", reason="state")
        return row.nonce, row.code_verifier, row.return_to

    async def _keys(self, provider: _Provider) -> Mapping[str, VerificationKey]:
        if self._dev is not None:
            return self._dev.verification_keys()
        assert self._jwks is not None and provider.jwks_uri is not None
        return await self._jwks.get_keys(provider.jwks_uri)

    async def exchange(self, gw: Gateway, base_url: str, *, state: str, code: str) -> tuple[str, str, str, _Provider]:
        """Take the state (once), redeem the code with the PKCE verifier.

        :returns: the unverified ID token, the nonce it must carry, where the person was going, the provider.
        :raises SignInFailed: unknown or used state, a refused code, no ID token.
        """
        if not state or not code or len(state) > 128 or len(code) > 4096:
            raise SignInFailed("The sign-in answer is incomplete.", reason="callback")
        nonce, verifier, return_to = self._take_state(gw, state)
        provider = await self._provider(base_url)
        try:
            async with self._client(provider, self.redirect_uri(base_url)) as client:
                token = await client.fetch_token(provider.token_endpoint, code=code, code_verifier=verifier)
        except (AuthlibBaseError, httpx.HTTPError, ValueError):
            raise SignInFailed("The identity provider refused the code.", reason="token") from None
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            raise SignInFailed("The identity provider sent no ID token.", reason="token")
        return id_token, nonce, return_to, provider


class StaffSignIn(OidcSignIn):
    """Staff sign-in at the credit office's IdP (or the development staff IdP)."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(
            settings,
            kind="staff",
            callback_path=CALLBACK_PATH,
            issuer=settings.staff_idp_issuer,
            client_id=settings.staff_idp_client_id,
            client_secret=settings.staff_idp_client_secret,
            private_key=settings.staff_idp_private_key,
            dev=DevStaffIdentityProvider(settings) if settings.dev_staff_idp_enabled else None,
            transport=transport,
        )

    async def complete(self, gw: Gateway, base_url: str, *, state: str, code: str) -> tuple[StaffIdentity, str]:
        """Finish a sign-in from the provider's redirect: exchange the code, check the ID token.

        :returns: who signed in, and where they were going.
        :raises SignInFailed: unknown or used state, a refused code, an ID token that fails a check.
        :raises PermissionDenied: the person holds none of the gateway's roles.
        """
        id_token, nonce, return_to, provider = await self.exchange(gw, base_url, state=state, code=code)
        verifier_ = TokenVerifier(
            typ="JWT",
            audience=provider.client_id,
            issuer=provider.issuer,
            algorithms=SUPPORTED_ALGORITHMS,
            required_claims=frozenset({"iss", "sub", "aud", "exp", "iat", "nonce"}),
            max_lifetime=_ID_TOKEN_MAX_LIFETIME,
            kind="staff_id_token",
        )
        try:
            claims = verifier_.verify(id_token, await self._keys(provider)).claims
        except GatewayError as exc:
            raise SignInFailed("The ID token failed a check.", reason=exc.code) from None
        if not secrets.compare_digest(str(claims["nonce"]), nonce):
            raise SignInFailed("The ID token failed a check.", reason="nonce")
        subject = str(claims["sub"])[:128]
        roles = map_roles(self._settings, claims.get(self._settings.staff_idp_roles_claim))
        if not roles:
            raise PermissionDenied("Your account holds none of the gateway's roles.")
        display = claims.get("name") or claims.get("preferred_username") or subject
        return StaffIdentity(subject, str(display)[:64], roles), return_to
