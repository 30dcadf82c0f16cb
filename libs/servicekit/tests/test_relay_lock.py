"""The relay lock survives a holder that vanishes without closing its connection.

The holder is a relay in a child process that is then frozen with SIGSTOP: its process
does nothing more, but its TCP connection to PostgreSQL stays open (the kernel still
answers for it) — what a hung node or a stuck process looks like to the server. Without a
bound the lock would stay held until TCP gave up (hours) and nothing would be published.
With ``ALPHAPEER_RELAY_LOCK_TIMEOUT`` PostgreSQL ends the silent session and a standby takes
over within the bound; meanwhile the standby's ``/readyz`` detail says who holds the lock."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event

from alphapeer_contracts.identity import EmailVerified
from servicekit import envelope
from servicekit.database import Database
from servicekit.eventstore import ServiceApplication
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.testing import Broker, close_later, consume_all

pytestmark = pytest.mark.integration

BOUND = 3.0  # seconds: ALPHAPEER_RELAY_LOCK_TIMEOUT in this test

# The frozen holder: a real relay on the same schema, with an empty store (it never has to
# decode this module's events). It prints its PostgreSQL session once it holds the lock.
HOLDER = textwrap.dedent("""
    import asyncio, sys
    from servicekit.database import Database
    from servicekit.eventstore import ServiceApplication
    from servicekit.relay import OutboxRelay
    from servicekit.settings import ServiceSettings

    class Probe(ServiceApplication):
        name = "probe"

    async def main():
        settings = ServiceSettings()
        db = Database(settings)
        relay = OutboxRelay(Probe(env=db.eventsourcing_env()), db, settings, lambda e: None)
        task = asyncio.create_task(relay.run())
        while not relay.status.active:
            await asyncio.sleep(0.05)
        pid = relay._lock._conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        print(f"HOLDING {pid}", flush=True)
        while relay.status.active:  # (frozen in here, then woken)
            await asyncio.sleep(0.05)
        print("STANDING BY", flush=True)
        await task

    asyncio.run(main())
""")


class Account(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        pass

    @event("Pinged")
    def ping(self) -> None:
        pass


class Probe(ServiceApplication):
    name = "probe"


def translate(domain_event: Any) -> EmailVerified | None:
    if isinstance(domain_event, Account.Pinged):
        return EmailVerified(user_id=domain_event.originator_id, occurred_at=domain_event.timestamp)
    return None


def session_alive(url: str, pid: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,)).fetchone()[0]


async def test_a_frozen_holder_loses_the_relay_lock_within_the_bound(
    postgres_url: str, pg_schema: str, kafka: Broker, tmp_path: Path
) -> None:
    env = {"ALPHAPEER_SERVICE_NAME": "probe", "ALPHAPEER_DATABASE_URL": postgres_url,
           "ALPHAPEER_DATABASE_SCHEMA": pg_schema, "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
           "ALPHAPEER_RELAY_LOCK_TIMEOUT": str(BOUND), "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05",
           "ALPHAPEER_LOG_FORMAT": "text"}
    settings = ServiceSettings(**{k.removeprefix("ALPHAPEER_").lower(): v for k, v in env.items()})
    db = Database(settings)
    app = Probe(env=db.eventsourcing_env())
    close_later(app, db)
    OutboxRelay(app, db, settings, translate)  # its tables, before the holder starts

    log = (tmp_path / "holder.log").open("wb")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], env={**os.environ, **env},
                              stdout=subprocess.PIPE, stderr=log)
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 60)
        assert line.startswith(b"HOLDING"), (line, (tmp_path / "holder.log").read_text())
        holder_session = int(line.split()[1])

        standby = OutboxRelay(app, db, settings, translate)
        task = asyncio.create_task(standby.run())
        try:
            # A standby says who publishes, and since when.
            deadline = time.monotonic() + 10
            while "published by" not in standby.status.describe():
                assert time.monotonic() < deadline, standby.status.describe()
                await asyncio.sleep(0.1)
            detail = standby.status.describe()
            assert f"pid {holder.pid}" in detail and f"session {holder_session}" in detail and " since " in detail
            await asyncio.sleep(BOUND * 1.5)  # a live holder keeps the lock past the bound
            assert not standby.status.active, "the lock was taken from a live holder"

            holder.send_signal(signal.SIGSTOP)  # frozen: no statement, no close; its socket stays open
            frozen_at = time.monotonic()
            account = Account()
            account.ping()
            app.save(account)
            while not standby.status.active:
                assert time.monotonic() - frozen_at < BOUND + 5, standby.status.describe()
                await asyncio.sleep(0.05)
            took = time.monotonic() - frozen_at
            assert not session_alive(postgres_url, holder_session), "PostgreSQL should have ended the silent session"
            target = app.recorder.max_notification_id() or 0
            while standby.status.position < target:
                assert time.monotonic() - frozen_at < BOUND + 20, standby.status
                await asyncio.sleep(0.05)

            # Woken up, the old holder finds its session gone and stands by: one publisher.
            holder.send_signal(signal.SIGCONT)
            line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 20)
            assert line.strip() == b"STANDING BY", line
            await asyncio.sleep(1.0)
            assert standby.status.active
        finally:
            await standby.stop()
            await asyncio.wait_for(task, 10)
    finally:
        holder.kill()  # SIGKILL ends a stopped process too
        holder.wait(10)
        log.close()
    print(f"standby said: {detail}\ntakeover {took:.2f} s after the holder froze (bound {BOUND} s)")
    assert BOUND - 0.5 < took < BOUND + 5, took
    records = await consume_all(kafka.bootstrap, "probe.events", expect=1)
    assert [envelope.decode_headers(r.headers)["ce_type"] for r in records] == ["alphapeer.identity.EmailVerified.v1"]
