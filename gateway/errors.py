"""The gateway's one exception tree.

Every error the gateway can report to a caller is a :class:`GatewayError` with a stable machine
code, a fixed human title and an HTTP status. The HTTP edge renders them as RFC 9457 problem
details in one place (``gateway.api.problems``); the CLI prints code and detail. Details are
written by us, never copied from ``str(exception)`` of a library, so no path, token, ID number or
raw input can leak through them.

    GatewayError
    ├── ConfigurationError            500 configuration_error
    ├── InvalidScoringModel           500 invalid_scoring_model
    ├── InvalidCatalogue              500 invalid_catalogue
    ├── BadRequest                    400 bad_request
    │   ├── MalformedBody             400 malformed_body
    │   ├── UnsupportedMediaType      415 unsupported_media_type
    │   └── PayloadTooLarge           413 payload_too_large
    ├── ValidationFailed              422 validation_failed
    │   └── InvalidResidentId         422 invalid_id_number
    ├── AuthenticationRequired        401 unauthenticated
    ├── PermissionDenied              403 forbidden
    ├── NotFound                      404 not_found
    ├── Conflict                      409 conflict
    └── ServiceUnavailable            503 unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationRequired",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "GatewayError",
    "InvalidCatalogue",
    "InvalidResidentId",
    "InvalidScoringModel",
    "InvalidText",
    "MalformedBody",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ServiceUnavailable",
    "UnsupportedMediaType",
    "ValidationFailed",
]


class GatewayError(Exception):
    """Root of every error the gateway reports.

    ``code`` is stable and machine-readable; ``title`` is fixed per class; ``detail`` is an
    occurrence-specific sentence written by the gateway; ``extensions`` become extra members of
    the problem document (they must never hold secrets or personal data).
    """

    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions


class ConfigurationError(GatewayError):
    code = "configuration_error"
    title = "The gateway is not configured correctly"


class InvalidScoringModel(GatewayError):
    code = "invalid_scoring_model"
    title = "The scoring model document is invalid"


class InvalidCatalogue(GatewayError):
    code = "invalid_catalogue"
    title = "The information catalogue document is invalid"


class BadRequest(GatewayError):
    code = "bad_request"
    title = "The request is not acceptable"
    status = 400


class MalformedBody(BadRequest):
    code = "malformed_body"
    title = "The request body could not be parsed"


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"
    title = "The request body has an unsupported media type"
    status = 415


class PayloadTooLarge(BadRequest):
    code = "payload_too_large"
    title = "The request body is larger than allowed"
    status = 413


class ValidationFailed(GatewayError):
    code = "validation_failed"
    title = "The request did not pass validation"
    status = 422


class InvalidResidentId(ValidationFailed):
    """A resident ID number that breaks GB 11643-1999.

    ``reason`` is one of ``length``, ``format``, ``region``, ``birth_date``, ``check_digit``; the
    number itself is never part of the error.
    """

    code = "invalid_id_number"
    title = "The resident ID number is not valid"

    def __init__(self, reason: str) -> None:
        super().__init__(_ID_REASONS.get(reason, "The ID number is not valid."), reason=reason)
        self.reason = reason


_ID_REASONS = {
    "length": "An ID number has 18 characters.",
    "format": "An ID number is 17 digits followed by a digit or X.",
    "region": "The ID number does not start with a valid administrative division code.",
    "birth_date": "The birth date encoded in the ID number is impossible.",
    "check_digit": "The check digit of the ID number does not match (GB 11643-1999).",
}


class AuthenticationRequired(GatewayError):
    code = "unauthenticated"
    title = "Authentication is required"
    status = 401


class PermissionDenied(GatewayError):
    code = "forbidden"
    title = "The request is not permitted"
    status = 403


class NotFound(GatewayError):
    code = "not_found"
    title = "The resource does not exist"
    status = 404


class Conflict(GatewayError):
    code = "conflict"
    title = "The request conflicts with the current state"
    status = 409


class ServiceUnavailable(GatewayError):
    code = "unavailable"
    title = "The service is not available"
    status = 503


# --- issue 14 ---


class InvalidWorkingCalendar(GatewayError):
    code = "invalid_working_calendar"
    title = "The working-day calendar file is not valid"


class WorkingCalendarYearMissing(ServiceUnavailable):
    """A working-day deadline would fall into (or pass through) a year the calendar has no official
    notice for. The gateway refuses rather than guess; the credit office adds the year's notice."""

    code = "working_calendar_year_missing"
    title = "The working-day calendar has no official data for this year"


