"""``ALPHAPEER_OTEL_EXPORTER=otlp``: a service process exports its spans over OTLP/HTTP
(protobuf) to a receiver running in the test, which decodes them with ``opentelemetry-proto``
(installed with the exporter, a dependency of the kit)."""

from __future__ import annotations

import gzip
import http.server
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from servicekit.testing import ServiceProcess, wait_until

pytestmark = pytest.mark.integration


class Receiver:
    """An OTLP/HTTP traces endpoint: ``POST /v1/traces`` with a protobuf body."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[str, Span]]:
        """(service.name of the resource, span) for every span received."""
        out: list[tuple[str, Span]] = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    out.extend((attrs.get("service.name", ""), span) for span in scope_spans.spans)
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()


PROCESS = """
from servicekit.service import Service
from servicekit.settings import ServiceSettings

Service("otlp-probe", ServiceSettings, lambda svc: None, [], description="a probe").main()
"""


def test_spans_are_exported_over_otlp_http(postgres_url: str, pg_schema: str, receiver: Receiver,
                                           tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROCESS)
    env = {
        "ALPHAPEER_SERVICE_NAME": "otlp-probe",
        "ALPHAPEER_DATABASE_URL": postgres_url,
        "ALPHAPEER_DATABASE_SCHEMA": pg_schema,
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "ALPHAPEER_SUBSCRIBERS_ENABLED": "false",
        "ALPHAPEER_OTEL_EXPORTER": "otlp",
        "ALPHAPEER_OTEL_ENDPOINT": receiver.url,  # the collector's base URL: /v1/traces is added
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second
    }
    for inherited in [k for k in os.environ if k.startswith("OTEL_EXPORTER_OTLP")]:
        env[inherited] = ""
    service = ServiceProcess("otlp-probe", env, tmp_path / "probe.log", argv=[sys.executable, str(script)])
    service.start(wait=False)
    try:
        def healthy() -> bool:
            assert service.proc is not None and service.proc.poll() is None, service.tail()
            try:
                return httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, message="the service to answer")
        trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        started = time.time_ns()
        resp = httpx.get(f"{service.url}/healthz", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
        assert resp.status_code == 200

        def exported() -> list[tuple[str, Span]]:
            return [(svc, s) for svc, s in receiver.spans() if s.trace_id.hex() == trace_id]

        ((service_name, span),) = wait_until(exported, timeout=20, message="the span at the receiver")
        time.sleep(0.5)  # a second server span for the same request would have arrived by now
        assert len(exported()) == 1, [s.name for _, s in exported()]
    finally:
        service.stop()
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    assert service_name == "otlp-probe"
    assert span.name == "GET /healthz"
    assert span.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert span.parent_span_id.hex() == parent_id  # it continued the caller's trace
    assert span.start_time_unix_nano >= started - 1_000_000_000
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["http.route"].string_value == "/healthz"
