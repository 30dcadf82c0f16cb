"""``GET /metrics`` and the access log, as every service built by the assembler gets them:
a service with an outbox relay, a subscription, a local projection and account blocks, on
PostgreSQL and the real broker protocol, scraped through its own gateway."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from eventsourcing.domain import Aggregate, event
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from alphapeer_contracts import identity as idc
from servicekit import envelope, telemetry
from servicekit.auth import Principal, require_roles
from servicekit.database import Cursor
from servicekit.eventstore import ServiceApplication
from servicekit.logs import JsonFormatter
from servicekit.metrics import Subscription, _consumer_lag
from servicekit.service import Assembly, Service
from servicekit.settings import ServiceSettings
from servicekit.subscriber import Delivery, ProjectionReaction
from servicekit.telemetry import traces_url
from servicekit.testing import ISSUER, Broker

POISON = UUID(int=0)
TRANSLATOR_FIXED = threading.Event()


class Tally(Aggregate):
    @event("Opened")
    def __init__(self, id: UUID) -> None:
        self.bumps: list[str] = []

    @event("Bumped")
    def bump(self, by: str) -> None:
        self.bumps.append(by)


class Tallies(ServiceApplication):
    name = "tallies"


def translate(e: Any) -> idc.EmailVerified | None:
    if isinstance(e, Tally.Bumped):
        if e.by == "poison" and not TRANSLATOR_FIXED.is_set():
            raise KeyError("by")  # a translator bug for this one event
        return idc.EmailVerified(user_id=e.originator_id, occurred_at=e.timestamp)
    return None


def count_verified(cur: Cursor, ev: Any, delivery: Delivery) -> None:
    if isinstance(ev, idc.EmailVerified):
        if ev.user_id == POISON:
            raise ValueError("poison pill")
        cur.execute("INSERT INTO verified (user_id) VALUES (%s) ON CONFLICT DO NOTHING", (str(ev.user_id),))


def own_bump(cur: Cursor, domain_event: Any) -> None:
    if isinstance(domain_event, Tally.Bumped):
        cur.execute("INSERT INTO bumps (tally_id, n) VALUES (%s, 1) ON CONFLICT (tally_id) DO UPDATE "
                    "SET n = bumps.n + 1", (str(domain_event.originator_id),))


class NewTally(BaseModel):
    bumps: list[str]
    secret_note: str = ""


def _routes() -> APIRouter:
    r = APIRouter(prefix="/v1")

    @r.post("/tallies", status_code=201)
    def create(body: NewTally, request: Request, who: Principal = Depends(require_roles("student"))
               ) -> dict[str, str]:
        app: Tallies = request.app.state.tallies
        tally = Tally(id=uuid.uuid4())
        for by in body.bumps:
            tally.bump(by)
        app.save(tally)
        return {"tally_id": str(tally.id)}

    @r.get("/tallies/{tally_id}")
    def get(tally_id: UUID, request: Request, who: Principal = Depends(require_roles("student"))) -> dict[str, Any]:
        return {"bumps": request.app.state.tallies.repository.get(tally_id).bumps}

    @r.get("/boom")
    def boom() -> None:
        raise RuntimeError("an unexpected bug")

    return r


def assemble(svc: Assembly[ServiceSettings]) -> None:
    app = svc.event_store(Tallies)
    svc.publishes(app, translate)
    db = svc.tables(["CREATE TABLE IF NOT EXISTS verified (user_id TEXT PRIMARY KEY)"])
    svc.reacts_to("identity.events", reaction=ProjectionReaction(db, count_verified))
    svc.projects_own(app, "bumps", ["CREATE TABLE IF NOT EXISTS bumps (tally_id TEXT PRIMARY KEY, n BIGINT)"],
                     own_bump)
    svc.provide(tallies=app)


SERVICE = Service("tallies", ServiceSettings, assemble, [_routes()], description="a service under observation")


def settings_for(postgres_url: str, schema: str, bootstrap: str = "127.0.0.1:1", **kw: Any) -> ServiceSettings:
    return ServiceSettings(service_name="tallies", database_url=postgres_url, database_schema=schema,
                           kafka_bootstrap_servers=bootstrap, relay_poll_interval=0.05,
                           kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500, **kw)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition: (name, sorted labels) → value."""
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def wait_for_metric(client: TestClient, predicate: Any, timeout: float = 30.0) -> dict[Any, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(client)
        if predicate(samples):
            return samples
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if k[0].startswith("alphapeer_")}
        time.sleep(0.2)


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, val, headers in messages:
            await producer.send_and_wait(topic, value=val, key=key, headers=headers)
    finally:
        await producer.stop()


