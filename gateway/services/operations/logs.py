"""Log lines an operator can ship: one JSON object per line in production, readable text in
development, each carrying the request id of the request that wrote it (issue 13, observability).

The gateway's own code never logs an ID number, a name, a token or a key; the formatter is a second
line of defence that blanks anything shaped like a resident ID number, a JWT or a PEM block, which
a library's message could otherwise carry.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

__all__ = ["REQUEST_ID", "JsonFormatter", "TextFormatter", "configure_logging", "current_request_id", "scrub"]

REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)

_SECRET_SHAPES = re.compile(
    r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])"  # GB 11643 resident ID numbers
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"  # compact JWS / JWT
    r"|-----BEGIN [A-Z ]+-----[\s\S]*?(?:-----END [A-Z ]+-----|$)"  # PEM key material
)


def scrub(text: str) -> str:
    return _SECRET_SHAPES.sub("[redacted]", text)


def current_request_id() -> str | None:
    return REQUEST_ID.get()


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception type."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: an exception's text may hold request data.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return scrub(super().format(record))


def configure_logging(fmt: str, level: str) -> None:
    """Install one stderr handler on the root logger (``fmt`` is ``json`` or ``text``); idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_gateway", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._gateway = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every outbound request (JWKS and status-list fetches) at INFO: noise in a server log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
