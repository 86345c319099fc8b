"""Residents' page sign-in at the real-name identity provider (issue 11; measure 三(二): residents
query and authorise through the designated channels, after real-name authentication).

The same authorization code + PKCE flow as staff sign-in (:class:`~.staff_oidc.OidcSignIn`: Authlib's
client, state, nonce and verifier kept once in ``web_login_states`` under the kind ``resident``), with
the resident IdP's client settings (``GATEWAY_RESIDENT_IDP_CLIENT_ID`` and a secret or private key).
The ID token is then checked exactly as the API checks residents' ID tokens
(:meth:`~gateway.services.residents.resident_identity.ResidentAuthenticator.authenticate_sign_in`: issuer,
audience, ``typ``, algorithms, clock window, the ID number's checksum) plus the nonce; what comes out
is the keyed-hash :class:`~gateway.services.residents.resident_identity.Resident`, never the number itself.

Development mode keeps the development IdP's form (``/me/sign-in``); this flow is production's.
"""

from __future__ import annotations

import httpx

from gateway.config import Settings
from gateway.errors import GatewayError, ResidentSignInNotConfigured, SignInFailed
from gateway.exchange.errors import InvalidToken
from gateway.services.context import Gateway
from gateway.services.residents.resident_identity import Resident
from gateway.services.web.staff_oidc import OidcSignIn

__all__ = ["RESIDENT_CALLBACK_PATH", "ResidentSignIn"]

RESIDENT_CALLBACK_PATH = "/me/auth/callback"


class ResidentSignIn(OidcSignIn):
    """One per application. Configured when the resident IdP's issuer and this client's id are set."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(
            settings,
            kind="resident",
            callback_path=RESIDENT_CALLBACK_PATH,
            issuer=settings.resident_idp_issuer,
            client_id=settings.resident_idp_client_id,
            client_secret=settings.resident_idp_client_secret,
            private_key=settings.resident_idp_private_key,
            transport=transport,
        )

    @property
    def configured(self) -> bool:
        s = self._settings
        return bool(s.resident_idp_issuer and s.resident_idp_client_id) and (
            s.resident_idp_client_secret is not None or s.resident_idp_private_key is not None
        )

    def _not_configured(self) -> GatewayError:
        return ResidentSignInNotConfigured(
            "Resident sign-in is not configured: GATEWAY_RESIDENT_IDP_CLIENT_ID and its secret or key are not set."
        )

    async def begin(self, gw: Gateway, base_url: str, return_to: str) -> str:
        if not self.configured:
            raise self._not_configured()
        return await super().begin(gw, base_url, return_to)

    async def complete(self, gw: Gateway, base_url: str, *, state: str, code: str) -> tuple[Resident, str]:
        """Finish a sign-in from the provider's redirect.

        :returns: the resident (keyed hashes only) and the ``/me`` page they were going to.
        :raises SignInFailed: unknown or used state, a refused code, an ID token that fails a check.
        """
        if not self.configured:
            raise self._not_configured()
        id_token, nonce, return_to, _ = await self.exchange(gw, base_url, state=state, code=code)
        try:
            resident = gw.residents.authenticate_sign_in(id_token, nonce)
        except InvalidToken as exc:
            check = exc.extensions.get("claim") or exc.extensions.get("check") or exc.code
            raise SignInFailed("The ID token failed a check.", reason=str(check)) from None
        return resident, return_to
