"""A DEVELOPMENT identity provider: stands in for the real-name IdP in the demo and the tests.

Measure 一(一) makes real-name authentication the precondition of everything a resident does, so
the resident endpoints only accept ID tokens of an identity provider. A fresh checkout has none;
this one signs OpenID-Connect-shaped ID tokens with an ES256 key kept in
``data_dir/dev-idp/`` so that the demo and the tests can log residents in. It authenticates
nobody — whoever can run it can mint a token for any ID number — which is why it refuses to exist
in production mode and why its issuer lives under the reserved ``.invalid`` top-level domain.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from typing import Any, Final

from cryptography.hazmat.primitives import serialization

from gateway.config import Settings
from gateway.errors import ConfigurationError, ValidationFailed
from gateway.exchange import (
    SigningKey,
    generate_signing_key,
    jwks_document,
    read_signing_key,
    sign,
    write_signing_key,
)
from gateway.exchange.errors import KeyMaterialError
from gateway.scoring.resident_id import parse_resident_id

__all__ = [
    "DEV_IDP_AUDIENCE",
    "DEV_IDP_ISSUER",
    "DevIdentityProvider",
    "dev_idp_token_command",
]

DEV_IDP_ISSUER: Final = "https://dev-idp.score-gateway.invalid"
DEV_IDP_AUDIENCE: Final = "sx-score-gateway-residents"
DEV_IDP_TYP: Final = "JWT"
_KEY_FILE: Final = "signing-key.pem"
_MAX_LIFETIME: Final = 24 * 3600  # generous, so tests can mint over-long tokens the gateway refuses


class DevIdentityProvider:
    """Issues development ID tokens. The key is generated on first use and reused afterwards.

    :raises ConfigurationError: in production mode.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.development:
            raise ConfigurationError("The development identity provider is refused in production.")
        self._settings = settings
        self._directory = settings.data_dir / "dev-idp"
        self._lock = threading.Lock()
        self._key: SigningKey | None = None

    def __repr__(self) -> str:
        return "DevIdentityProvider(<development>)"

    @property
    def issuer(self) -> str:
        return DEV_IDP_ISSUER

    @property
    def audience(self) -> str:
        return DEV_IDP_AUDIENCE

    @property
    def typ(self) -> str:
        return DEV_IDP_TYP

    def signing_key(self) -> SigningKey:
        """The IdP's key: read from ``data_dir/dev-idp/`` or generated there (0600) on first use."""
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
            return self._key

    def _load_or_create(self) -> SigningKey:
        path = self._directory / _KEY_FILE
        if path.exists():
            return read_signing_key(path)
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = generate_signing_key("ES256")
        try:
            # write_signing_key links a complete file into place and never replaces one, so two
            # processes starting at once cannot clobber each other: the loser reads the winner's.
            write_signing_key(key, path)
        except KeyMaterialError:
            if not path.exists():
                raise
            return read_signing_key(path)
        return key

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set the gateway verifies development ID tokens against."""
        return jwks_document([self.signing_key()])

    def _subject(self, normalised_id: str) -> str:
        # A stable, opaque subject per person, as a real IdP gives: an HMAC under a secret derived
        # from the private key, so the subject can neither reveal nor be recomputed from the number.
        secret = hashlib.sha256(
            b"sx-dev-idp/subject\x00"
            + self.signing_key().private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ).digest()
        return "dev-" + hmac.new(secret, normalised_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def issue_id_token(self, id_number: str, name: str, *, lifetime: int = 600, now: float | None = None) -> str:
        """A signed ID token carrying ``id_number`` and ``name`` in the claims the gateway reads.

        The number is deliberately not validated here, so that tests can check that the gateway
        refuses a validly signed token with an invalid number; :func:`dev_idp_token_command` does
        validate it.
        """
        if not 0 < lifetime <= _MAX_LIFETIME:
            raise ValueError("lifetime must be between 1 second and 24 hours")
        issued = int(time.time() if now is None else now)
        settings = self._settings
        claims = {
            "iss": DEV_IDP_ISSUER,
            "aud": DEV_IDP_AUDIENCE,
            "sub": self._subject(id_number.strip().upper()),
            "iat": issued,
            "exp": issued + lifetime,
            settings.resident_idp_id_claim: id_number,
            settings.resident_idp_name_claim: name,
        }
        return sign(claims, self.signing_key(), DEV_IDP_TYP)


def dev_idp_token_command(settings: Settings, id_number: str, name: str) -> str:
    """``gateway dev-idp token``: a development ID token for a (synthetic) resident.

    :raises ConfigurationError: in production mode, or when a real identity provider is
        configured (the gateway would not accept the token).
    :raises InvalidResidentId: when the number breaks GB 11643 (the number is never echoed).
    :raises ValidationFailed: when the name is empty.
    """
    provider = DevIdentityProvider(settings)
    if not settings.dev_idp_enabled:
        raise ConfigurationError(
            "A real identity provider is configured; the gateway does not accept development ID tokens."
        )
    parse_resident_id(id_number)
    if not name.strip():
        raise ValidationFailed("A development ID token needs a name.")
    return provider.issue_id_token(id_number, name)
