"""Prometheus metrics and the access log, wired by the assembler into every service.

``GET /metrics`` answers in the Prometheus text format (not in the OpenAPI document). What
it tells, per process (every replica is a scrape target; Prometheus sums them):

- HTTP: requests and latency by method, route template (never the raw path: ids would
  make a series each) and status; requests in flight;
- the outbox relay: position, lag (notifications committed and not yet published), published
  total, replays, stalled, active, connected;
- each subscription: messages by outcome (applied, duplicate, ignored, dead-lettered), the
  reaction's own counters (decided again after a conflict, failed attempts), and consumer lag
  per topic-partition (the partition's high watermark from the last fetch minus the
  consumer's position);
- local projections' position and lag; the account blocks' version and counts;
- the process (CPU, memory, file descriptors, garbage collector).

Everything but the HTTP figures is read when scraped, from the objects that already keep
it: nothing on the hot path of the relay or the subscribers. The relay's lag is one
``MAX(notification_id)`` on the event table's index.

The access log is one JSON line per request at INFO on the ``servicekit.access`` logger:
method, route, status, duration, request and correlation id, trace id, the user when
authenticated, the client address. Never a header value or a body. Probes and scrapes
(``/healthz``, ``/readyz``, ``/metrics``) are logged at DEBUG. ``ALPHAPEER_ACCESS_LOG=false``
turns it off.

``/metrics`` holds no personal data and is meant to be scraped inside the cluster (a
NetworkPolicy admits the monitoring namespace; see ``deploy/k8s/components/monitoring``).
Where the HTTP port is reachable from outside (an ingress that forwards every path),
``ALPHAPEER_METRICS_TOKEN`` makes it require ``Authorization: Bearer <token>``."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import context, telemetry
from servicekit.problems import Problem

if TYPE_CHECKING:
    from fastapi import FastAPI

    from servicekit.accounts import AccountBlocks
    from servicekit.deadlines import Deadlines
    from servicekit.projection import LocalProjection
    from servicekit.relay import OutboxRelay
    from servicekit.subscriber import IdempotentSubscriber, Reaction

log = logging.getLogger(__name__)
access = logging.getLogger("servicekit.access")

# No ``*_created`` series beside every counter and histogram: twice the series, for a
# timestamp Prometheus does not need (a counter's reset is seen in its value).
disable_created_metrics()

#: Seconds; from a cached read to a slow command.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Routes whose requests the access log writes at DEBUG: probes and scrapes, every few seconds.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
#: The route label of a request that matched no route (a 404): never the raw path.
UNMATCHED = "unmatched"


@dataclass
class Subscription:
    """One consumer group of the service, as the metrics see it."""

    name: str
    subscriber: IdempotentSubscriber | None
    reaction: Reaction


class ServiceMetrics:
    """The registry of one service process (one per built app, so tests can build several)."""

    def __init__(self, service: str, version: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        info = Gauge("alphapeer_service_info", "The service this process runs (always 1).",
                     ["service", "version"], registry=self.registry)
        info.labels(service, version).set(1)
        self.requests = Counter("alphapeer_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("alphapeer_http_request_duration_seconds",
                                 "Time from a request's arrival to the end of its response.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("alphapeer_http_requests_in_flight", "HTTP requests being served now.",
                               registry=self.registry)
        self.state = _StateCollector()
        self.registry.register(self.state)

    def watch(self, *, relay: OutboxRelay | None = None, subscriptions: Sequence[Subscription] = (),
              projections: Sequence[LocalProjection] = (), accounts: AccountBlocks | None = None,
              deadlines: Sequence[Deadlines] = ()) -> None:
        """What the scrape reads: the service's relay, subscriptions, projections, account
        blocks, deadlines."""
        self.state.deadlines = list(deadlines)
        self.state.relay = relay
        self.state.subscriptions = list(subscriptions)
        self.state.projections = list(projections)
        self.state.accounts = accounts

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The body and its content type, as a scrape asks for it (``Accept``: the Prometheus
        text format by default, OpenMetrics on request). Consumer positions are read on the
        event loop (the consumers live there); the rest, which may touch the database, in a thread."""
        self.state.consumer_lag = await _consumer_lag(self.state.subscriptions)
        encode, content_type = choose_encoder(accept)
        return await asyncio.to_thread(encode, self.registry), content_type

    def install(self, app: FastAPI, *, access_log: bool = True, token: str = "") -> None:
        """``GET /metrics`` and the request middleware (metrics and access log) on ``app``.
        Call it where the middleware belongs: inside the request's context and span."""
        app.add_middleware(RequestObserver, metrics=self, access_log=access_log)

        async def metrics(request: Request) -> Response:
            if token and not _bearer_matches(request, token):
                raise Problem(401, "Unauthorized", "metrics need the scrape token",
                              headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            body, content_type = await self.exposition(request.headers.get("accept", ""))
            return Response(body, headers={"Content-Type": content_type})

        app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


# -- what the scrape reads -------------------------------------------------------------------


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.relay: OutboxRelay | None = None
        self.subscriptions: list[Subscription] = []
        self.projections: list[LocalProjection] = []
        self.accounts: AccountBlocks | None = None
        self.deadlines: list[Deadlines] = []
        #: (subscription, topic, partition) → messages not yet handed to the reaction.
        self.consumer_lag: dict[tuple[str, str, int], int] = {}

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only, never at registration

    def collect(self) -> Iterable[Metric]:
        for part in (self._relay, self._subscriptions, self._projections, self._accounts, self._deadlines):
            try:
                yield from part()
            except Exception:  # a scrape reports what it can; /readyz says what is down
                log.debug("metrics: %s unavailable", part.__name__, exc_info=True)

    def _relay(self) -> Iterator[Metric]:
        relay = self.relay
        if relay is None:
            return
        status, topic = relay.status, relay.topic
        gauge = _family(GaugeMetricFamily, ["topic"], [topic])
        counter = _family(CounterMetricFamily, ["topic"], [topic])
        yield gauge("alphapeer_relay_active", "1 while this replica's relay is the one publishing.", status.active)
        yield gauge("alphapeer_relay_connected", "1 while the active relay is connected to the broker.",
                    status.connected)
        yield gauge("alphapeer_relay_stalled", "1 while publishing is stopped at an event the translator "
                    "cannot translate (/readyz names it).", status.stalled is not None)
        yield counter("alphapeer_relay_published", "Integration events this process published.", status.published)
        yield counter("alphapeer_relay_replays", "Times this process republished the whole stream because the "
                      "broker had lost it.", status.replays)
        # A standby replica reports the active one's recorded position.
        position = status.position if status.active else relay._load_position()[0]
        yield gauge("alphapeer_relay_position", "Notification id of the last event published.", position)
        head = relay.app.recorder.max_notification_id() or 0
        yield gauge("alphapeer_relay_lag", "Notifications committed and not yet published.", max(0, head - position))

    def _subscriptions(self) -> Iterator[Metric]:
        if not self.subscriptions:
            return
        messages = CounterMetricFamily("alphapeer_consumer_messages", "Messages consumed, by outcome.",
                                       labels=["subscription", "outcome"])
        reactions = CounterMetricFamily(
            "alphapeer_reaction_events", "A reaction's own counts: events applied, already applied (duplicate), "
            "decided again after a concurrent writer (conflict), attempts that raised (failure).",
            labels=["subscription", "reaction", "outcome"])
        for sub in self.subscriptions:
            if sub.subscriber is not None:
                s = sub.subscriber.stats
                for outcome, n in (("applied", s.applied), ("duplicate", s.duplicates), ("ignored", s.ignored),
                                   ("dead_lettered", s.dead_lettered)):
                    messages.add_metric([sub.name, outcome], n)
            r = getattr(sub.reaction, "stats", None)
            if r is not None:
                kind = getattr(sub.reaction, "kind", type(sub.reaction).__name__)
                for outcome, n in (("applied", r.applied), ("duplicate", r.duplicates), ("conflict", r.conflicts),
                                   ("failure", r.failures)):
                    reactions.add_metric([sub.name, kind, outcome], n)
        lag = GaugeMetricFamily("alphapeer_consumer_lag", "Messages on a partition not yet consumed "
                                "(high watermark of the last fetch minus the consumer's position).",
                                labels=["subscription", "topic", "partition"])
        for (name, topic, partition), n in sorted(self.consumer_lag.items()):
            lag.add_metric([name, topic, str(partition)], n)
        yield from (messages, reactions, lag)

    def _projections(self) -> Iterator[Metric]:
        if not self.projections:
            return
        position = GaugeMetricFamily("alphapeer_projection_position", "Notification id a local projection has "
                                     "applied up to (in this process).", labels=["projection"])
        lag = GaugeMetricFamily("alphapeer_projection_lag", "Notifications committed and not yet in a local "
                                "projection.", labels=["projection"])
        heads: dict[int, int] = {}
        for p in self.projections:
            head = heads.setdefault(id(p.app), p.app.recorder.max_notification_id() or 0)
            position.add_metric([p.name], p.position)
            lag.add_metric([p.name], max(0, head - p.position))
        yield from (position, lag)

    def _deadlines(self) -> Iterator[Metric]:
        if not self.deadlines:
            return
        overdue = GaugeMetricFamily("alphapeer_deadlines_overdue", "Deadlines due and not yet fired (a failing "
                                    "fire keeps its row, retried with backoff).", labels=["deadlines"])
        outcomes = CounterMetricFamily("alphapeer_deadlines_fired", "Deadlines fired by this process, by outcome.",
                                       labels=["deadlines", "outcome"])
        for d in self.deadlines:
            overdue.add_metric([d.name], d.overdue())
            outcomes.add_metric([d.name, "fired"], d.stats.fired)
            outcomes.add_metric([d.name, "failure"], d.stats.failures)
        yield from (overdue, outcomes)

    def _accounts(self) -> Iterator[Metric]:
        blocks = self.accounts
        if blocks is None:
            return
        yield GaugeMetricFamily("alphapeer_account_blocks_version", "Version of the account blocks this replica "
                                "has read (rises with every suspension, reinstatement, erasure).",
                                value=blocks.version)
        known = GaugeMetricFamily("alphapeer_account_blocks", "Accounts this replica refuses, by state.",
                                  labels=["state"])
        counts = blocks.counts()
        for state in ("suspended", "erased"):
            known.add_metric([state], counts.get(state, 0))
        yield known


def _family(kind: Any, names: list[str], values: list[str]) -> Callable[[str, str, float], Metric]:
    def make(name: str, doc: str, value: float) -> Metric:
        family = kind(name, doc, labels=names)
        family.add_metric(values, float(value))
        return family  # type: ignore[no-any-return]

    return make


async def _consumer_lag(subscriptions: Sequence[Subscription]) -> dict[tuple[str, str, int], int]:
    """Per assigned partition: the high watermark the last fetch reported, minus the
    position of the next record the consumer hands to the reaction. A partition not fetched
    yet (no high watermark) is left out rather than guessed."""
    lags: dict[tuple[str, str, int], int] = {}
    for sub in subscriptions:
        consumer = sub.subscriber.consumer if sub.subscriber is not None else None
        if consumer is None:
            continue
        try:
            assigned = list(consumer.assignment())
        except Exception:
            continue
        for tp in assigned:
            try:
                high = consumer.highwater(tp)
                if high is None:
                    continue
                position = await asyncio.wait_for(consumer.position(tp), timeout=0.2)
            except Exception:  # being reassigned, or not positioned yet: next scrape
                continue
            lags[(sub.name, tp.topic, tp.partition)] = max(0, high - position)
    return lags


# -- every request ----------------------------------------------------------------------------


class RequestObserver:
    """Metrics and the access log of one request (plain ASGI: no extra task per request).
    Sits inside the request's context and span, so the log line carries their ids."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self._static: dict[Any, str] | None = None  # endpoint → path of plain routes (/docs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = self._route(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route, str(status)).observe(elapsed)
            if self.access_log:
                self._log(scope, method, route, status, elapsed)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        endpoint = scope.get("endpoint")
        if endpoint is not None:  # a plain Starlette route: the docs, the OpenAPI document
            if self._static is None:
                app = scope.get("app")
                routes = getattr(getattr(app, "router", None), "routes", [])
                self._static = {r.endpoint: r.path for r in routes if hasattr(r, "endpoint") and hasattr(r, "path")}
            return self._static.get(endpoint, UNMATCHED)
        return UNMATCHED

    def _log(self, scope: Scope, method: str, route: str, status: int, elapsed: float) -> None:
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        if not access.isEnabledFor(level):
            return
        state = scope.get("state") or {}
        work = context.current()
        trace_id, _ = telemetry.ids()
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "request_id": work.request_id or state.get("request_id"),
            "correlation_id": work.correlation_id,
            "trace_id": trace_id,
        }
        principal = state.get("principal")
        if principal is not None:
            fields["user_id"] = str(principal.user_id)
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        access.log(level, "%s %s %s", method, route, status,
                   extra={"fields": {k: v for k, v in fields.items() if v is not None}})
