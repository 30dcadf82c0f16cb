"""The operators' dead-letter command on the real broker protocol: a poison message is
dead-lettered, listed and shown with where it came from and why, fixed after the fact,
replayed to its topic and applied; a second replay is skipped unless forced, and a forced
one changes nothing (the subscriber tracks what it applied)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaProducer

from alphapeer_contracts.identity import EmailVerified
from servicekit import dlq, envelope
from servicekit.database import Cursor, Database
from servicekit.settings import ServiceSettings
from servicekit.subscriber import Delivery, IdempotentSubscriber, ProjectionReaction, make_broker
from servicekit.testing import Broker, close_later, consume_all

pytestmark = pytest.mark.integration

POISON = UUID(int=0)


def message(user: UUID, seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    ev = EmailVerified(user_id=user, occurred_at=datetime.now(UTC))
    return envelope.wrap(ev, source="/alphapeer/identity", sequence=seq, ce_id=f"id-{seq}",
                         traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


async def produce(bootstrap: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait("identity.events", value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def command(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await dlq.run(list(argv), out)
    return code, out.getvalue()


async def test_a_poison_message_fixed_after_the_fact_is_replayed_once(
    postgres_url: str, pg_schema: str, kafka: Broker
) -> None:
    settings = ServiceSettings(service_name="consumer", database_url=postgres_url, database_schema=pg_schema,
                               kafka_bootstrap_servers=kafka.bootstrap, kafka_session_timeout_ms=3000,
                               kafka_heartbeat_interval_ms=500)
    db = Database(settings)
    close_later(db)
    db.execute_script(["CREATE TABLE IF NOT EXISTS verified (user_id TEXT PRIMARY KEY, n BIGINT NOT NULL)"])
    fixed = threading.Event()

    def apply(cur: Cursor, ev: Any, delivery: Delivery) -> None:
        if ev.user_id == POISON and not fixed.is_set():
            raise ValueError("poison pill: no such user")  # a bug, fixed later
        cur.execute("INSERT INTO verified (user_id, n) VALUES (%s, 1) ON CONFLICT (user_id) DO UPDATE "
                    "SET n = verified.n + 1", (str(ev.user_id),))

    def verified() -> dict[str, int]:
        with db.transaction() as cur:
            cur.execute("SELECT user_id, n FROM verified")
            return {r[0]: int(r[1]) for r in cur.fetchall()}

    alice, bob = UUID(int=1), UUID(int=2)
    await produce(kafka.bootstrap, [message(alice, 1), message(POISON, 2), message(bob, 3)])
    broker = make_broker(settings)
    sub = IdempotentSubscriber(broker, settings, topics=["identity.events"], reaction=ProjectionReaction(db, apply))
    await broker.start()
    bs = ("--bootstrap", kafka.bootstrap, "--timeout", "20")
    try:
        await wait_for(lambda: sub.stats.applied == 2 and sub.stats.dead_lettered == 1)
        assert verified() == {str(alice): 1, str(bob): 1}
        original = next(r for r in await consume_all(kafka.bootstrap, "identity.events", expect=3)
                        if envelope.decode_headers(r.headers)["ce_sequence"] == "2")

        # list: where it came from, why, how many attempts, not replayed yet.
        code, out = await command("consumer", "list", *bs)
        assert code == 0, out
        header, line = out.splitlines()
        assert header == "1 of 1 dead letters in consumer.dlq"
        ref = line.split()[0]
        assert f"from identity.events:{original.partition}:{original.offset}" in line
        assert "alphapeer.identity.EmailVerified.v1" in line and "attempts=3" in line and "pending" in line
        assert "ValueError: poison pill: no such user" in line

        # show: everything, as JSON.
        code, out = await command("consumer", "show", ref, *bs)
        shown = json.loads(out)
        assert shown["original"] == {"topic": "identity.events", "partition": original.partition,
                                     "offset": original.offset}
        assert shown["attempts"] == 3 and shown["consumer"] == "consumer" and shown["ce_id"] == "id-2"
        assert "Traceback" in shown["headers"]["dlq_trace"]
        assert shown["value"]["user_id"] == str(POISON) and shown["replayed"] == []

        # Filters.
        assert (await command("consumer", "list", "--type", "EmailVerified", "--since", "1h", *bs))[1] \
            .startswith("1 of 1")
        assert (await command("consumer", "list", "--type", "UserSuspended", *bs))[1].startswith("0 of 1")
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert (await command("consumer", "list", "--since", future, *bs))[1].startswith("0 of 1")
        assert (await command("consumer", "replay", *bs))[0] == 2  # replay what? refuses to guess
        assert (await command("consumer", "show", "9:999", *bs))[0] == 2

        # Fixed after the fact: replayed to its topic, applied by the subscriber.
        fixed.set()
        code, out = await command("consumer", "replay", ref, *bs)
        assert code == 0 and out.startswith(f"replayed {ref} (alphapeer.identity.EmailVerified.v1) -> identity.events:")
        await wait_for(lambda: sub.stats.applied == 3)
        assert verified() == {str(alice): 1, str(bob): 1, str(POISON): 1}
        republished = await consume_all(kafka.bootstrap, "identity.events", expect=4)
        assert len(republished) == 4
        (replayed,) = [r for r in republished if r.offset > original.offset and r.partition == original.partition
                       and envelope.decode_headers(r.headers)["ce_sequence"] == "2"]
        assert replayed.value == original.value and replayed.key == original.key
        headers = envelope.decode_headers(replayed.headers)
        before = envelope.decode_headers(original.headers)
        assert {k: v for k, v in headers.items() if k in before} == before  # every original header, as it was
        assert [k for k in headers if k.startswith("dlq_")] == ["dlq_replay_of"]
        assert headers["dlq_replay_of"] == f"consumer.dlq:{ref}"

        # A second replay of the same dead letter is skipped: nothing is published.
        code, out = await command("consumer", "replay", ref, *bs)
        assert code == 0 and out.startswith(f"skipped {ref}") and "already replayed" in out
        code, out = await command("consumer", "list", "--pending", *bs)
        assert out.startswith("0 of 1")
        code, out = await command("consumer", "list", *bs)
        assert "replayed 20" in out.splitlines()[1]  # replayed <when>
        assert len(await consume_all(kafka.bootstrap, "identity.events", expect=5, timeout=3)) == 4

        # Forced, it is published again, and the subscriber recognises it: nothing changes.
        code, out = await command("consumer", "replay", "--all", "--force", *bs)
        assert code == 0 and out.startswith(f"replayed {ref}")
        await wait_for(lambda: sub.stats.duplicates == 1)
        assert verified() == {str(alice): 1, str(bob): 1, str(POISON): 1}
        assert sub.stats.dead_lettered == 1
        code, out = await command("consumer", "show", ref, *bs)
        assert len(json.loads(out)["replayed"]) == 2
    finally:
        await broker.stop()


def test_the_command_runs_as_a_module_and_reads_a_missing_topic_as_empty(kafka: Broker) -> None:
    result = subprocess.run([sys.executable, "-m", "servicekit.dlq", "nobody", "list", "--bootstrap", kafka.bootstrap],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 of 0 dead letters in nobody.dlq"


def test_since_reads_durations_and_dates() -> None:
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    assert dlq.parse_since("30m", now) == now - timedelta(minutes=30)
    assert dlq.parse_since("2h", now) == now - timedelta(hours=2)
    assert dlq.parse_since("7d", now) == now - timedelta(days=7)
    assert dlq.parse_since("2030-04-30T08:00", now) == datetime(2030, 4, 30, 8, 0, tzinfo=UTC)
    assert dlq.type_matches("UserSuspended", "alphapeer.identity.UserSuspended.v1")
    assert dlq.type_matches("alphapeer.identity.*", "alphapeer.identity.UserSuspended.v1")
    assert not dlq.type_matches("UserErased", "alphapeer.identity.UserSuspended.v1")
