"""The exchange library: keys, signing and verification of the gateway's JWTs.

Score assertions we issue, client assertions (``private_key_jwt``) partners authenticate with,
Token Status Lists for revocation, and partners' JWK Sets. No web framework or database is
imported here; errors are :class:`gateway.errors.GatewayError` subclasses (``errors.py``).
"""

from __future__ import annotations

from gateway.exchange.client_assertion import (
    CLIENT_ASSERTION_TYPE,
    AuthenticatedClient,
    ClientKeys,
    make_client_assertion,
    verify_client_assertion,
)
from gateway.exchange.jwks_fetch import JwksClient
from gateway.exchange.jws import sign
from gateway.exchange.keys import (
    SUPPORTED_ALGORITHMS,
    ParsedJwks,
    SigningKey,
    SkippedKey,
    VerificationKey,
    generate_signing_key,
    jwk_thumbprint,
    jwks_document,
    load_signing_key,
    parse_jwks,
    read_signing_key,
    write_signing_key,
)
from gateway.exchange.status_list import (
    Status,
    StatusList,
    StatusListToken,
    StatusReference,
    build_status_list_token_claims,
    status_list_verifier,
    verify_status_list_token,
)
from gateway.exchange.verify import (
    TYP_CLIENT_ASSERTION,
    TYP_SCORE_ASSERTION,
    TYP_STATUS_LIST,
    TokenVerifier,
    UnverifiedToken,
    VerifiedToken,
)

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "SUPPORTED_ALGORITHMS",
    "TYP_CLIENT_ASSERTION",
    "TYP_SCORE_ASSERTION",
    "TYP_STATUS_LIST",
    "AuthenticatedClient",
    "ClientKeys",
    "JwksClient",
    "ParsedJwks",
    "SigningKey",
    "SkippedKey",
    "Status",
    "StatusList",
    "StatusListToken",
    "StatusReference",
    "TokenVerifier",
    "UnverifiedToken",
    "VerificationKey",
    "VerifiedToken",
    "build_status_list_token_claims",
    "generate_signing_key",
    "jwk_thumbprint",
    "jwks_document",
    "load_signing_key",
    "make_client_assertion",
    "parse_jwks",
    "read_signing_key",
    "sign",
    "status_list_verifier",
    "verify_client_assertion",
    "verify_status_list_token",
    "write_signing_key",
]
