"""The ``Idempotency-Key`` dependency for POST routes (issue 13). A route adopts it in two lines::

    async def create_x(body: XRequest, principal: ExchangePartnerDep, idem: IdempotencyDep) -> Any:
        return await idem.run(principal.partner.id, lambda: produce_x(...))

``produce`` returns the JSON-able answer; without the header the route behaves as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder

from gateway.services.operations import idempotency as store

__all__ = ["Idempotency", "IdempotencyDep"]


class Idempotency:
    def __init__(self, request: Request, response: Response, key: str | None) -> None:
        self._request = request
        self._response = response
        self._key = store.check_key(key) if key is not None else None

    async def run(self, partner_id: str, produce: Callable[[], Awaitable[Any]]) -> Any:
        if self._key is None:
            return await produce()
        engine = self._request.app.state.gateway.engine
        endpoint = self._request.url.path
        fingerprint = store.body_fingerprint(await self._request.body())
        outcome = await run_in_threadpool(store.claim, engine, partner_id, endpoint, self._key, fingerprint)
        if isinstance(outcome, store.Replay):
            self._response.headers["Idempotent-Replayed"] = "true"
            return outcome.body
        try:
            answer = jsonable_encoder(await produce())
        except BaseException:
            await run_in_threadpool(store.forget, engine, partner_id, endpoint, self._key)
            raise
        status = self._request.scope["route"].status_code or 200
        await run_in_threadpool(store.store, engine, partner_id, endpoint, self._key, status, answer)
        return answer


# A coroutine: it only reads a header, and a plain ``def`` dependency costs every POST a thread hop
# (issue 12: the profile of issuance showed it beside the route's own hop).
async def _idempotency(
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retry safely: the same key with the same body returns the first answer (24 h).",
        ),
    ] = None,
) -> Idempotency:
    return Idempotency(request, response, idempotency_key)


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
