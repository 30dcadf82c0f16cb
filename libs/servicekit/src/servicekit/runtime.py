"""Running one service as one process: the gateway, the outbox relay and the
subscribers share an event loop; SIGTERM/SIGINT stop them in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import h11
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from uvicorn.protocols.http.h11_impl import H11Protocol

from servicekit import kafka
from servicekit.logs import setup_logging
from servicekit.settings import ServiceSettings
from servicekit.telemetry import setup_tracing

log = logging.getLogger(__name__)


def configure(settings: ServiceSettings) -> None:
    setup_logging(settings.service_name, settings.log_level, settings.log_format)
    setup_tracing(settings.service_name, settings.otel_exporter, settings.otel_endpoint)


class Worker(Protocol):
    """A background loop of the service process (outbox relay, local projection)."""

    async def run(self) -> None: ...
    async def stop(self) -> None: ...


def background_lifespan(*workers: Worker | None, broker: KafkaBroker | None = None,
                        before_subscribing: Callable[[], Awaitable[Any]] | None = None) -> Callable[[FastAPI], Any]:
    """Lifespan that runs the workers and the subscribers beside the HTTP server;
    ``before_subscribing`` (the topics' existence) runs first, retried with the broker."""
    active = [w for w in workers if w is not None]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(w.run(), name=type(w).__name__) for w in active]
        broker_task = asyncio.create_task(_start_broker(broker, before_subscribing),
                                          name="subscribers") if broker else None
        try:
            yield
        finally:
            for worker in active:
                await worker.stop()
            for task in tasks:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            if broker is not None and broker_task is not None:
                broker_task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await broker.stop()

    return lifespan


async def _start_broker(broker: KafkaBroker, before: Callable[[], Awaitable[Any]] | None = None) -> None:
    # The broker may not be up yet (or may restart): keep trying, never crash the gateway.
    delay = 0.5
    while True:
        try:
            if before is not None:
                await before()
            await broker.start()
            return
        except Exception:
            log.warning("subscriber connection failed; retrying", exc_info=True)
            with contextlib.suppress(Exception):
                await broker.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)


_reachable_at: dict[str, float] = {}


async def kafka_reachable(settings: ServiceSettings | str, cache_seconds: float = 5.0) -> None:
    """Readiness: the broker answers a metadata request, reached as every client of the
    kit reaches it (TLS, SASL); a failure says why (refused credentials, an untrusted
    certificate...). A success is cached briefly so frequent probes do not open a
    connection each."""
    if isinstance(settings, str):
        settings = ServiceSettings(kafka_bootstrap_servers=settings)
    bootstrap = settings.kafka_bootstrap_servers
    now = time.monotonic()
    if now - _reachable_at.get(bootstrap, -1e9) < cache_seconds:
        return
    producer = AIOKafkaProducer(**kafka.client_options(settings), request_timeout_ms=2000)
    try:
        await producer.start()
    except KafkaError as exc:
        raise ConnectionError(await kafka.explained(exc, settings)) from exc
    finally:
        await producer.stop()
    _reachable_at[bootstrap] = time.monotonic()


class ProblemH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request too malformed to reach the app (an
    invalid header, a bad Content-Length) as the app answers every refusal: problem+json."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"type": "https://alphapeer.dev/problems/malformed-request", "title": "Bad Request",
                           "status": 400, "detail": msg}).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))  # type: ignore[arg-type]
        self.transport.close()


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        http=ProblemH11Protocol,
    )
