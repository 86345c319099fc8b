"""A DEVELOPMENT staff identity provider: an OpenID provider for the console's sign-in.

Production staff sign in at the office's identity provider (``GATEWAY_STAFF_IDP_ISSUER``) with the
authorization code flow and PKCE. So that the demo and the browser tests run that very code path,
development mode serves a small provider of its own under ``/dev-idp/staff/``: a sign-in page where
anybody picks a name and roles (it authenticates nobody — hence development only), an authorization
code, a token endpoint that checks the client secret, the redirect URI and the PKCE verifier, and
real ES256-signed ID tokens. Its issuer lives under the reserved ``.invalid`` top-level domain and
its key in ``data_dir/dev-staff-idp/``. The constructor refuses production mode.

The authorization code is short-lived sealed data (AES-GCM, 60 s) rather than a row, so the
provider keeps no state and the code is as opaque in the callback URL (and so in an access log) as
a real provider's. A replay within that minute is the one shortcut a real provider would not take;
the gateway's own one-time sign-in state still makes each code usable for one sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Collection
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.config import Settings
from gateway.errors import SignInFailed, ValidationFailed
from gateway.exchange import VerificationKey, sign
from gateway.services.admin.admins import ROLES
from gateway.services.residents.dev_idp import DevIdentityProvider

__all__ = [
    "DEV_STAFF_CLIENT_ID",
    "DEV_STAFF_IDP_ISSUER",
    "DEV_STAFF_PATH",
    "DevStaffIdentityProvider",
]

DEV_STAFF_IDP_ISSUER: Final = "https://dev-staff-idp.score-gateway.invalid"
DEV_STAFF_CLIENT_ID: Final = "sx-score-console-dev"
DEV_STAFF_PATH: Final = "/dev-idp/staff"
_CODE_TYP: Final = "sx-dev-staff-idp/code"
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
        return hmac.new(self._private_der(), b"sx-dev-staff-idp/client-secret", hashlib.sha256).hexdigest()

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
        return self._seal(claims)

    def _code_key(self) -> bytes:
        return hmac.new(self._private_der(), b"sx-dev-staff-idp/code-key", hashlib.sha256).digest()

    def _private_der(self) -> bytes:
        return self.signing_key().private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def _seal(self, claims: dict[str, Any]) -> str:
        # Opaque, like a real provider's code: the name and roles must not show in the callback URL
        # (and so in an access log). AES-GCM under a key derived from the provider's private key.
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._code_key()).encrypt(nonce, json.dumps(claims).encode(), _CODE_TYP.encode())
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def _open(self, code: str) -> dict[str, Any]:
        try:
            raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
            claims = json.loads(AESGCM(self._code_key()).decrypt(raw[:12], raw[12:], _CODE_TYP.encode()))
        except (ValueError, InvalidTag):
            raise SignInFailed("The code is not valid.", reason="invalid_grant") from None
        if not isinstance(claims, dict) or not time.time() < claims.get("exp", 0):
            raise SignInFailed("The code is not valid.", reason="invalid_grant")
        return claims

    def token(
        self, *, code: str, client_id: str, client_secret: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        """The token endpoint: checks the client, the code, the redirect URI and PKCE; issues an ID token.

        :raises SignInFailed: any check failing (one answer for all, as OAuth's ``invalid_grant``).
        """
        if client_id != DEV_STAFF_CLIENT_ID or not hmac.compare_digest(client_secret, self.client_secret()):
            raise SignInFailed("The client is not known.", reason="invalid_client")
        claims = self._open(code)
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
