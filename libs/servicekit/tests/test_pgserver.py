"""servicekit.pgserver: PostgreSQL from the pinned wheel, started, reused and recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from servicekit import pgserver
from servicekit.pgserver import LocalPostgres, ThrowawayPostgres


def _modes() -> list[str]:
    """The way this machine runs the server, plus, for root with user namespaces, the
    fallback of running as ``nobody`` where its binaries are reachable by others."""
    mode = pgserver._root_mode()
    modes = [mode]
    if mode == "userns":
        try:
            pgserver._check_searchable(pgserver.binaries())
            modes.append("nobody")
        except PermissionError:
            pass
    return modes


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while pgserver._alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("mode", _modes())
def test_throwaway_server_takes_sql_and_leaves_nothing(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver, "_root_mode", lambda: mode)
    with ThrowawayPostgres() as pg:
        url = pg.start()
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        data_dir, pid = pg.data_dir, pg.pid
        assert data_dir is not None and pid is not None
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            conn.execute("INSERT INTO t VALUES (1, 'Zoë')")
            assert conn.execute("SELECT upper(name) FROM t").fetchone() == ("ZOË",)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
    assert not pg.running and pg.url is None
    assert _gone(pid)
    assert not data_dir.exists()


def test_persistent_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    with LocalPostgres() as pg:
        url = pg.start(data)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('before restart')")
        # one server per data dir
        with pytest.raises(RuntimeError, match="in use"):
            LocalPostgres().start(data)
    assert (data / "PG_VERSION").exists() and not (data / "postmaster.pid").exists()
    with LocalPostgres() as pg:
        url = pg.start(data)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchall() == [("before restart",)]


def test_start_after_sigkill_with_stale_pid_file(tmp_path: Path) -> None:
    """The CLI and its postmaster both killed with SIGKILL: postmaster.pid stays behind."""
    data = tmp_path / "pg"
    cli = subprocess.Popen([sys.executable, "-m", "servicekit.pgserver", "--data", str(data)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert cli.stdout is not None
        url = cli.stdout.readline().strip()
        assert url.startswith("postgresql://postgres@127.0.0.1:"), cli.stderr.read() if cli.stderr else ""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE survived (v int)")
            conn.execute("INSERT INTO survived VALUES (42)")
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
    finally:
        cli.kill()
        cli.wait()
    assert _gone(postmaster)
    assert (data / "postmaster.pid").exists()
    port = int(url.rsplit(":", 1)[1].split("/")[0])  # the same port: its stale socket lock too
    with LocalPostgres() as pg, psycopg.connect(pg.start(data, port)) as conn:
        assert conn.execute("SELECT v FROM survived").fetchall() == [(42,)]


def test_orphaned_server_of_a_killed_owner_is_replaced(tmp_path: Path) -> None:
    """An owner killed before it could stop its server (so its lock is gone, the server runs
    on): the next start shuts that orphan down and starts afresh on the same data."""
    data = tmp_path / "pg"
    owner = LocalPostgres()
    with psycopg.connect(owner.start(data), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v int)")
    orphan = owner.pid
    assert owner._lock is not None and orphan is not None
    owner._lock.close()  # what the owner's death does: the flock goes, the postmaster stays
    owner._lock = owner._proc = None
    try:
        with LocalPostgres() as pg, psycopg.connect(pg.start(data)) as conn:
            assert _gone(orphan)
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        if pgserver._alive(orphan):
            os.kill(orphan, signal.SIGKILL)
