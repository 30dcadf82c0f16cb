"""`make up` as a newcomer runs it: everything starts, Ctrl-C stops everything, and a
second run finds its data again with the history back on the (empty) embedded broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from servicekit import envelope, pgserver
from servicekit.devstack import consume_all, free_port
from servicekit.testing import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
#: Every other service on a free port too, so a developer's own `make up` is no obstacle.
OTHER_PORTS = {f"ALPHAPEER_{ep.name.upper()}_PORT": str(free_port())
               for ep in entry_points(group="alphapeer.services") if ep.name != "identity"}


def start(tmp_path: Path, kafka_port: int, identity_port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "ALPHAPEER_DATA_DIR": str(tmp_path / "data"), "ALPHAPEER_KAFKA_PORT": str(kafka_port),
           "ALPHAPEER_IDENTITY_PORT": str(identity_port), **OTHER_PORTS}
    env.pop("ALPHAPEER_DATABASE_URL", None)  # the embedded default: PostgreSQL from the wheel
    env.pop("ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.Popen([sys.executable, str(ROOT / "scripts/up.py")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_urls(proc: subprocess.Popen[str], identity_port: int) -> str:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    out = "".join(lines)
    assert f"http://127.0.0.1:{identity_port}" in out and "/docs" in out, out
    return out


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


async def test_up_stop_and_up_again_keeps_data_and_history(tmp_path: Path) -> None:
    kafka_port, identity_port = free_port(), free_port()
    base = f"http://127.0.0.1:{identity_port}"
    proc = start(tmp_path, kafka_port, identity_port)
    try:
        wait_for_urls(proc, identity_port)
        r = httpx.post(f"{base}/v1/auth/register", json={"email": "new@uni.example", "password": "a-long-password-1",
                                                         "display_name": "Newcomer"})
        assert r.status_code == 201, r.text
        user = r.json()["user_id"]
    finally:
        stop(proc)
    assert proc.returncode == 0
    # Nothing is left listening.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/healthz", timeout=1)
    # PostgreSQL's data stays for the next run, and its server stopped cleanly.
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()

    proc = start(tmp_path, kafka_port, identity_port)
    try:
        wait_for_urls(proc, identity_port)
        login = httpx.post(f"{base}/v1/auth/login", json={"email": "new@uni.example",
                                                           "password": "a-long-password-1"})
        assert login.status_code == 200, login.text
        # The new broker is empty; the relay publishes the history again.
        def registered() -> bool:
            records = asyncio.run(consume_all(f"127.0.0.1:{kafka_port}", "identity.events", expect=5, timeout=3))
            return any(envelope.decode_headers(r.headers)["ce_subject"] == user for r in records)

        await asyncio.to_thread(wait_until, registered, 30, 0.5, "history republished")
    finally:
        stop(proc)


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_killed_make_up_leaves_nothing_running(tmp_path: Path) -> None:
    kafka_port, identity_port = free_port(), free_port()
    proc = start(tmp_path, kafka_port, identity_port)
    try:
        wait_for_urls(proc, identity_port)
        postgres_pid = int((tmp_path / "data" / "postgres" / "postmaster.pid").read_text().split()[0])
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is stopped in order
        proc.wait(timeout=10)
    ports = [kafka_port, identity_port, *map(int, OTHER_PORTS.values())]
    wait_until(lambda: not any(listening(p) for p in ports) and not pgserver._alive(postgres_pid), 30, 0.2,
               "the services, the broker and PostgreSQL to stop with make up")
    # ...so the next `make up` starts cleanly on the same ports and data.
    again = start(tmp_path, kafka_port, identity_port)
    try:
        wait_for_urls(again, identity_port)
    finally:
        stop(again)
    assert again.returncode == 0