# --- issue 16 ---


class DocumentRejected(ValidationFailed):
    """A governed document (programme, scoring model, catalogue) drafted through the API or the CLI
    breaks its schema or a semantic rule; the detail names the rule (never personal data)."""

    code = "document_invalid"
    title = "The document breaks its schema or a rule"


# --- issue 11 ---
class CsrfRejected(PermissionDenied):
    code = "csrf_rejected"
    title = "The form's anti-forgery token is missing or wrong"


class SessionExpired(AuthenticationRequired):
    code = "session_expired"
    title = "The session has ended; sign in again"


class SignInFailed(AuthenticationRequired):
    code = "sign_in_failed"
    title = "The sign-in could not be completed"


class StaffIdpNotConfigured(ServiceUnavailable):
    code = "staff_idp_not_configured"
    title = "No staff identity provider is configured"


# --- issue 15 ---


class InvalidText(ValidationFailed):
    """A text field the gateway will not store: a lone surrogate, NUL or another control
    character, or (in a name) a bidirectional control or nothing but spaces. ``reason`` says
    which; the text itself is never part of the error."""

    code = "invalid_text"
    title = "A text field holds characters that are not allowed"


# --- issue 9 ---
# Residents' own acts: the scoring authorisation, notices, consent requests, the credit report.


class AuthorisationMissing(GatewayError):
    """A disclosure consent (or a consent request's approval) needs a live scoring authorisation."""

    code = "authorisation_missing"
    title = "No live authorisation to be scored"
    status = 409


class NoticeVersionUnknown(ValidationFailed):
    code = "notice_version_unknown"
    title = "The notice or its version is not one the gateway published"


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    title = "No notice has this id and version"


# --- issue 13 ---
class IdempotencyKeyInvalid(GatewayError):
    code = "idempotency_key_invalid"
    title = "The Idempotency-Key header is not valid"
    status = 400


class IdempotencyKeyReused(GatewayError):
    code = "idempotency_key_reused"
    title = "The Idempotency-Key was used with another request body"
    status = 422


class IdempotencyInProgress(GatewayError):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still being processed"
    status = 409


class RateLimited(GatewayError):
    code = "rate_limited"
    title = "Too many requests"
    status = 429


# --- issue 10 --- the credit code (SD-JWT VC issuance and presentation requests)


class CredentialRefused(PermissionDenied):
    """OpenID4VCI ``credential_request_denied``: the resident is unknown, ineligible or without a
    current score — one wording for all."""

    code = "credential_request_denied"
    title = "No credit code can be issued"


class InvalidProof(BadRequest):
    """OpenID4VCI ``invalid_proof``: the key proof is missing or fails a check."""

    code = "invalid_proof"
    title = "The key proof is not acceptable"


class InvalidNonce(BadRequest):
    """OpenID4VCI ``invalid_nonce``: unknown, expired or already used; fetch a new one."""

    code = "invalid_nonce"
    title = "The key proof's nonce is not a fresh one from the nonce endpoint"


class UnsupportedCredentialConfiguration(BadRequest):
    code = "unknown_credential_configuration"
    title = "The credential configuration is not offered"


class ClaimNotRequestable(ValidationFailed):
    code = "claim_not_requestable"
    title = "A requested claim is not one the credit code can disclose to this verifier"


class PresentationRequestNotFound(NotFound):
    code = "presentation_request_not_found"
    title = "The presentation request does not exist"


class PresentationRequestExpired(GatewayError):
    code = "presentation_request_expired"
    title = "The presentation request has expired"
    status = 410


class PresentationRequestAnswered(Conflict):
    """The request's nonce was used: a second answer would be a replay."""

    code = "presentation_request_answered"
    title = "The presentation request has already been answered"


# --- issue 11 (resident page sign-in) ---


class ResidentSignInNotConfigured(ServiceUnavailable):
    code = "resident_sign_in_not_configured"
    title = "Resident sign-in to the pages is not configured"


# --- issue 11 (the credit code in the residents' pages) ---


class OfflineCodeRejected(ValidationFailed):
    """The page's script asked for the QR code of something that is not an SD-JWT presentation."""

    code = "offline_code_rejected"
    title = "This is not a presentation of the credit code"
