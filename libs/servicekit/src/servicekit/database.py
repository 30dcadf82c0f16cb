"""The service's own database: where its event store lives, and the few plain tables the
plumbing needs beside it (outbox position, idempotency keys, projection rows, tracking).

PostgreSQL, always: ``ALPHAPEER_DATABASE_URL`` names the server, and every service keeps
its tables in a schema of its own (its name), so one server can hold them all while no
service reads another's tables. With no URL, ``make up`` and the tests start a local
server from the pinned wheel first (:mod:`servicekit.pgserver`) and pass its URL on.
SQL is psycopg's: ``%s`` placeholders.

The URL is libpq's (``postgresql://`` or ``postgres://``; ``postgresql+psycopg://`` is read as
the same), with every query parameter kept: ``sslmode``, ``sslrootcert``, ``application_name``,
``target_session_attrs``, several hosts... — CloudNativePG's ``uri`` works as it is. They reach
the kit's own connections and the event store's (whose library takes only host, port, user,
password and database itself: :class:`servicekit.eventstore.PostgresFactory` adds the rest).

Migrations: with ``ALPHAPEER_MIGRATE_ON_START`` (the default) the DDL every part of the
service declares (``execute_script``) is applied when that part is built, one process at a
time. Without it (production: a migration Job does it, ``servicekit.migrate``) the same
declarations are only checked: a table, index or sequence that is missing is an error naming
it, so a replica never creates or alters tables."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: Any, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class DatabaseNotConfigured(RuntimeError):
    pass


class SchemaNotMigrated(RuntimeError):
    """A replica that only checks (``ALPHAPEER_MIGRATE_ON_START=false``) found something
    missing: the migration of this version has not run."""


#: The scheme SQLAlchemy gives psycopg 3, accepted as plain ``postgresql://``.
_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "postgresql+psycopg": "postgresql"}
#: What eventsourcing's PostgreSQL module takes itself; everything else goes through
#: ``POSTGRES_CONNECT_PARAMS`` (see :class:`servicekit.eventstore.PostgresFactory`).
_EVENTSOURCING_KEYS = {"dbname", "host", "port", "user", "password"}


def parse_url(url: str) -> dict[str, str]:
    """libpq's connection parameters from ``ALPHAPEER_DATABASE_URL``, query parameters
    included; defaults for what the URL leaves out (local server, user and database
    ``postgres``)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    scheme, sep, rest = url.partition("://")
    if not sep or not url:
        raise DatabaseNotConfigured(
            "ALPHAPEER_DATABASE_URL must name a PostgreSQL server (postgresql://user@host:port/db?sslmode=...); "
            "`make up` starts a local one when it is unset")
    if scheme.lower() not in _SCHEMES:
        raise DatabaseNotConfigured(
            f"ALPHAPEER_DATABASE_URL: {scheme}:// is not a PostgreSQL URL this kit can use; it connects with "
            "psycopg: postgresql://user:password@host:5432/db (postgres:// and postgresql+psycopg:// are read as "
            "the same)")
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(f"postgresql://{rest}").items()}
    except ProgrammingError as exc:  # libpq's words, e.g. 'invalid URI query parameter: "sslmod"'
        raise DatabaseNotConfigured(f"ALPHAPEER_DATABASE_URL cannot be read: {exc}") from None
    return {"dbname": "postgres", "host": "127.0.0.1", "port": "5432", "user": "postgres", "password": "", **params}


_DDL_OBJECT = re.compile(
    r'^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?(?:MATERIALIZED\s+)?'
    r'(TABLE|INDEX|SEQUENCE|VIEW|FUNCTION|TRIGGER|TYPE)\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?'
    r'(?:.*?\sON\s+"?(\w+)"?)?', re.I | re.S)
#: Statements that create nothing (a lock taken around the DDL, a setting).
_DDL_NOTHING = re.compile(r"^\s*(SELECT|SET|LOCK)\b", re.I)
_DDL_COLUMN = re.compile(
    r'^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?"?(\w+)"?\s+ADD\s+(?:COLUMN\s+)?IF\s+NOT\s+EXISTS\s+"?(\w+)"?', re.I)