def identity_event(ev: idc.IntegrationEvent, seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return envelope.wrap(ev, source="/alphapeer/identity", sequence=seq, ce_id=f"id-{seq}")


@pytest.mark.integration
def test_every_service_built_by_the_kit_serves_prometheus_metrics(
    postgres_url: str, pg_schema: str, kafka: Broker
) -> None:
    TRANSLATOR_FIXED.clear()
    student = uuid.uuid4()
    auth = ISSUER.headers(student, "student")
    with TestClient(SERVICE.build(settings_for(postgres_url, pg_schema, kafka.bootstrap), keys=ISSUER)) as client:
        assert "/metrics" not in client.get("/openapi.json").json()["paths"]

        # HTTP: by route template, never the raw path.
        created = client.post("/v1/tallies", json={"bumps": ["a", "b", "poison", "c"]}, headers=auth)
        assert created.status_code == 201, created.text
        tally_id = created.json()["tally_id"]
        for _ in range(2):
            assert client.get(f"/v1/tallies/{tally_id}", headers=auth).status_code == 200
        assert client.get(f"/v1/nothing/{tally_id}").status_code == 404

        # The relay stops at the event its translator cannot translate: stalled, with a lag.
        samples = wait_for_metric(client, lambda s: value(s, "alphapeer_relay_stalled", topic="tallies.events") == 1)
        assert value(samples, "alphapeer_relay_active", topic="tallies.events") == 1
        head = 5  # Opened, a, b, poison, c
        position = value(samples, "alphapeer_relay_position", topic="tallies.events")
        assert position == 3  # a and b published; Opened is internal
        assert value(samples, "alphapeer_relay_lag", topic="tallies.events") == head - position
        assert value(samples, "alphapeer_relay_published_total", topic="tallies.events") == 2

        labels = {dict(k[1]).get("route") for k in samples if k[0] == "alphapeer_http_requests_total"}
        assert "/v1/tallies/{tally_id}" in labels and "unmatched" in labels
        assert not [r for r in labels if r and tally_id in r], labels
        assert value(samples, "alphapeer_http_requests_total", method="GET", route="/v1/tallies/{tally_id}",
                     status="200") == 2
        assert value(samples, "alphapeer_http_requests_total", method="POST", route="/v1/tallies",
                     status="201") == 1
        assert value(samples, "alphapeer_http_request_duration_seconds_count", method="GET",
                     route="/v1/tallies/{tally_id}", status="200") == 2
        assert value(samples, "alphapeer_http_requests_total", method="GET", route="unmatched", status="404") == 1
        assert value(samples, "alphapeer_http_requests_in_flight") == 1  # the scrape itself
        assert value(samples, "alphapeer_service_info", service="tallies", version="1.0.0") == 1
        assert value(samples, "process_resident_memory_bytes")

        # Fixed: everything is published, the lag is gone.
        TRANSLATOR_FIXED.set()
        samples = wait_for_metric(client, lambda s: value(s, "alphapeer_relay_lag", topic="tallies.events") == 0
                                  and value(s, "alphapeer_relay_stalled", topic="tallies.events") == 0, timeout=45)
        assert value(samples, "alphapeer_relay_position", topic="tallies.events") == head
        assert value(samples, "alphapeer_relay_published_total", topic="tallies.events") == 4
        assert value(samples, "alphapeer_relay_replays_total", topic="tallies.events") == 0
        # The local projection follows the service's own log.
        samples = wait_for_metric(client, lambda s: value(s, "alphapeer_projection_lag", projection="bumps") == 0)
        assert value(samples, "alphapeer_projection_position", projection="bumps") == head

        # A second replica stands by: not active, and it reports the position the active one recorded.
        standby_settings = settings_for(postgres_url, pg_schema, kafka.bootstrap, subscribers_enabled=False)
        with TestClient(SERVICE.build(standby_settings, keys=ISSUER)) as standby:
            samples = scrape(standby)
            assert value(samples, "alphapeer_relay_active", topic="tallies.events") == 0
            assert value(samples, "alphapeer_relay_position", topic="tallies.events") == head
            assert value(samples, "alphapeer_relay_lag", topic="tallies.events") == 0
            assert value(samples, "alphapeer_relay_published_total", topic="tallies.events") == 0  # per process

        # Consumers: outcomes per subscription, the reaction's own counts, lag per partition.
        alice, bob = uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC)
        asyncio.run(produce(kafka.bootstrap, "identity.events", [
            identity_event(idc.EmailVerified(user_id=alice, occurred_at=now), 1),
            identity_event(idc.EmailVerified(user_id=POISON, occurred_at=now), 2),
            identity_event(idc.EmailVerified(user_id=bob, occurred_at=now), 3),
            identity_event(idc.UserSuspended(user_id=student, suspended_by=alice, reason_code="conduct",
                                             occurred_at=now), 4),
        ]))

        def consumed(s: dict[Any, float]) -> bool:
            main = {o: value(s, "alphapeer_consumer_messages_total", subscription="main", outcome=o)
                    for o in ("applied", "dead_lettered")}
            accounts = value(s, "alphapeer_consumer_messages_total", subscription="accounts", outcome="applied")
            return main == {"applied": 3, "dead_lettered": 1} and accounts == 1

        samples = wait_for_metric(client, consumed, timeout=45)
        assert value(samples, "alphapeer_consumer_messages_total", subscription="main", outcome="duplicate") == 0
        assert value(samples, "alphapeer_consumer_messages_total", subscription="accounts", outcome="ignored") == 3
        assert value(samples, "alphapeer_reaction_events_total", subscription="main", reaction="projection",
                     outcome="applied") == 3
        failures = value(samples, "alphapeer_reaction_events_total", subscription="main", reaction="projection",
                         outcome="failure")
        assert failures is not None and failures >= 3  # every attempt at the poison message
        samples = wait_for_metric(client, lambda s: [
            v for (n, lb), v in s.items() if n == "alphapeer_consumer_lag" and dict(lb)["subscription"] == "main"])
        lags = {dict(lb)["partition"]: v for (n, lb), v in samples.items()
                if n == "alphapeer_consumer_lag" and dict(lb) | {"partition": ""} == {
                    "subscription": "main", "topic": "identity.events", "partition": ""}}
        assert lags and set(lags.values()) == {0}, lags

        # Account blocks: the suspension, once this replica has read it.
        assert client.get(f"/v1/tallies/{tally_id}", headers=auth).status_code == 403
        samples = scrape(client)
        version = value(samples, "alphapeer_account_blocks_version")
        assert version is not None and version >= 1
        assert value(samples, "alphapeer_account_blocks", state="suspended") == 1
        assert value(samples, "alphapeer_account_blocks", state="erased") == 0


