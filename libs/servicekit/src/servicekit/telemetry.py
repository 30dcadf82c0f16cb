"""OpenTelemetry setup and W3C trace-context helpers.

The SDK tracer provider is always installed so trace ids exist for logs and for the
``traceparent`` carried across Kafka; spans are exported only when an exporter is
configured (off by default): ``ALPHAPEER_OTEL_EXPORTER=otlp`` sends them over OTLP/HTTP
(protobuf) to ``ALPHAPEER_OTEL_ENDPOINT``, a collector's base URL (``http://collector:4318``,
``/v1/traces`` is added) or the full traces URL; empty, the exporter's own defaults and
``OTEL_EXPORTER_OTLP_*`` variables apply."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

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
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=traces_url(endpoint) or None)
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def traces_url(endpoint: str) -> str:
    """A collector's base URL gets OTLP/HTTP's traces path; a URL with a path is kept."""
    endpoint = endpoint.strip()
    if endpoint and urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


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
