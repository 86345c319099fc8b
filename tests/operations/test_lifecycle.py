"""Deprecation and Sunset header fields on routes scheduled to go (issue 13)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api.lifecycle import sunset
from gateway.api.request_id import RequestIdMiddleware
from gateway.errors import NotFound


def test_a_deprecated_route_announces_its_sunset() -> None:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/v1/old", deprecated=True, dependencies=[sunset("2027-06-30", "/v1/new", deprecated_since="2026-12-01")])
    async def old() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/v1/gone", dependencies=[sunset("2027-01-01")])
    async def gone() -> None:
        raise NotFound("x")

    @app.exception_handler(NotFound)
    async def handle(request: object, exc: NotFound) -> object:
        from fastapi.responses import JSONResponse

        return JSONResponse({"code": exc.code}, status_code=404)

    with TestClient(app) as client:
        resp = client.get("/v1/old")
        assert resp.headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert resp.headers["Deprecation"] == "@1796083200"
        assert resp.headers["Link"] == '</v1/new>; rel="successor-version"'
        error = client.get("/v1/gone")
        assert error.status_code == 404 and error.headers["Deprecation"] == "true"
        assert "Sunset" in error.headers
    assert app.openapi()["paths"]["/v1/old"]["get"]["deprecated"] is True
