"""OpenTelemetry setup and W3C trace-context helpers.

The SDK tracer provider is always installed so trace ids exist for logs and for the
``traceparent`` carried across Kafka; spans are exported only when an exporter is
configured (off by default)."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False


def setup_tracing(service_name: str, exporter: str = "none", endpoint: str = "") -> None:
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    span_exporter: SpanExporter | None = None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        try:  # optional dependency: only images that export install it
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as exc:  # pragma: no cover - configuration error
            raise RuntimeError(
                "ALPHAPEER_OTEL_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http"
            ) from exc
        span_exporter = OTLPSpanExporter(endpoint=endpoint or None)
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str = "alphapeer") -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


def extract(headers: Mapping[str, str]) -> Context:
    return _propagator.extract(dict(headers))


def ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the current span as hex, for logs."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
