"""The service's own database: where its event store lives, and the few plain tables the
plumbing needs beside it (outbox position, idempotency keys, projection rows, tracking).

PostgreSQL when ``ALPHAPEER_DATABASE_URL`` is set (one schema per service), else one
SQLite file per service under the data folder. SQL is written with ``?`` placeholders and
translated for psycopg."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from servicekit.settings import ServiceSettings


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class _PgCursor:
    """Adapts psycopg's cursor to ``?`` placeholders."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(_to_pg(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cur.executemany(_to_pg(sql), rows)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())


_PLACEHOLDER = re.compile(r"\?")


def _to_pg(sql: str) -> str:
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class Database:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.schema = settings.db_schema
        self.url = settings.database_url
        self.is_postgres = self.url.startswith(("postgres://", "postgresql://"))
        self._pool: Any = None
        self._lock = threading.Lock()
        if self.is_postgres:
            parsed = urlparse(self.url)
            self.pg = {
                "dbname": (parsed.path or "/postgres").lstrip("/") or "postgres",
                "host": parsed.hostname or "127.0.0.1",
                "port": str(parsed.port or 5432),
                "user": unquote(parsed.username or "postgres"),
                "password": unquote(parsed.password or ""),
            }
            self.sqlite_path: Path | None = None
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.sqlite_path = settings.data_dir / f"{settings.service_name}.sqlite"

    # -- the event store -------------------------------------------------------------

    def eventsourcing_env(self) -> dict[str, str]:
        """Environment for an ``eventsourcing`` Application on this database."""
        env = {"SINGLE_ROW_TRACKING": "n", "CREATE_TABLE": "y"}
        if self.is_postgres:
            self.ensure_schema()
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=self.pg["dbname"],
                POSTGRES_HOST=self.pg["host"],
                POSTGRES_PORT=self.pg["port"],
                POSTGRES_USER=self.pg["user"],
                POSTGRES_PASSWORD=self.pg["password"],
                POSTGRES_SCHEMA=self.schema,
                POSTGRES_POOL_SIZE="5",
                POSTGRES_MAX_OVERFLOW="10",
            )
        else:
            env.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=str(self.sqlite_path))
        return env

    # -- plain tables ----------------------------------------------------------------

    def ensure_schema(self) -> None:
        if not self.is_postgres:
            return
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**self.pg)

    def _pg_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self.ensure_schema()
                conninfo = self.conninfo()
                self._pool = ConnectionPool(
                    conninfo,
                    min_size=1,
                    max_size=8,
                    kwargs={"options": f"-c search_path={self.schema}"},
                    open=True,
                )
            return self._pool

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction: committed when the block exits cleanly, rolled back otherwise."""
        if self.is_postgres:
            with self._pg_pool().connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield _PgCursor(cur)
        else:
            conn = sqlite3.connect(str(self.sqlite_path), timeout=30, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout = 30000")
                conn.execute("BEGIN IMMEDIATE")
                cur = conn.cursor()
                try:
                    yield cur
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    def execute_script(self, statements: Sequence[str]) -> None:
        """DDL, idempotent (``CREATE ... IF NOT EXISTS``). Types are chosen to mean the
        same on both engines: TEXT, BIGINT, BLOB is mapped to BYTEA on PostgreSQL."""
        with self.transaction() as cur:
            for stmt in statements:
                if self.is_postgres:
                    stmt = stmt.replace(" BLOB", " BYTEA")
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
