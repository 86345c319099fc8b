"""The FastAPI application: thin routes over the services, problems rendered in one place."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

from gateway import __version__, web
from gateway.api.body_limit import BodyLimitMiddleware
from gateway.api.cache_control import NoStoreMiddleware
from gateway.api.json_body import JsonBodyMiddleware
from gateway.api.metrics import MetricsMiddleware
from gateway.api.metrics import router as metrics_router
from gateway.api.openapi_fixups import install_openapi_fixups
from gateway.api.problems import install_problem_handlers
from gateway.api.request_id import RequestIdMiddleware
from gateway.api.routes import authorisation as authorisation_routes
from gateway.api.routes import consent_requests as consent_request_routes
from gateway.api.routes import exchange, health, ingest, me, oauth, officer, rights, webhooks
from gateway.api.routes import report as report_routes
from gateway.api.routes.admin import router as admin_router
from gateway.api.routes.credential import router as credential_router
from gateway.api.routes.model_admin import router as model_admin_router
from gateway.api.routes.presentations import router as presentations_router
from gateway.api.routes.programme_admin import router as programme_admin_router
from gateway.api.routes.publication import router as publication_router
from gateway.api.routes.recognition import router as recognition_router
from gateway.api.routes.rights_standard import router as rights_standard_router
from gateway.api.tracing import TracingMiddleware, configure_tracing
from gateway.services.context import Gateway
from gateway.services.operations.logs import configure_logging
from gateway.services.operations.metrics import register_pool_gauge

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
    install_openapi_fixups(app)
    # Added last = outermost: the body limit runs first, then bounded JSON parsing, then routing.
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.include_router(health.router)
    app.include_router(oauth.router)
    app.include_router(exchange.router)
    app.include_router(ingest.router)
    app.include_router(officer.router)
    app.include_router(me.router)
    app.include_router(admin_router)
    app.include_router(recognition_router)
    app.include_router(rights.router)
    app.include_router(rights_standard_router)
    app.include_router(programme_admin_router)
    app.include_router(model_admin_router)
    app.include_router(publication_router)
    web.install(app)  # issue 11: the console and the residents' pages
    app.include_router(authorisation_routes.router)
    app.include_router(report_routes.router)
    app.include_router(consent_request_routes.router)
    app.include_router(metrics_router)  # issue 13
    app.include_router(webhooks.router)  # issue 13
    app.add_middleware(MetricsMiddleware)  # issue 13
    app.add_middleware(RequestIdMiddleware)  # issue 13 (outermost: the id is set before anything logs)
    app.include_router(credential_router)
    app.include_router(presentations_router)
    return app


def create_app(gw: Gateway | None = None) -> FastAPI:
    gateway = gw or Gateway.build()
    configure_logging(gateway.settings.log_format, gateway.settings.log_level)  # issue 13
    register_pool_gauge(gateway.engine.pool)  # issue 13
    app = build_app()
    app.state.gateway = gateway
    if gateway.settings.otel:  # issue 13: optional tracing (the otel extra), in every worker process
        configure_tracing()
        app.add_middleware(TracingMiddleware)
    app.state.issuer = gateway.settings.issuer
    return app
