"""Errors of the exchange library: one class, one stable code, per failed check.

Every class derives from :class:`gateway.errors.GatewayError`, so the HTTP edge renders them
with the same RFC 9457 handler as the rest of the gateway. Extensions carry only the name of
the check, the claim or header *name*, expected values that are our own configuration, and the
token kind — never the token, a claim value, a key or anything a partner could put personal
data into.

    GatewayError
    ├── InvalidToken                      401 invalid_token
    │   ├── TokenMalformed                401 token_malformed
    │   ├── ForbiddenHeader               401 forbidden_header
    │   ├── UnsupportedCriticalHeader     401 unsupported_critical_header
    │   ├── TokenTypeMismatch             401 token_type_mismatch
    │   ├── AlgorithmNotAllowed           401 algorithm_not_allowed
    │   ├── UnknownKey                    401 unknown_key
    │   ├── BadSignature                  401 bad_signature
    │   ├── MissingClaim                  401 missing_claim
    │   ├── InvalidClaim                  401 invalid_claim
    │   ├── TokenExpired                  401 token_expired
    │   ├── TokenNotYetValid              401 token_not_yet_valid
    │   ├── TokenIssuedInFuture           401 token_issued_in_future
    │   ├── LifetimeTooLong               401 lifetime_too_long
    │   ├── IssuerMismatch                401 issuer_mismatch
    │   ├── AudienceMismatch              401 audience_mismatch
    │   ├── SubjectMismatch               401 subject_mismatch
    │   ├── JtiReplayed                   401 jti_replayed
    │   ├── UnknownClient                 401 unknown_client   (OAuth invalid_client)
    │   └── StatusListInvalid             401 status_list_invalid
    ├── ConfigurationError
    │   └── KeyMaterialError              500 invalid_key_material
    └── ServiceUnavailable
        ├── JwksUnavailable               503 jwks_unavailable
        ├── JwksInvalid                   502 jwks_invalid
        └── ReplayGuardUnavailable        503 replay_guard_unavailable

``oauth_error`` is the RFC 6749 / RFC 6750 error string the edge should put in
``WWW-Authenticate`` or a token-endpoint error body. Failures while verifying a *client
assertion* carry ``token_kind="client_assertion"`` so the edge can answer them all with
``invalid_client`` (RFC 6749 §5.2) while keeping the precise code for logs.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.errors import ConfigurationError, GatewayError, ServiceUnavailable

__all__ = [
    "AlgorithmNotAllowed",
    "AudienceMismatch",
    "BadSignature",
    "ForbiddenHeader",
    "InvalidClaim",
    "InvalidToken",
    "IssuerMismatch",
    "JtiReplayed",
    "JwksInvalid",
    "JwksUnavailable",
    "KeyMaterialError",
    "LifetimeTooLong",
    "MissingClaim",
    "ReplayGuardUnavailable",
    "StatusListInvalid",
    "SubjectMismatch",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenMalformed",
    "TokenNotYetValid",
    "TokenTypeMismatch",
    "UnknownClient",
    "UnknownKey",
    "UnsupportedCriticalHeader",
]


class InvalidToken(GatewayError):
    """Root of every rejection of a presented JWT (score assertion, client assertion, status list)."""

    code = "invalid_token"
    title = "The token is not acceptable"
    status = 401
    oauth_error: ClassVar[str] = "invalid_token"


class TokenMalformed(InvalidToken):
    code = "token_malformed"
    title = "The token is not a well-formed compact JWS"


class ForbiddenHeader(InvalidToken):
    """``jku``/``x5u``/``jwk``/``x5c``: the token tried to name its own key (RFC 8725 §3.10)."""

    code = "forbidden_header"
    title = "The token carries a header parameter that is never accepted"


class UnsupportedCriticalHeader(InvalidToken):
    code = "unsupported_critical_header"
    title = "The token declares a critical header extension that is not understood"


class TokenTypeMismatch(InvalidToken):
    code = "token_type_mismatch"
    title = "The token is not of the expected type"


class AlgorithmNotAllowed(InvalidToken):
    code = "algorithm_not_allowed"
    title = "The token's signature algorithm is not allowed"


class UnknownKey(InvalidToken):
    """The ``kid`` is missing or not in the key set. Callers may refresh the JWKS once and retry."""

    code = "unknown_key"
    title = "The token was signed with a key that is not known"


class BadSignature(InvalidToken):
    code = "bad_signature"
    title = "The token's signature is not valid"


class MissingClaim(InvalidToken):
    code = "missing_claim"
    title = "The token lacks a required claim"


class InvalidClaim(InvalidToken):
    code = "invalid_claim"
    title = "A claim of the token has an invalid form"


class TokenExpired(InvalidToken):
    code = "token_expired"
    title = "The token has expired"


class TokenNotYetValid(InvalidToken):
    code = "token_not_yet_valid"
    title = "The token is not valid yet"


class TokenIssuedInFuture(InvalidToken):
    code = "token_issued_in_future"
    title = "The token was issued in the future"


class LifetimeTooLong(InvalidToken):
    code = "lifetime_too_long"
    title = "The token is valid for longer than allowed"


class IssuerMismatch(InvalidToken):
    code = "issuer_mismatch"
    title = "The token was not issued by the expected issuer"


class AudienceMismatch(InvalidToken):
    code = "audience_mismatch"
    title = "The token is not intended for this audience"


class SubjectMismatch(InvalidToken):
    code = "subject_mismatch"
    title = "The token's subject is not the expected one"


class JtiReplayed(InvalidToken):
    code = "jti_replayed"
    title = "The token has already been used"


class UnknownClient(InvalidToken):
    code = "unknown_client"
    title = "The client is not registered or not enabled"
    oauth_error = "invalid_client"


class StatusListInvalid(InvalidToken):
    code = "status_list_invalid"
    title = "The status list is not valid"


class KeyMaterialError(ConfigurationError):
    """Our own key material (PEM file, generated key, JWK to thumbprint) is unusable."""

    code = "invalid_key_material"
    title = "The key material is not usable"


class JwksUnavailable(ServiceUnavailable):
    code = "jwks_unavailable"
    title = "The partner's key set could not be fetched"


class JwksInvalid(ServiceUnavailable):
    code = "jwks_invalid"
    title = "The partner's key set is not a usable JWK Set"
    status = 502


class ReplayGuardUnavailable(ServiceUnavailable):
    """The ``jti`` store failed; we fail closed rather than accept a possible replay."""

    code = "replay_guard_unavailable"
    title = "Replay protection is not available"


# --- issue 10 --- SD-JWT VC presentations (RFC 9901, SD-JWT VC): one class per verifier check.
# The issuer-signed JWT's own checks reuse the classes above (token_type_mismatch,
# bad_signature, token_expired, token_not_yet_valid, unknown_key …).


class PresentationTooLarge(InvalidToken):
    code = "presentation_too_large"
    title = "The presentation exceeds the size or disclosure-count limit"


class PresentationMalformed(InvalidToken):
    code = "presentation_malformed"
    title = "The presentation is not a well-formed SD-JWT"


class CredentialIssuerNotTrusted(InvalidToken):
    code = "credential_issuer_not_trusted"
    title = "The credential's issuer is not a trusted issuer"


class CredentialTypeUnknown(InvalidToken):
    code = "credential_type_unknown"
    title = "The credential's vct is not a known credential type"


class SdAlgNotAllowed(InvalidToken):
    code = "sd_alg_not_allowed"
    title = "The credential's _sd_alg is not an allowed hash algorithm"


class CredentialRevoked(InvalidToken):
    code = "credential_revoked"
    title = "The credential's status is not valid (revoked, suspended or superseded)"


class DisclosureMalformed(InvalidToken):
    code = "disclosure_malformed"
    title = "A disclosure is not a well-formed SD-JWT disclosure"


class DisclosureDuplicated(InvalidToken):
    code = "disclosure_duplicated"
    title = "A disclosure or a digest appears more than once"


class DisclosureUnreferenced(InvalidToken):
    code = "disclosure_unreferenced"
    title = "A disclosure's digest is not referenced by the credential"


class KeyBindingMissing(InvalidToken):
    code = "key_binding_missing"
    title = "The credential is holder-bound but the presentation has no KB-JWT"


class KeyBindingTypeMismatch(InvalidToken):
    code = "key_binding_type_mismatch"
    title = "The KB-JWT's typ is not kb+jwt"


class KeyBindingSignatureInvalid(InvalidToken):
    code = "key_binding_signature_invalid"
    title = "The KB-JWT is not signed by the credential's cnf key"


class KeyBindingAudienceMismatch(InvalidToken):
    code = "key_binding_audience_mismatch"
    title = "The KB-JWT is meant for another verifier"


class KeyBindingNonceMismatch(InvalidToken):
    code = "key_binding_nonce_mismatch"
    title = "The KB-JWT's nonce is not the expected, unused one"


class KeyBindingStale(InvalidToken):
    code = "key_binding_stale"
    title = "The KB-JWT's iat is outside the accepted window"


class SdHashMismatch(InvalidToken):
    code = "sd_hash_mismatch"
    title = "The KB-JWT's sd_hash does not cover the presented SD-JWT"


class DisclosureNotRequested(InvalidToken):
    """Over-disclosure is refused, not ignored: the verifier must not even hold what it did not ask."""

    code = "disclosure_not_requested"
    title = "The presentation discloses a claim the request did not ask for"
    status = 403


class RequestedClaimMissing(InvalidToken):
    code = "requested_claim_missing"
    title = "The presentation lacks a claim the request asked for"
    status = 403
