"""The service's own database: where its event store lives, and the few plain tables the
plumbing needs beside it (outbox position, idempotency keys, projection rows, tracking).

PostgreSQL, always: ``ALPHAPEER_DATABASE_URL`` names the server, and every service keeps
its tables in a schema of its own (its name), so one server can hold them all while no
service reads another's tables. With no URL, ``make up`` and the tests start a local
server from the pinned wheel first (:mod:`servicekit.pgserver`) and pass its URL on.
SQL is psycopg's: ``%s`` placeholders."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from servicekit.settings import ServiceSettings


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: Any, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class DatabaseNotConfigured(RuntimeError):
    pass


class Database:
    def __init__(self, settings: ServiceSettings, pool_size: int = 8) -> None:
        self.settings = settings
        self.schema = settings.db_schema
        self.url = settings.database_url
        if not self.url.startswith(("postgres://", "postgresql://")):
            raise DatabaseNotConfigured(
                "ALPHAPEER_DATABASE_URL must name a PostgreSQL server (postgresql://user@host:port/db); "
                "`make up` starts a local one when it is unset")
        parsed = urlparse(self.url)
        self.pg = {
            "dbname": (parsed.path or "/postgres").lstrip("/") or "postgres",
            "host": parsed.hostname or "127.0.0.1",
            "port": str(parsed.port or 5432),
            "user": unquote(parsed.username or "postgres"),
            "password": unquote(parsed.password or ""),
        }
        self.pool_size = pool_size
        self._pool: Any = None
        self._lock = threading.Lock()

    # -- the event store -------------------------------------------------------------

    def eventsourcing_env(self) -> dict[str, str]:
        """Environment for an ``eventsourcing`` Application on this database."""
        self.ensure_schema()
        return {
            "SINGLE_ROW_TRACKING": "n",
            "CREATE_TABLE": "y",
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.pg["dbname"],
            "POSTGRES_HOST": self.pg["host"],
            "POSTGRES_PORT": self.pg["port"],
            "POSTGRES_USER": self.pg["user"],
            "POSTGRES_PASSWORD": self.pg["password"],
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
        }

    # -- plain tables ----------------------------------------------------------------

    def ensure_schema(self) -> None:
        import psycopg

        # Another process may create it at the same moment: that is fine too.
        with psycopg.connect(self.conninfo(), autocommit=True) as conn, \
                contextlib.suppress(psycopg.errors.UniqueViolation):
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**self.pg)

    def _pg_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self.ensure_schema()
                self._pool = ConnectionPool(
                    self.conninfo(),
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs={"options": f"-c search_path={self.schema}"},
                    open=True,
                )
            return self._pool

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block exits cleanly, rolled back otherwise."""
        with self._pg_pool().connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def execute_script(self, statements: Sequence[str]) -> None:
        """DDL, idempotent (``CREATE ... IF NOT EXISTS``), in one transaction."""
        with self.transaction() as cur:
            for stmt in statements:
                cur.execute(stmt)

    def ping(self) -> None:
        with self.transaction() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
