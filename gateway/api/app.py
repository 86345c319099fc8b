"""The FastAPI application: thin routes over the services, problems rendered in one place."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

from gateway import __version__
from gateway.api.problems import install_problem_handlers
from gateway.api.routes import exchange, health, ingest, me, oauth, officer, rights
from gateway.api.routes.admin import router as admin_router
from gateway.api.routes.credential import router as credential_router
from gateway.api.routes.presentations import router as presentations_router
from gateway.api.routes.recognition import router as recognition_router
from gateway.services.context import Gateway

__all__ = ["build_app", "create_app"]

DESCRIPTION = (
    "The Shaoxing integrity-score exchange gateway: collaborating units push information records, "
    "the credit office computes personal integrity scores (个人诚信分, out of 1000) with a versioned "
    "model, and partners receive signed assertions only with the resident's consent. Errors are RFC 9457 "
    "problem details with a stable `code`."
)


def build_app() -> FastAPI:
    """The application's routes and handlers, with no gateway context attached (OpenAPI export)."""
    kwargs: dict[str, Any] = {}
    # FastAPI's built-in telemetry costs ~12 µs a request and exports nothing here; off where the
    # installed version has the switch.
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        kwargs["telemetry"] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(
        title="Shaoxing integrity-score exchange gateway",
        version=__version__,
        description=DESCRIPTION,
        **kwargs,
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(oauth.router)
    app.include_router(exchange.router)
    app.include_router(ingest.router)
    app.include_router(officer.router)
    app.include_router(me.router)
    app.include_router(admin_router)
    app.include_router(recognition_router)
    app.include_router(rights.router)
    app.include_router(credential_router)
    app.include_router(presentations_router)
    return app


def create_app(gw: Gateway | None = None) -> FastAPI:
    gateway = gw or Gateway.build()
    app = build_app()
    app.state.gateway = gateway
    app.state.issuer = gateway.settings.issuer
    return app
