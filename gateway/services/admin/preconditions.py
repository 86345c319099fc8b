"""What every administrator's change must carry: the version it applies to (an ETag in
``If-Match``, RFC 9110 §13.1.1) and a reason for the audit log.

Every administered resource (a crosswalk, a partner's override) carries a ``row_version`` counter;
its ETag is that counter, quoted. A change must send the ETag it last read in ``If-Match``: a
stale one is refused with 412 and the current ETag, a missing one with 428, so that two
administrators working on the same resource cannot overwrite each other's change unseen.
``If-Match: *`` is refused like a missing header, because it would match whatever is current.
Creating a resource that does not exist yet uses ``If-None-Match: *`` instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.errors import GatewayError, ValidationFailed

__all__ = [
    "PreconditionFailed",
    "PreconditionRequired",
    "check_if_match",
    "check_if_none_match",
    "etag",
    "require_reason",
]


class PreconditionFailed(GatewayError):
    code = "precondition_failed"
    title = "The resource changed since it was read"
    status: ClassVar[int] = 412


class PreconditionRequired(GatewayError):
    code = "precondition_required"
    title = "The change must name the version it applies to"
    status: ClassVar[int] = 428


def etag(row_version: int) -> str:
    return f'"r{row_version}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def check_if_match(header: str | None, row_version: int, **current: Any) -> None:
    """Admit the change only when ``If-Match`` names the current ETag.

    :raises PreconditionRequired: no usable ``If-Match`` (missing, empty or ``*``).
    :raises PreconditionFailed: the ETag is not the current one; ``current`` (and the current
        ETag) go into the problem so the client can re-read and decide.
    """
    tags = _tags(header or "")
    if not tags or tags == ["*"]:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the resource as last read.", current_etag=etag(row_version), **current
        )
    # Strong comparison: a weak tag (W/"…") never matches.
    if etag(row_version) not in tags:
        raise PreconditionFailed(
            "Another change was made since this one was prepared; re-read the resource and retry.",
            current_etag=etag(row_version),
            **current,
        )


def check_if_none_match(header: str | None) -> bool:
    """True when the request asks to create a resource only if none exists (``If-None-Match: *``)."""
    return _tags(header or "") == ["*"]


def require_reason(reason: str) -> str:
    """:raises ValidationFailed: a blank or overlong reason (it is kept in the audit log)."""
    text = reason.strip()
    if not text or len(text) > 1000:
        raise ValidationFailed("Give a reason for the change (1 to 1000 characters).")
    return text
