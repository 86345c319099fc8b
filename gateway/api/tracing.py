"""Optional OpenTelemetry tracing (issue 13): one server span per request, named by method and
route template, carrying the status and the request id — and nothing from the request itself.

Off unless ``GATEWAY_OTEL=1`` and the ``otel`` extra is installed (``pip install
'shaoxing-integrity-gateway[otel]'``). The exporter is the SDK's OTLP/HTTP one, configured by the
standard ``OTEL_EXPORTER_OTLP_*`` and ``OTEL_SERVICE_NAME`` variables.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ConfigurationError
from gateway.services.operations.logs import REQUEST_ID

__all__ = ["TracingMiddleware", "configure_tracing"]


def configure_tracing() -> None:
    """Install the SDK's tracer provider with the OTLP exporter, unless this process has one."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        if isinstance(trace.get_tracer_provider(), TracerProvider):
            return  # configured already (an earlier app in this process, or the embedding program)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigurationError(
            "GATEWAY_OTEL=1 needs the otel extra: pip install 'shaoxing-integrity-gateway[otel]'."
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": "sx-score-gateway"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry import trace

        self.app = app
        self._trace: Any = trace
        self._tracer = trace.get_tracer("gateway")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        kind = self._trace.SpanKind.SERVER
        with self._tracer.start_as_current_span(scope["method"], kind=kind) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.request.method", scope["method"])
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("gateway.request_id", REQUEST_ID.get() or "")
                if status >= 500:
                    span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
