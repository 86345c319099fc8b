"""A DEVELOPMENT staff identity provider: an OpenID provider for the console's sign-in.

Production staff sign in at the office's identity provider (``GATEWAY_STAFF_IDP_ISSUER``) with the
authorization code flow and PKCE. So that the demo and the browser tests run that very code path,
development mode serves a small provider of its own under ``/dev-idp/staff/``: a sign-in page where
anybody picks a name and roles (it authenticates nobody — hence development only), an authorization
code, a token endpoint that checks the client secret, the redirect URI and the PKCE verifier, and
real ES256-signed ID tokens. Its issuer lives under the reserved ``.invalid`` top-level domain and
its key in ``data_dir/dev-staff-idp/``. The constructor refuses production mode.

The authorization code is itself a short-lived signed token (60 s) rather than a row, so the
provider keeps no state; a replay within that minute is the one shortcut a real provider would not
take, and the gateway's own one-time sign-in state still makes each code usable for one sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Collection
from typing import Any, Final

from cryptography.hazmat.primitives import serialization

from gateway.config import Settings
from gateway.errors import GatewayError, SignInFailed, ValidationFailed
from gateway.exchange import TokenVerifier, VerificationKey, sign
from gateway.services.admins import ROLES
from gateway.services.dev_idp import DevIdentityProvider

__all__ = [
    "DEV_STAFF_CLIENT_ID",
    "DEV_STAFF_IDP_ISSUER",
    "DEV_STAFF_PATH",
    "DevStaffIdentityProvider",
]

DEV_STAFF_IDP_ISSUER: Final = "https://dev-staff-idp.score-gateway.invalid"
DEV_STAFF_CLIENT_ID: Final = "sx-score-console-dev"
DEV_STAFF_PATH: Final = "/dev-idp/staff"
_CODE_TYP: Final = "dev-staff-code+jwt"
_CODE_LIFETIME: Final = 60
_ID_TOKEN_LIFETIME: Final = 300


def s256(verifier: str) -> str:
    """RFC 7636 S256: the code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DevStaffIdentityProvider(DevIdentityProvider):
    """The development staff IdP. Shares the resident dev IdP's key handling, in its own directory."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)  # refuses production mode
        self._directory = settings.data_dir / "dev-staff-idp"
        self._code_verifier = TokenVerifier(
            typ=_CODE_TYP,
            audience=DEV_STAFF_IDP_ISSUER,
            issuer=DEV_STAFF_IDP_ISSUER,
            algorithms=frozenset({"ES256"}),
            required_claims=frozenset({"sub", "exp", "iat", "roles", "nonce", "cc", "ru", "cid"}),
            max_lifetime=_CODE_LIFETIME,
            kind="dev_staff_code",
        )

    def __repr__(self) -> str:
        return "DevStaffIdentityProvider(<development>)"

    @property
    def issuer(self) -> str:
        return DEV_STAFF_IDP_ISSUER

    @property
    def audience(self) -> str:
        return DEV_STAFF_CLIENT_ID

    def client_secret(self) -> str:
        """The console's client secret at this provider, derived from the key (both ends are this process)."""
        private = self.signing_key().private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return hmac.new(private, b"sx-dev-staff-idp/client-secret", hashlib.sha256).hexdigest()

    def verification_keys(self) -> dict[str, VerificationKey]:
        key = self.signing_key()
        return {key.kid: key.verification_key()}

    def authorization_code(
        self,
        *,
        name: str,
        roles: Collection[str],
        client_id: str,
        redirect_uri: str,
        nonce: str,
        code_challenge: str,
        code_challenge_method: str,
    ) -> str:
        """What the sign-in page hands back to the redirect URI once a name and roles are picked."""
        name = name.strip()
        if not name or len(name) > 64 or not name.isprintable():
            raise ValidationFailed("A staff name has 1 to 64 printable characters.")
        if not set(roles) <= ROLES:
            raise ValidationFailed("Unknown role.")
        if client_id != DEV_STAFF_CLIENT_ID or code_challenge_method != "S256" or not 43 <= len(code_challenge) <= 128:
            raise ValidationFailed("The request is not from the console (client id, PKCE S256).")
        now = int(time.time())
        claims = {
            "iss": DEV_STAFF_IDP_ISSUER,
            "aud": DEV_STAFF_IDP_ISSUER,
            "sub": name,
            "iat": now,
            "exp": now + _CODE_LIFETIME,
            "jti": secrets.token_urlsafe(12),
            "roles": sorted(set(roles)),
            "nonce": nonce,
            "cc": code_challenge,
            "ru": redirect_uri,
            "cid": client_id,
        }
        return sign(claims, self.signing_key(), _CODE_TYP)

    def token(
        self, *, code: str, client_id: str, client_secret: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        """The token endpoint: checks the client, the code, the redirect URI and PKCE; issues an ID token.

        :raises SignInFailed: any check failing (one answer for all, as OAuth's ``invalid_grant``).
        """
        if client_id != DEV_STAFF_CLIENT_ID or not hmac.compare_digest(client_secret, self.client_secret()):
            raise SignInFailed("The client is not known.", reason="invalid_client")
        try:
            claims = self._code_verifier.verify(code, self.verification_keys()).claims
        except GatewayError:  # every bad code is the same invalid_grant
            raise SignInFailed("The code is not valid.", reason="invalid_grant") from None
        if (
            claims["cid"] != client_id
            or claims["ru"] != redirect_uri
            or not hmac.compare_digest(s256(code_verifier), str(claims["cc"]))
        ):
            raise SignInFailed("The code is not valid.", reason="invalid_grant")
        now = int(time.time())
        id_token = sign(
            {
                "iss": DEV_STAFF_IDP_ISSUER,
                "aud": client_id,
                "sub": claims["sub"],
                "name": claims["sub"],
                "iat": now,
                "exp": now + _ID_TOKEN_LIFETIME,
                "nonce": claims["nonce"],
                self._settings.staff_idp_roles_claim: claims["roles"],
            },
            self.signing_key(),
            "JWT",
        )
        return {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }
