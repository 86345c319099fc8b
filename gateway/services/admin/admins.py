"""Administrators and officers of the credit office: role-based tokens.

Roles: ``mapping_admin`` (tier schemes and crosswalks), ``partner_admin`` (partners),
``credit_officer`` (scores, self-reports, objections, credit repair), ``auditor`` (read-only
audit). A token is a JWT (``typ`` ``admin+jwt``) signed with the gateway's own keys, so every
process can check it; in development mode ``gateway admin token`` issues one. Officers' API keys
(``gateway credentials create officer``) still work and carry the ``credit_officer`` role.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from gateway.config import Settings
from gateway.errors import ConfigurationError, PermissionDenied, ValidationFailed
from gateway.exchange import SUPPORTED_ALGORITHMS, TokenVerifier, sign
from gateway.services.exchange.keyring import Keyring

__all__ = ["ADMIN_TOKEN_TYP", "ROLES", "AdminPrincipal", "AdminTokens"]

ADMIN_TOKEN_TYP = "admin+jwt"  # noqa: S105 - a media type, not a secret
ROLES = frozenset(
    {"mapping_admin", "partner_admin", "credit_officer", "auditor", "model_admin"}
)  # model_admin: issue 16
_MAX_LIFETIME = 8 * 3600


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    name: str
    roles: frozenset[str]

    def require(self, role: str) -> None:
        if role not in self.roles:
            raise PermissionDenied(f"This needs the {role} role.", required_role=role)


class AdminTokens:
    def __init__(self, settings: Settings, keyring: Keyring) -> None:
        self._settings = settings
        self._keyring = keyring
        self._audience = f"{settings.issuer}/admin"
        self._verifier = TokenVerifier(
            typ=ADMIN_TOKEN_TYP,
            audience=self._audience,
            issuer=settings.issuer,
            algorithms=SUPPORTED_ALGORITHMS,
            required_claims=frozenset({"iss", "sub", "aud", "exp", "iat", "jti", "roles"}),
            max_lifetime=_MAX_LIFETIME,
            kind="admin_token",
            refuse_high_s=True,  # the gateway signs its tokens in low-S form only
        )

    def issue(self, name: str, roles: list[str], *, lifetime: int = 3600) -> str:
        """A development-mode admin token (production uses the identity provider's role claims)."""
        if not self._settings.development:
            raise ConfigurationError("`gateway admin token` is for development mode only.")
        unknown = sorted(set(roles) - ROLES)
        if unknown or not roles:
            raise ValidationFailed(f"Roles must be among {', '.join(sorted(ROLES))}.")
        if not name or len(name) > 64:
            raise ValidationFailed("An administrator name has 1 to 64 characters.")
        now = int(time.time())
        claims = {
            "iss": self._settings.issuer,
            "sub": name,
            "aud": self._audience,
            "iat": now,
            "exp": now + min(lifetime, _MAX_LIFETIME),
            "jti": secrets.token_urlsafe(12),
            "roles": sorted(set(roles)),
        }
        return sign(claims, self._keyring.signing_key(), ADMIN_TOKEN_TYP)

    def authenticate(self, token: str) -> AdminPrincipal:
        claims = self._verifier.verify(token, self._keyring.verification_keys()).claims
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise PermissionDenied("The token carries no valid roles.")
        return AdminPrincipal(name=str(claims["sub"]), roles=frozenset(roles) & ROLES)
