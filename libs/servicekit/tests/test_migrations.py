"""Schema creation and seeding as a migration, not by every replica at start.

A service declares its DDL and seeds once, where they are used; a migration run
(``Service.migrate``: ``alphapeer-<service> migrate``, ``python -m servicekit.migrate``, the
``<service>-migrate`` Job) applies them; a replica with ``ALPHAPEER_MIGRATE_ON_START=false``
waits for a migration, then only checks, creating nothing and seeding nothing, and names
whatever is missing. With the default (``make up``, tests, dev) a replica migrates at start,
one process at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI

from servicekit.database import SchemaNotMigrated
from servicekit.eventstore import ServiceApplication
from servicekit.service import Assembly, Service
from servicekit.settings import ServiceSettings
from servicekit.subscriber import ProjectionReaction
from servicekit.testing import ISSUER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


class Shelf(Aggregate):
    @event("Built")
    def __init__(self) -> None:
        pass


class Shelves(ServiceApplication):
    name = "shelves"

    def ensure_first(self) -> None:
        if self.recorder.max_notification_id() is None:  # the seed: one shelf, once
            self.save(Shelf())


VIEW_DDL = ["CREATE TABLE IF NOT EXISTS shelf_view (id TEXT PRIMARY KEY, label TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS shelf_view_label ON shelf_view (label)",
            "ALTER TABLE shelf_view ADD COLUMN IF NOT EXISTS colour TEXT"]


def assemble(svc: Assembly[ServiceSettings]) -> None:
    app = svc.event_store(Shelves)
    svc.seed(app.ensure_first)
    svc.publishes(app, lambda e: None)
    db = svc.tables(VIEW_DDL)
    svc.reacts_to("other.events", reaction=ProjectionReaction(db, lambda cur, e, d: None))
    svc.provide(shelves=app)


SERVICE = Service("shelves", ServiceSettings, assemble, [], description="a probe")


def settings(url: str, schema: str, **kw: Any) -> ServiceSettings:
    return ServiceSettings(service_name="shelves", database_url=url, database_schema=schema,
                           kafka_bootstrap_servers="127.0.0.1:1", **kw)


def close(gateway: FastAPI) -> None:
    for closer in reversed(gateway.state.closers):
        closer()
    gateway.state.db.close()


def objects(url: str, schema: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = %s", (schema,)).fetchall()
    return {r[0] for r in rows}


def shelves(url: str, schema: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(f'SELECT count(*) FROM "{schema}".shelves_events').fetchone()[0])


def test_a_replica_that_only_checks_waits_for_a_migration_and_creates_nothing(postgres_url: str,
                                                                              pg_schema: str) -> None:
    with pytest.raises(SchemaNotMigrated, match=r"shelves migrate") as refused:
        SERVICE.build(settings(postgres_url, pg_schema, migrate_on_start=False, migrate_wait_seconds=1), keys=ISSUER)
    assert pg_schema in str(refused.value)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg_schema,)).fetchone() is None


def test_the_migration_creates_and_seeds_and_replicas_only_check(postgres_url: str, pg_schema: str) -> None:
    SERVICE.migrate(settings(postgres_url, pg_schema, migrate_on_start=False))  # the Job's env says false: ignored
    made = objects(postgres_url, pg_schema)
    # The event store, the kit's tables (outbox, relay lease, tracking, generations,
    # idempotency keys, account blocks), the service's own, and the record of the run.
    assert {"shelves_events", "outbox_position", "relay_lease", "projection_tracking", "subscriber_generation",
            "idempotency_keys", "account_blocks", "shelf_view", "shelf_view_label",
            "alphapeer_migrations"} <= made, made
    assert shelves(postgres_url, pg_schema) == 1

    SERVICE.migrate(settings(postgres_url, pg_schema))  # again: nothing changes, the seed is not repeated
    assert shelves(postgres_url, pg_schema) == 1

    replica = SERVICE.build(settings(postgres_url, pg_schema, migrate_on_start=False), keys=ISSUER)
    close(replica)
    assert objects(postgres_url, pg_schema) == made
    assert shelves(postgres_url, pg_schema) == 1


@pytest.mark.parametrize("drop, named", [
    ("DROP TABLE {s}.shelf_view", "table {s}.shelf_view"),
    ("DROP INDEX {s}.shelf_view_label", "index {s}.shelf_view_label"),
    ("ALTER TABLE {s}.shelf_view DROP COLUMN colour", "column {s}.shelf_view.colour"),
    ("DROP TABLE {s}.relay_lease", "table {s}.relay_lease"),
    ("DROP TABLE {s}.shelves_events", "table {s}.shelves_events"),
])
def test_a_replica_names_what_the_migration_has_not_made(postgres_url: str, pg_schema: str, drop: str,
                                                         named: str) -> None:
    SERVICE.migrate(settings(postgres_url, pg_schema))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(drop.format(s=pg_schema))
    with pytest.raises(SchemaNotMigrated) as refused:
        SERVICE.build(settings(postgres_url, pg_schema, migrate_on_start=False), keys=ISSUER)
    assert named.format(s=pg_schema) in str(refused.value)


def test_a_replica_started_beside_the_job_waits_for_it(postgres_url: str, pg_schema: str) -> None:
    built: list[Any] = []
    replica = threading.Thread(target=lambda: built.append(SERVICE.build(
        settings(postgres_url, pg_schema, migrate_on_start=False, migrate_wait_seconds=30), keys=ISSUER)))
    replica.start()
    SERVICE.migrate(settings(postgres_url, pg_schema))
    replica.join(40)
    assert built, "the replica should have started once the migration had run"
    close(built[0])


def test_replicas_migrating_at_start_take_turns(postgres_url: str, pg_schema: str) -> None:
    gateways: list[FastAPI] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            gateways.append(SERVICE.build(settings(postgres_url, pg_schema), keys=ISSUER))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for gateway in gateways:
        close(gateway)
    assert not errors, errors
    assert len(gateways) == 4 and shelves(postgres_url, pg_schema) == 1


# ---------------------------------------------------------------- the real services


@pytest.fixture
def fresh_database(postgres_server: str) -> Iterator[str]:
    """A database of its own: the services use their default schemas (their names)."""
    name = f"alphapeer_migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_service_migrates_as_a_job_and_then_starts_checking(fresh_database: str, tmp_path: Path) -> None:
    from servicekit.migrate import installed

    env = {**os.environ, "ALPHAPEER_DATABASE_URL": fresh_database, "ALPHAPEER_DATA_DIR": str(tmp_path),
           "ALPHAPEER_MIGRATE_ON_START": "false", "ALPHAPEER_LOG_FORMAT": "text",
           "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": "first.admin@uni.example",
           "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": "a long enough first password"}
    services = installed()
    assert {"identity", "catalog", "matching"} <= set(services)
    bad = subprocess.run([sys.executable, "-m", "servicekit.migrate", "nosuchservice"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not installed: nosuchservice" in bad.stderr
    job = subprocess.run([sys.executable, "-m", "servicekit.migrate", "--all"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, job.stdout + job.stderr
    assert all(f"{name}: migrated" in job.stdout for name in services)

    for name, service in sorted(services.items()):
        gateway = service.build(service.settings_class(
            service_name=name, database_url=fresh_database, data_dir=tmp_path, migrate_on_start=False,
            kafka_bootstrap_servers="127.0.0.1:1"), keys=ISSUER)
        try:
            if name == "catalog":  # seeded by the Job: the replica reads it
                assert gateway.state.catalog.taxonomy().areas
            if name == "identity":
                assert gateway.state.identity.authenticate("first.admin@uni.example", "a long enough first password")
        finally:
            close(gateway)