async def test_consumer_lag_is_the_high_watermark_minus_the_position() -> None:
    class Consumer:
        def assignment(self) -> set[TopicPartition]:
            return {TopicPartition("identity.events", 0), TopicPartition("identity.events", 1),
                    TopicPartition("identity.events", 2)}

        def highwater(self, tp: TopicPartition) -> int | None:
            return {0: 10, 1: 4}.get(tp.partition)  # partition 2 never fetched yet

        async def position(self, tp: TopicPartition) -> int:
            return {0: 7, 1: 4}[tp.partition]

    class Subscriber:
        consumer = Consumer()

    lags = await _consumer_lag([Subscription("main", Subscriber(), None)])  # type: ignore[arg-type]
    assert lags == {("main", "identity.events", 0): 3, ("main", "identity.events", 1): 0}


# -- the access log --------------------------------------------------------------------------


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """What the access logger writes, formatted by the kit's JSON formatter at the time."""
    telemetry.setup_tracing("kit-tests")  # as every process does (runtime.configure): trace ids exist
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("tallies"))
    logger = logging.getLogger("servicekit.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def quiet_app(postgres_url: str, pg_schema: str, **kw: Any) -> FastAPI:
    return SERVICE.build(settings_for(postgres_url, pg_schema, relay_enabled=False, subscribers_enabled=False, **kw),
                         keys=ISSUER)


def test_every_request_writes_one_access_log_line(postgres_url: str, pg_schema: str,
                                                  access_lines: io.StringIO) -> None:
    user = uuid.uuid4()
    auth = ISSUER.headers(user, "student")
    with TestClient(quiet_app(postgres_url, pg_schema), raise_server_exceptions=False) as client:
        created = client.post("/v1/tallies", json={"bumps": ["a"], "secret_note": "my-diary-entry"},
                              headers={**auth, "X-Request-ID": "req-1", "X-Correlation-ID": "flow-1"})
        assert created.status_code == 201
        tally_id = created.json()["tally_id"]
        assert client.get(f"/v1/tallies/{tally_id}", headers=auth).status_code == 200
        assert client.get("/v1/tallies/not-a-uuid", headers=auth).status_code == 422
        assert client.get("/v1/boom").status_code == 500
        assert client.get("/healthz").status_code == 200  # probes: DEBUG only
        assert client.get("/metrics").status_code == 200
    lines = [json.loads(line) for line in access_lines.getvalue().splitlines()]
    assert [(e["method"], e["route"], e["status"]) for e in lines] == [
        ("POST", "/v1/tallies", 201), ("GET", "/v1/tallies/{tally_id}", 200), ("GET", "/v1/tallies/{tally_id}", 422),
        ("GET", "/v1/boom", 500)]
    first = lines[0]
    assert first["level"] == "info" and first["logger"] == "servicekit.access" and first["service"] == "tallies"
    assert first["msg"] == "POST /v1/tallies 201"
    assert first["request_id"] == "req-1" and first["correlation_id"] == "flow-1"
    assert first["user_id"] == str(user) and first["client"] == "testclient"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert len(first["trace_id"]) == 32
    assert "user_id" not in lines[3]  # anonymous
    assert lines[1]["request_id"] != lines[2]["request_id"]  # one generated per request
    text = access_lines.getvalue()
    token = auth["Authorization"].split()[1]
    assert token not in text and "my-diary-entry" not in text and tally_id not in text


def test_the_access_log_can_be_turned_off(postgres_url: str, pg_schema: str, access_lines: io.StringIO) -> None:
    with TestClient(quiet_app(postgres_url, pg_schema, access_log=False)) as client:
        assert client.post("/v1/tallies", json={"bumps": []}, headers=ISSUER.headers(None, "student")).status_code \
            == 201
        samples = scrape(client)
    assert access_lines.getvalue() == ""
    assert sum(v for (n, _), v in samples.items() if n == "alphapeer_http_requests_total") >= 1  # still counted


def test_the_access_log_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAPEER_ACCESS_LOG", "false")
    monkeypatch.setenv("ALPHAPEER_METRICS_TOKEN", "t")
    s = ServiceSettings()
    assert s.access_log is False and s.metrics_token == "t"


def test_a_metrics_token_guards_the_scrape(postgres_url: str, pg_schema: str) -> None:
    with TestClient(quiet_app(postgres_url, pg_schema, metrics_token="scrape-me")) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert ok.status_code == 200 and "alphapeer_http_requests_total" in ok.text


def test_an_otlp_endpoint_may_be_the_collectors_base_url() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://otel.example/custom/traces") == "https://otel.example/custom/traces"
    assert traces_url("") == ""
