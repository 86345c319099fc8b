"""Optional OpenTelemetry tracing: off by default, one span per request when on (issue 13)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.config import Settings
from gateway.services.context import Gateway

sdk = pytest.importorskip("opentelemetry.sdk.trace")


def test_spans_name_the_route_template_and_carry_the_request_id(gw: Gateway) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, sdk.TracerProvider):
        provider = sdk.TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    object.__setattr__(gw, "settings", replace(gw.settings, otel=True))
    with TestClient(create_app(gw), raise_server_exceptions=False) as client:
        client.get("/status-lists/424242", headers={"X-Request-ID": "span-1"})
    (span,) = [s for s in exporter.get_finished_spans() if s.attributes.get("gateway.request_id") == "span-1"]
    assert span.name == "GET /status-lists/{list_id}"
    assert span.attributes["http.response.status_code"] == 404
    assert "424242" not in str(dict(span.attributes))


def test_tracing_is_off_unless_configured() -> None:
    assert Settings.from_env({}).otel is False
    assert Settings.from_env({"GATEWAY_OTEL": "1"}).otel is True
