"""``ALPHAPEER_DATABASE_URL`` as libpq reads it: every query parameter kept (TLS,
application_name, target_session_attrs, several hosts), for the kit's connections and the
event store's alike; ``postgresql+psycopg://`` accepted; anything else refused clearly.

The embedded PostgreSQL is built without SSL ("SSL is not supported by this build"), so TLS
is shown to reach every connection by the server's refusal of ``sslmode=require``; the
other parameters are seen from the server's side (``pg_stat_activity``)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event

from servicekit.database import Database, DatabaseNotConfigured, parse_url
from servicekit.eventstore import PostgresFactory, ServiceApplication
from servicekit.settings import ServiceSettings
from servicekit.testing import close_later


def settings(url: str, **kw: Any) -> ServiceSettings:
    return ServiceSettings(service_name="urlprobe", database_url=url, **kw)


# ---------------------------------------------------------------- reading the URL


def test_query_parameters_are_kept() -> None:
    pg = parse_url("postgresql://app:s3cr%40t@db.example:5433/app?sslmode=verify-full&sslrootcert=/etc/pg/ca.crt"
                   "&application_name=alphapeer-identity&target_session_attrs=read-write&connect_timeout=5")
    assert pg == {"dbname": "app", "host": "db.example", "port": "5433", "user": "app", "password": "s3cr@t",
                  "sslmode": "verify-full", "sslrootcert": "/etc/pg/ca.crt", "application_name": "alphapeer-identity",
                  "target_session_attrs": "read-write", "connect_timeout": "5"}


def test_the_psycopg_dialect_and_postgres_scheme_are_the_same_url() -> None:
    plain = parse_url("postgresql://u:p@h:5432/d?sslmode=require")
    assert parse_url("postgresql+psycopg://u:p@h:5432/d?sslmode=require") == plain
    assert parse_url("postgres://u:p@h:5432/d?sslmode=require") == plain


def test_a_cloudnativepg_uri_and_several_hosts_are_read() -> None:
    # The `uri` key of CloudNativePG's `<cluster>-app` secret, as generated.
    cnpg = parse_url("postgresql://app:Zm9vYmFy%2Bc2VjcmV0@alphapeer-db-rw.alphapeer:5432/app")
    assert (cnpg["host"], cnpg["port"], cnpg["user"], cnpg["password"], cnpg["dbname"]) == \
        ("alphapeer-db-rw.alphapeer", "5432", "app", "Zm9vYmFy+c2VjcmV0", "app")
    multi = parse_url("postgresql://app@pg-1:5432,pg-2:5433/app?target_session_attrs=read-write")
    assert (multi["host"], multi["port"]) == ("pg-1,pg-2", "5432,5433")


@pytest.mark.parametrize("url", [
    "mysql://u:p@h/db", "postgresql+asyncpg://u:p@h/db", "postgresql+psycopg2://u:p@h/db", "sqlite:///data/x.db",
    "db.example:5432/app", "",
])
def test_other_urls_are_refused_naming_what_to_use(url: str) -> None:
    with pytest.raises(DatabaseNotConfigured, match=r"postgresql://"):
        parse_url(url)


def test_a_misspelt_parameter_is_refused_without_showing_the_password() -> None:
    with pytest.raises(DatabaseNotConfigured, match="sslmod") as refused:
        parse_url("postgresql://app:hunter2@h/db?sslmod=require")
    assert "hunter2" not in str(refused.value)


def test_the_event_store_gets_what_its_library_does_not_take_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from psycopg.conninfo import conninfo_to_dict

    db = Database(settings("postgresql+psycopg://app:pw@db:5432/app?sslmode=verify-full&sslrootcert=/ca.crt"
                           "&application_name=x&options=-c%20statement_timeout%3D5000"))
    assert conninfo_to_dict(db.conninfo()) == {"dbname": "app", "host": "db", "port": "5432", "user": "app",
                                               "password": "pw", "sslmode": "verify-full", "sslrootcert": "/ca.crt",
                                               "application_name": "x", "options": "-c statement_timeout=5000"}
    monkeypatch.setattr(db, "ensure_schema", lambda: None)  # no server here
    env = db.eventsourcing_env()
    # eventsourcing.postgres takes only these itself...
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_USER"], env["POSTGRES_PASSWORD"],
            env["POSTGRES_DBNAME"]) == ("db", "5432", "app", "pw", "app")
    # ...the rest rides in one libpq string that the kit's factory adds to its pool.
    assert env["PERSISTENCE_MODULE"] == "servicekit.eventstore:PostgresFactory"
    assert conninfo_to_dict(env["POSTGRES_CONNECT_PARAMS"]) == {
        "sslmode": "verify-full", "sslrootcert": "/ca.crt", "application_name": "x",
        "options": "-c statement_timeout=5000"}


# ---------------------------------------------------------------- on a real server


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class Notes(ServiceApplication):
    name = "urlnotes"


def backends(url: str, application_name: str) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            (application_name,)).fetchall()


def test_parameters_reach_the_kit_and_the_event_store_connections(postgres_url: str, pg_schema: str) -> None:
    name = f"alphapeer-test-{uuid.uuid4().hex[:8]}"
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://") + \
        f"?application_name={name}&sslmode=disable&target_session_attrs=read-write&options=-c%20lock_timeout%3D7s"
    db = Database(settings(url, database_schema=pg_schema))
    app = Notes(env=db.eventsourcing_env())
    close_later(app, db)
    note = Note("hello")
    app.save(note)  # through the event store's own pool
    with db.transaction() as cur:  # through the kit's pool
        cur.execute("SHOW lock_timeout")
        assert cur.fetchone()[0] == "7s"  # the URL's options, with the kit's search_path added
        cur.execute("SHOW search_path")
        assert pg_schema in cur.fetchone()[0]
    assert app.repository.get(note.id).text == "hello"
    # Both pools' connections carry the URL's application_name.
    assert len(backends(postgres_url, name)) >= 2


def test_sslmode_reaches_every_connection(postgres_url: str, pg_schema: str) -> None:
    # This server has no TLS: a URL that requires it must be refused by the kit's
    # connections and by the event store's, not silently downgraded.
    url = postgres_url + "?sslmode=require"
    db = Database(settings(url, database_schema=pg_schema))
    with pytest.raises(psycopg.OperationalError, match="SSL"):
        db.ensure_schema()
    plain = Database(settings(postgres_url, database_schema=pg_schema))
    env = plain.eventsourcing_env()  # the schema exists now
    close_later(plain)
    secured = {**env, "POSTGRES_CONNECT_PARAMS": "sslmode=require", "POSTGRES_CONNECT_TIMEOUT": "2"}
    factory = PostgresFactory(secured)  # what the application's persistence is made of
    close_later(factory)
    assert factory.datastore.pool.kwargs["sslmode"] == "require"  # on every connection of its pool
    with pytest.raises(Exception, match="couldn't get a connection"):  # (the pool logs libpq's SSL refusal)
        Notes(env=secured)
