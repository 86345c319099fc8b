"""Delivering a consent request's answer to the partner's registered callback.

The body is a compact JWS, ``typ`` ``consent-request-result+jwt``, signed with the gateway's key
and verifiable with its JWKS like an assertion; ``aud`` is the partner, so no other party can
replay it as theirs. Delivery runs after the answer has committed (the answer never waits on a
partner's server), is retried with tenacity on network errors, 429 and 5xx — bounded in attempts
and time — and every attempt is logged in ``callback_attempts`` (status and outcome, no body).
Polling ``GET /v1/consent-requests/{id}`` always works, so a partner that missed the callback
loses nothing.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

import httpx
from sqlalchemy import insert
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateway.clock import utcnow
from gateway.exchange import sign
from gateway.services.context import Gateway
from gateway.services.residents.consent_requests import result_claims
from gateway.store.tables_residents import callback_attempts

__all__ = ["MAX_ATTEMPTS", "TYP_CONSENT_REQUEST_RESULT", "deliver_result", "signed_result"]

log = logging.getLogger(__name__)

TYP_CONSENT_REQUEST_RESULT: Final = "consent-request-result+jwt"
MAX_ATTEMPTS: Final = 3
_TIMEOUT: Final = httpx.Timeout(5.0)
_RESULT_LIFETIME: Final = 300


class _Retry(Exception):
    pass


def signed_result(gw: Gateway, row: Any) -> str:
    now = utcnow()
    claims = {
        "iss": gw.settings.issuer,
        "aud": row.partner_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + _RESULT_LIFETIME,
        "jti": secrets.token_urlsafe(18),
        **result_claims(row, now),
    }
    return sign(claims, gw.keyring.signing_key(), TYP_CONSENT_REQUEST_RESULT)


def _log(gw: Gateway, request_id: str, attempt: int, status: int | None, outcome: str) -> None:
    with gw.engine.begin() as conn:
        conn.execute(
            insert(callback_attempts).values(
                request_id=request_id, attempt=attempt, at=utcnow(), http_status=status, outcome=outcome
            )
        )


def deliver_result(
    gw: Gateway,
    row: Any,
    *,
    transport: httpx.BaseTransport | None = None,
    wait_seconds: float = 0.5,
) -> bool:
    """POST the signed answer to the request's callback; True once the partner took it (2xx)."""
    if not row.callback_uri:
        return False
    token = signed_result(gw, row)
    attempt = 0
    try:
        with httpx.Client(transport=transport, timeout=_TIMEOUT, follow_redirects=False) as client:
            for retrying in Retrying(
                stop=stop_after_attempt(MAX_ATTEMPTS),
                wait=wait_exponential(multiplier=wait_seconds, max=4 * wait_seconds),
                retry=retry_if_exception_type(_Retry),
                reraise=True,
            ):
                with retrying:
                    attempt += 1
                    try:
                        resp = client.post(row.callback_uri, content=token, headers={"Content-Type": "application/jwt"})
                    except httpx.HTTPError:
                        _log(gw, row.id, attempt, None, "network_error")
                        raise _Retry() from None
                    if 200 <= resp.status_code < 300:
                        _log(gw, row.id, attempt, resp.status_code, "delivered")
                        return True
                    _log(gw, row.id, attempt, resp.status_code, "http_error")
                    if resp.status_code == 429 or resp.status_code >= 500:
                        raise _Retry()
                    return False  # a 4xx will not change by retrying
    except _Retry:
        log.warning("consent-request callback for a request of %s not delivered", row.partner_id)
    return False
