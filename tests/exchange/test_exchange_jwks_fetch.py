"""JwksClient over httpx.MockTransport: caching, refresh on unknown kid, stale-if-error, retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import httpx
import pytest

from gateway.errors import ConfigurationError
from gateway.exchange import JwksClient, SigningKey, TokenVerifier, jwks_document
from gateway.exchange.errors import JwksInvalid, JwksUnavailable, UnknownKey
from tests.exchange.exchange_support import AUDIENCE, Clock, Tokens

URI = "https://partner.example/.well-known/jwks.json"
T = TypeVar("T")
Reply = httpx.Response | Exception


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Partner:
    """A scripted JWKS endpoint: replies are consumed in order, the last one repeats."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)


def jwks(keys: Mapping[str, SigningKey], *names: str, extra: list[dict[str, Any]] | None = None) -> httpx.Response:
    document = jwks_document(keys[name] for name in names)
    document["keys"].extend(extra or [])
    return httpx.Response(200, json=document)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(partner: Partner, clock: Clock, sleeps: Sleeps | None = None, **options: Any) -> JwksClient:
    return JwksClient(transport=httpx.MockTransport(partner), now=clock, sleep=sleeps or Sleeps(), **options)


def using(jwks_client: JwksClient, action: Callable[[JwksClient], Coroutine[Any, Any, T]]) -> T:
    async def go() -> T:
        async with jwks_client:
            return await action(jwks_client)

    return run(go())


def test_whole_set_is_cached_for_its_ttl(test_keys: dict[str, SigningKey], clock: Clock) -> None:
    partner = Partner(jwks(test_keys, "partner-eddsa", "partner-ps256"))

    async def scenario(c: JwksClient) -> None:
        first = await c.get_keys(URI)
        clock.advance(299)
        assert await c.get_keys(URI) is first
        assert set(first) == {test_keys["partner-eddsa"].kid, test_keys["partner-ps256"].kid}
        clock.advance(1)
        partner.script(jwks(test_keys, "partner-eddsa"))
        assert await c.get_keys(URI) is first  # stale-while-revalidate: served while the refresh runs
        await c.settle()
        assert set(await c.get_keys(URI)) == {test_keys["partner-eddsa"].kid}

    using(client(partner, clock), scenario)
    assert len(partner.requests) == 2
    assert partner.requests[0].headers["accept"].startswith("application/jwk-set+json")


def test_unknown_kid_refreshes_at_most_once_per_cooldown(tokens: Tokens, clock: Clock) -> None:
    partner = Partner(jwks(tokens.keys, "partner-eddsa"))
    verifier = TokenVerifier(typ="score-assertion+jwt", audience=AUDIENCE, algorithms={"EdDSA", "ES256"}, now=clock)
    rotated = tokens.sign(tokens.claims(), "issuer-es256")
    stranger = tokens.sign(tokens.claims(), "client-es256")

    async def scenario(c: JwksClient) -> None:
        await c.get_keys(URI)
        clock.advance(31)
        partner.script(jwks(tokens.keys, "partner-eddsa", "issuer-es256"))
        assert (await c.verify(verifier, rotated, URI)).claims["aud"] == AUDIENCE
        for _ in range(5):
            with pytest.raises(UnknownKey):
                await c.verify(verifier, stranger, URI)
        clock.advance(30)
        with pytest.raises(UnknownKey):
            await c.verify(verifier, stranger, URI)

    using(client(partner, clock), scenario)
    assert len(partner.requests) == 3


def test_a_token_without_kid_does_not_trigger_a_refresh(tokens: Tokens, clock: Clock) -> None:
    partner = Partner(jwks(tokens.keys, "issuer-es256"))
    verifier = TokenVerifier(typ="score-assertion+jwt", audience=AUDIENCE, now=clock)
    token = tokens.forge({"kid": None}, tokens.claims())

    async def scenario(c: JwksClient) -> None:
        clock.advance(60)
        with pytest.raises(UnknownKey):
            await c.verify(verifier, token, URI)

    using(client(partner, clock), scenario)
    assert len(partner.requests) == 1


def test_stale_if_error_then_fail_after_max_staleness(test_keys: dict[str, SigningKey], clock: Clock) -> None:
    partner = Partner(jwks(test_keys, "partner-eddsa"))
    sleeps = Sleeps()

    async def scenario(c: JwksClient) -> None:
        good = await c.get_keys(URI)
        partner.script(httpx.Response(503))
        clock.advance(301)
        assert await c.get_keys(URI) is good  # served while the refresh runs in the background
        await c.settle()
        assert await c.get_keys(URI) is good  # refresh failed (3 attempts), last good set served
        assert len(partner.requests) == 4
        clock.advance(10)
        assert await c.get_keys(URI) is good  # within the cool-down: no new attempt
        assert len(partner.requests) == 4
        clock.advance(3600 - 311)
        assert await c.get_keys(URI) is good  # exactly max_stale old: still served (and refreshing)
        await c.settle()
        clock.advance(1)
        with pytest.raises(JwksUnavailable):
            await c.get_keys(URI)

    using(client(partner, clock, sleeps), scenario)
    assert len(partner.requests) == 7
    assert len(sleeps.waits) == 4 and all(0 <= w <= 2.0 for w in sleeps.waits)


