"""Defect 9 of issue 15: a partner's key server that hangs never holds up requests with known keys.

The partner's endpoint is an ``httpx.MockTransport`` whose handler, once switched to "hang",
never answers. Time bounds below are generous ceilings on waits that must not happen at all
(the fetch would take an hour); they are not performance assertions.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gateway.exchange import JwksClient, TokenVerifier, jwks_document
from gateway.exchange.errors import UnknownKey
from tests.exchange.exchange_support import AUDIENCE, Clock, Tokens

URI = "https://partner.example/.well-known/jwks.json"


class HangingPartner:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.hang = False
        self.requests = 0
        self.in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.hang:
            self.in_flight += 1
            try:
                await asyncio.sleep(3600)
            finally:
                self.in_flight -= 1
        return httpx.Response(200, json=self.document)


def _client(partner: HangingPartner, clock: Clock) -> JwksClient:
    return JwksClient(transport=httpx.MockTransport(partner), now=clock, timeout=3600, attempts=1, unknown_kid_wait=0.2)


def test_unknown_kid_refresh_never_holds_up_known_kids(tokens: Tokens, clock: Clock) -> None:
    partner = HangingPartner(jwks_document([tokens.keys["partner-eddsa"]]))
    verifier = TokenVerifier(typ="score-assertion+jwt", audience=AUDIENCE, algorithms={"EdDSA", "ES256"}, now=clock)
    known = tokens.sign(tokens.claims(), "partner-eddsa")
    unknown = tokens.sign(tokens.claims(), "client-es256")

    async def scenario() -> None:
        async with _client(partner, clock) as c:
            await c.get_keys(URI)
            partner.hang = True
            clock.advance(31)  # past the unknown-kid cool-down, within the ttl
            # Ten requests with an unknown kid at once: one fetch, and each gives up after its wait.
            stuck = [asyncio.create_task(c.verify(verifier, unknown, URI)) for _ in range(10)]
            await asyncio.sleep(0.05)  # the refresh is now hanging at the partner
            assert partner.in_flight == 1
            # Known kids are answered while the refresh hangs, before the unknown ones give up.
            for _ in range(20):
                verified = await asyncio.wait_for(c.verify(verifier, known, URI), 1.0)
                assert verified.claims["aud"] == AUDIENCE
            assert not any(task.done() for task in stuck)
            for task in stuck:
                with pytest.raises(UnknownKey):
                    await task
            assert partner.requests == 2  # the first fetch and one refresh, not eleven
            assert partner.in_flight == 1  # still hanging in the background, bounded to one

    asyncio.run(scenario())


def test_expired_cache_serves_stale_keys_while_the_refresh_hangs(tokens: Tokens, clock: Clock) -> None:
    partner = HangingPartner(jwks_document([tokens.keys["partner-eddsa"]]))
    verifier = TokenVerifier(typ="score-assertion+jwt", audience=AUDIENCE, algorithms={"EdDSA"}, now=clock)
    known = tokens.sign(tokens.claims(), "partner-eddsa")

    async def scenario() -> None:
        async with _client(partner, clock) as c:
            first = await c.get_keys(URI)
            partner.hang = True
            clock.advance(301)  # past the ttl
            for _ in range(20):
                assert await asyncio.wait_for(c.get_keys(URI), 1.0) is first
                await asyncio.wait_for(c.verify(verifier, known, URI), 1.0)
            await asyncio.sleep(0.05)
            assert partner.requests == 2 and partner.in_flight == 1  # one background refresh

    asyncio.run(scenario())


def test_an_attempt_is_bounded_as_a_whole() -> None:
    partner = HangingPartner({"keys": []})
    partner.hang = True

    async def scenario() -> None:
        async with JwksClient(transport=httpx.MockTransport(partner), timeout=0.2, attempts=1) as c:
            from gateway.exchange.errors import JwksUnavailable

            with pytest.raises(JwksUnavailable) as caught:
                await asyncio.wait_for(c.get_keys(URI), 10)
            assert caught.value.extensions["reason"] == "timeout"

    asyncio.run(scenario())
