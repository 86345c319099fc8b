"""Partner cities' side of recognition tests: their assertions, their status lists, their HTTP server.

Assertions are signed with the partners' fixture keys (``tests/fixtures/partner-keys``) exactly as
a city platform would; a :class:`FakePartner` answers the gateway's HTTP fetches (JWKS, status
lists) through ``httpx.MockTransport`` and counts them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gateway.exchange import (
    TYP_SCORE_ASSERTION,
    TYP_STATUS_LIST,
    SigningKey,
    StatusList,
    build_status_list_token_claims,
    jwks_document,
    sign,
)
from tests.support.partners import partner_key

CITIES: dict[str, dict[str, Any]] = {
    "hangzhou-credit": {
        "issuer": "https://credit.hangzhou.example",
        "scheme": "hangzhou-credit/1",
        "jurisdiction": {"city": "330100", "province": "330000", "name": {"zh": "杭州市", "en": "Hangzhou"}},
    },
    "wenzhou-credit": {
        "issuer": "https://credit.wenzhou.example",
        "scheme": "wenzhou-credit/1",
        "jurisdiction": {"city": "330300", "province": "330000", "name": {"zh": "温州市", "en": "Wenzhou"}},
    },
    "huzhou-credit": {
        "issuer": "https://credit.huzhou.example",
        "scheme": "huzhou-credit/1",
        "jurisdiction": {"city": "330500", "province": "330000", "name": {"zh": "湖州市", "en": "Huzhou"}},
    },
}
HANGZHOU_JWKS_URI = "https://credit.hangzhou.example/.well-known/jwks.json"


def city_claims(
    city: str,
    audience: str,
    tier_code: str,
    *,
    purpose: str = "loan_discount",
    lifetime: int = 3600,
    score: int | None = None,
    status: tuple[str, int] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Claims of an honest score assertion of ``city`` about one person, addressed to ``audience``.

    An override of ``None`` removes the claim.
    """
    info = CITIES[city]
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": info["issuer"],
        "sub": secrets.token_urlsafe(32)[:43],
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(18),
        "purpose": purpose,
        "tier": {"scheme": info["scheme"], "code": tier_code, "label": {"zh": "档", "en": tier_code}},
        "regional_tier": {"scheme": "yrd-common/1", "level": "fair", "crosswalk": {"id": "city-own", "version": "1"}},
        "score_as_of": now - 3600,
        "consent": "cns_" + secrets.token_urlsafe(12),
        "jurisdiction": info["jurisdiction"],
    }
    if score is not None:
        claims["score"] = {"value": score, "max": 1000, "model": "city-2026"}
    if status is not None:
        claims["status"] = {"status_list": {"uri": status[0], "idx": status[1]}}
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def city_assertion(city: str, audience: str, tier_code: str, *, key: SigningKey | None = None, **kwargs: Any) -> str:
    return sign(city_claims(city, audience, tier_code, **kwargs), key or partner_key(city), TYP_SCORE_ASSERTION)


def status_list_token(
    city: str,
    uri: str,
    statuses: Mapping[int, int],
    *,
    key: SigningKey | None = None,
    iat: int | None = None,
    exp: int | None = None,
    ttl: int | None = 60,
    sub: str | None = None,
) -> str:
    """A signed 2-bit status list of ``city`` (every index VALID but those in ``statuses``)."""
    lst = StatusList(2, 1024)
    for idx, value in statuses.items():
        lst.set(idx, value)
    now = int(time.time())
    issued = now if iat is None else iat
    claims = build_status_list_token_claims(
        sub or uri, lst, issued, issued + 3600 if exp is None else exp, ttl, iss=CITIES[city]["issuer"]
    )
    return sign(claims, key or partner_key(city), TYP_STATUS_LIST)


Reply = httpx.Response | Exception | Callable[[], httpx.Response]


class FakePartner:
    """A city platform's web server: routes by URL, counts every request per URL.

    A route's reply may be a response, an exception to raise (the partner is down), or a callable
    building the response at request time (a key set that rotates).
    """

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.hits: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.hits[url] = self.hits.get(url, 0) + 1
        reply = self.routes.get(url)
        if reply is None:
            return httpx.Response(404)
        if isinstance(reply, Exception):
            raise reply
        return reply() if callable(reply) else reply

    def serve_jwks(self, url: str, *keys: SigningKey) -> None:
        self.routes[url] = httpx.Response(200, json=jwks_document(keys))

    def serve_token(self, url: str, token: str) -> None:
        self.routes[url] = httpx.Response(200, content=token, headers={"Content-Type": "application/statuslist+jwt"})

    def down(self, url: str) -> None:
        self.routes[url] = httpx.ConnectError("connection refused")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class Clock:
    """A settable monotonic clock for the JWKS cache's cool-down and ttl."""

    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


async def no_sleep(_: float) -> None:
    """Retries back off without waiting in tests."""