MIGRATIONS_DDL = [
    """CREATE TABLE IF NOT EXISTS alphapeer_migrations (
        service TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        migrated_at TIMESTAMPTZ NOT NULL,
        migrated_by TEXT NOT NULL
    )""",
]


class Database:
    def __init__(self, settings: ServiceSettings, pool_size: int = 8) -> None:
        self.settings = settings
        self.schema = settings.db_schema
        self.url = settings.database_url
        self.pg = parse_url(self.url)
        #: Apply declared DDL (True) or only check that it was applied (False).
        self.migrate = settings.migrate_on_start
        self.pool_size = pool_size
        self._pool: Any = None
        self._lock = threading.Lock()

    # -- the event store -------------------------------------------------------------

    def eventsourcing_env(self) -> dict[str, str]:
        """Environment for an ``eventsourcing`` Application on this database."""
        from psycopg.conninfo import make_conninfo

        self.ensure_schema()
        extra = {k: v for k, v in self.pg.items() if k not in _EVENTSOURCING_KEYS}
        return {
            "SINGLE_ROW_TRACKING": "n",
            "CREATE_TABLE": "y" if self.migrate else "n",
            "PERSISTENCE_MODULE": "servicekit.eventstore:PostgresFactory",
            "POSTGRES_DBNAME": self.pg["dbname"],
            "POSTGRES_HOST": self.pg["host"],
            "POSTGRES_PORT": self.pg["port"],
            "POSTGRES_USER": self.pg["user"],
            "POSTGRES_PASSWORD": self.pg["password"],
            "POSTGRES_CONNECT_PARAMS": make_conninfo(**extra) if extra else "",
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
        }

    def check_event_store(self, app: Any) -> None:
        """In check mode: the event store's tables exist (the library creates none then)."""
        if self.migrate:
            return
        recorder = app.recorder
        names = [getattr(recorder, attr) for attr in ("events_table_name", "tracking_table_name")
                 if getattr(recorder, attr, None)]
        missing = self._missing([("relation", name, "") for name in names])
        if missing:
            raise SchemaNotMigrated(self._not_migrated(missing))

    # -- plain tables ----------------------------------------------------------------

    def ensure_schema(self) -> None:
        import psycopg

        if not self.migrate:
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone()
            if row is None:
                raise SchemaNotMigrated(self._not_migrated([f'schema "{self.schema}"']))
            return
        # Another process may create it at the same moment: that is fine too.
        with psycopg.connect(self.conninfo(), autocommit=True) as conn, \
                contextlib.suppress(psycopg.errors.UniqueViolation):
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def conninfo(self, **overrides: Any) -> str:
        """libpq's connection string: the URL's parameters, with ``overrides`` on top."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**{**self.pg, **overrides})

    def _pg_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self.ensure_schema()
                self._pool = ConnectionPool(
                    self.conninfo(),
                    min_size=1,
                    max_size=self.pool_size,
                    # Added to the URL's own options, if it has any.
                    kwargs={"options": f"{self.pg.get('options', '')} -c search_path={self.schema}".strip()},
                    open=True,
                )
            return self._pool

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block exits cleanly, rolled back otherwise."""
        with self._pg_pool().connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def execute_script(self, statements: Sequence[str]) -> None:
        """DDL, idempotent (``CREATE ... IF NOT EXISTS``), in one transaction, one process at
        a time per schema (replicas starting together do not trip over each other's
        ``CREATE TABLE``). In check mode nothing is executed: each object must exist."""
        if not self.migrate:
            self.check_script(statements)
            return
        with self.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"alphapeer-ddl:{self.schema}",))
            for stmt in statements:
                cur.execute(stmt)

    def check_script(self, statements: Sequence[str]) -> None:
        """Raises :class:`SchemaNotMigrated` naming what ``statements`` would create and is
        not there: tables, indexes, sequences, views, types, functions, triggers (``CREATE
        [OR REPLACE] ... name``) and ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` columns.
        Statements that create nothing (``SELECT pg_advisory_xact_lock(...)``) are skipped;
        anything else cannot be checked without running it and is logged."""
        wanted: list[tuple[str, str, str]] = []
        for stmt in statements:
            if found := _DDL_OBJECT.match(stmt):
                kind, name, table = found.group(1).lower(), found.group(2), found.group(3) or ""
                if kind == "function":
                    wanted.append(("function", name, ""))
                elif kind == "trigger":
                    wanted.append(("trigger", name, table))
                elif kind == "type":
                    wanted.append(("type", name, ""))
                else:
                    wanted.append(("relation", name, kind))
            elif found := _DDL_COLUMN.match(stmt):
                wanted.append(("column", found.group(1), found.group(2)))
            elif not _DDL_NOTHING.match(stmt):
                log.warning("cannot check this DDL without running it; write it as CREATE ... name or "
                            "ALTER TABLE ... ADD COLUMN IF NOT EXISTS", extra={"fields": {"statement": stmt[:120]}})
        missing = self._missing(wanted)
        if missing:
            raise SchemaNotMigrated(self._not_migrated(missing))

    def _missing(self, wanted: Sequence[tuple[str, str, str]]) -> list[str]:
        import psycopg

        queries = {
            "relation": ("SELECT to_regclass(%s) IS NOT NULL", lambda n, d: (f'"{self.schema}"."{n}"',)),
            "type": ("SELECT to_regtype(%s) IS NOT NULL", lambda n, d: (f'"{self.schema}"."{n}"',)),
            "function": ("SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace "
                         "WHERE s.nspname = %s AND p.proname = %s)", lambda n, d: (self.schema, n)),
            "trigger": ("SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = to_regclass(%s))",
                        lambda n, d: (n, f'"{self.schema}"."{d}"')),
            "column": ("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND "
                       "table_name = %s AND column_name = %s)", lambda n, d: (self.schema, n, d)),
        }
        missing = []
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            for kind, name, detail in wanted:
                sql, params = queries[kind]
                row = conn.execute(sql, params(name, detail)).fetchone()
                if not (row and row[0]):
                    what = {"relation": detail or "table", "column": "column"}.get(kind, kind)
                    missing.append(f"{what} {self.schema}.{name}{f'.{detail}' if kind == 'column' else ''}")
        return missing

    def _not_migrated(self, missing: Sequence[str]) -> str:
        service = self.settings.service_name
        return (f"{', '.join(missing)} missing: the database has not been migrated for this version of {service}. "
                f"Run `alphapeer-{service} migrate` (the {service}-migrate Job) first, or start with "
                "ALPHAPEER_MIGRATE_ON_START=true")

    # -- migrations ------------------------------------------------------------------

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held while this process migrates the schema: migrations of one schema (a Job, a
        replica migrating at start) run one after another."""
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"alphapeer-migrate:{self.schema}",))
            yield  # closing the session releases the lock

    def record_migration(self, version: str) -> None:
        self.execute_script(MIGRATIONS_DDL)
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO alphapeer_migrations (service, version, migrated_at, migrated_by) "
                "VALUES (%s, %s, now(), %s) ON CONFLICT (service) DO UPDATE SET version = excluded.version, "
                "migrated_at = excluded.migrated_at, migrated_by = excluded.migrated_by",
                (self.settings.service_name, version, f"{socket.gethostname()} pid {os.getpid()}"),
            )

    def migrated(self) -> tuple[str, Any, str] | None:
        """(version, when, by) of the last migration of this schema; None before the first."""
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            table = conn.execute("SELECT to_regclass(%s)", (f'"{self.schema}".alphapeer_migrations',)).fetchone()
            if table is None or table[0] is None:
                return None
            row = conn.execute(f'SELECT version, migrated_at, migrated_by FROM "{self.schema}".alphapeer_migrations '
                               "WHERE service = %s", (self.settings.service_name,)).fetchone()
        return (str(row[0]), row[1], str(row[2])) if row else None

    def wait_until_migrated(self, timeout: float) -> tuple[str, Any, str]:
        """Check mode, at start: waits up to ``timeout`` seconds for a migration of this
        schema to have run (a Job started beside the replicas), then returns it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.migrated()
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise SchemaNotMigrated(self._not_migrated([f'migrations of schema "{self.schema}"']))
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def ping(self) -> None:
        with self.transaction() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