def test_empty_cache_and_failing_fetch_fails_fast(clock: Clock) -> None:
    partner = Partner(httpx.ConnectTimeout("timed out"))
    sleeps = Sleeps()

    async def scenario(c: JwksClient) -> None:
        with pytest.raises(JwksUnavailable) as caught:
            await c.get_keys(URI)
        assert caught.value.extensions["reason"] == "transport"
        assert caught.value.status == 503
        with pytest.raises(JwksUnavailable):  # negative cache: no new request in the cool-down
            await c.get_keys(URI)

    using(client(partner, clock, sleeps), scenario)
    assert len(partner.requests) == 3
    assert len(sleeps.waits) == 2


def test_transient_failures_are_retried_then_succeed(test_keys: dict[str, SigningKey], clock: Clock) -> None:
    partner = Partner(httpx.Response(502), httpx.ConnectError("refused"), jwks(test_keys, "partner-eddsa"))
    keys = using(client(partner, clock), lambda c: c.get_keys(URI))
    assert list(keys) == [test_keys["partner-eddsa"].kid]
    assert len(partner.requests) == 3


@pytest.mark.parametrize("status", [301, 302, 401, 404])
def test_client_errors_and_redirects_are_not_retried_or_followed(clock: Clock, status: int) -> None:
    partner = Partner(httpx.Response(status, headers={"Location": "https://evil.example/jwks"}))
    with pytest.raises(JwksUnavailable) as caught:
        using(client(partner, clock), lambda c: c.get_keys(URI))
    assert caught.value.extensions["reason"] == "http_status"
    assert "upstream_status" not in caught.value.extensions  # nothing about the host reaches a caller
    assert [str(r.url) for r in partner.requests] == [URI]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>oops</html>", "not_json"),
        (b'{"keys": "nope"}', "not_a_jwk_set"),
        (b"[]", "not_a_jwk_set"),
        (json.dumps({"keys": [{"kty": "AKP", "kid": "pq"}]}).encode(), "no_usable_keys"),
        (b'{"keys": [' + b" " * 70000 + b"]}", "too_large"),
    ],
)
def test_garbage_is_jwks_invalid(clock: Clock, body: bytes, reason: str) -> None:
    partner = Partner(httpx.Response(200, content=body))
    with pytest.raises(JwksInvalid) as caught:
        using(client(partner, clock), lambda c: c.get_keys(URI))
    assert caught.value.extensions["reason"] == reason
    assert len(partner.requests) == 1


def test_unknown_key_types_are_skipped(test_keys: dict[str, SigningKey], clock: Clock) -> None:
    extra = [
        {"kty": "AKP", "kid": "pq", "alg": "ML-DSA-65", "pub": "AAAA"},
        {"kty": "EC", "crv": "P-384", "kid": "x"},
    ]
    partner = Partner(jwks(test_keys, "partner-eddsa", extra=extra))
    keys = using(client(partner, clock), lambda c: c.get_keys(URI))
    assert list(keys) == [test_keys["partner-eddsa"].kid]


def test_published_private_key_drops_the_cached_set(test_keys: dict[str, SigningKey], clock: Clock) -> None:
    partner = Partner(jwks(test_keys, "partner-eddsa"))
    leaked = {**test_keys["issuer-es256"].public_jwk(), "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}

    async def scenario(c: JwksClient) -> None:
        await c.get_keys(URI)
        clock.advance(301)
        partner.script(jwks(test_keys, "partner-eddsa", extra=[leaked]))
        await c.get_keys(URI)  # the stale set, while the refresh runs
        await c.settle()
        with pytest.raises(JwksInvalid) as caught:
            await c.get_keys(URI)
        assert caught.value.extensions["reason"] == "private_key_material"

    using(client(partner, clock), scenario)


def test_configuration_is_checked(clock: Clock) -> None:
    partner = Partner(httpx.Response(200))
    with pytest.raises(ConfigurationError):
        using(client(partner, clock), lambda c: c.get_keys("http://partner.example/jwks"))
    with pytest.raises(ConfigurationError):
        JwksClient(ttl=600, max_stale=300)
    assert partner.requests == []


def test_an_injected_client_is_used_and_left_open(test_keys: dict[str, SigningKey], clock: Clock) -> None:
    partner = Partner(jwks(test_keys, "partner-eddsa"))

    async def scenario() -> bool:
        async with httpx.AsyncClient(transport=httpx.MockTransport(partner)) as http:
            async with JwksClient(client=http, now=clock) as c:
                await c.get_keys(URI)
            return http.is_closed

    assert run(scenario()) is False
    assert len(partner.requests) == 1
