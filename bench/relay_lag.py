"""Outbox relay: commit → on the topic (p50/p99) for single commits, and backlog drain
throughput, against PostgreSQL's own commit rate measured in the same run."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer
from eventsourcing.domain import Aggregate, event

from servicekit import devstack, envelope
from servicekit.database import Database
from servicekit.eventstore import ServiceApplication
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings


class Meter(Aggregate):
    @event("Ticked")
    def __init__(self) -> None:
        pass


def translate(domain_event: Any) -> Any:
    from alphapeer_contracts.identity import EmailVerified

    return EmailVerified(user_id=domain_event.originator_id, occurred_at=domain_event.timestamp)


class BenchApp(ServiceApplication):
    name = "bench"


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    return asyncio.run(_run(db_url, context, quick))


async def _run(db_url: str, context: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report

    results: list[dict[str, Any]] = []
    print("relay")
    port = devstack.free_port()
    broker = devstack.start_tansu(port)
    bootstrap = f"127.0.0.1:{port}"
    settings = ServiceSettings(service_name="bench", database_url=db_url, database_schema=f"b_{uuid.uuid4().hex[:6]}",
                               kafka_bootstrap_servers=bootstrap, relay_poll_interval=0.2)
    db = Database(settings)
    app = BenchApp(env=db.eventsourcing_env())
    relay = OutboxRelay(app, db, settings, translate)
    consumer = AIOKafkaConsumer("bench.events", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=5)
    task = asyncio.create_task(relay.run())
    try:
        # Warm up: the topic exists and the consumer is assigned before timing.
        await asyncio.to_thread(app.save, Meter())
        await consumer.start()
        await consumer.getone()
        n = 100 if quick else 500
        lags: list[float] = []
        for _ in range(n):
            saved_at = time.time()
            m = Meter()
            await asyncio.to_thread(app.save, m)
            rec = await consumer.getone()
            lags.append((time.time() - saved_at) * 1000)
            assert envelope.decode_headers(rec.headers)["ce_subject"] == str(m.id)
        ctx = {**context, "samples": n, "note": "one aggregate per commit; save in a thread, relay woken in-process"}
        report(results, "relay.commit_to_topic.p50", percentile(lags, 50), "ms", ctx)
        report(results, "relay.commit_to_topic.p99", percentile(lags, 99), "ms", ctx)

        # Backlog drain: write many events in large commits while the relay is stopped.
        await relay.stop()
        await task
        backlog = 5_000 if quick else 20_000
        for _ in range(backlog // 1000):
            await asyncio.to_thread(app.save, *[Meter() for _ in range(1000)])
        start = time.perf_counter()
        relay2 = OutboxRelay(app, db, settings, translate)
        task = asyncio.create_task(relay2.run())
        target = app.recorder.max_notification_id() or 0
        while relay2.status.position < target:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        report(results, "relay.backlog_drain", backlog / elapsed, "events/s",
               {**context, "events": backlog, "batch": settings.relay_batch_size})
        relay = relay2
        report(results, "postgres.single_row_commits", _pg_commit_rate(db_url), "commits/s",
               {**context, "note": "baseline: one INSERT per transaction, same server, same run"})
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 15)
        await consumer.stop()
        db.close()
        broker.kill()
    return results


def _pg_commit_rate(db_url: str, n: int = 2000) -> float:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE commits_probe (id BIGINT)")
        start = time.perf_counter()
        for i in range(n):
            conn.execute("INSERT INTO commits_probe VALUES (%s)", (i,))
        return n / (time.perf_counter() - start)
