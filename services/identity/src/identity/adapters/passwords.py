"""Password hashing with a memory bound (``ports.PasswordHasher``).

argon2id costs 64 MiB and most of a core per hash or verification, by design. A process
that hashed for every concurrent request at once (FastAPI runs up to 40 ``def`` routes at a
time) would need gigabytes in a sign-in storm: 40 concurrent logins peaked at 2.4 GB. So
hashing takes one of a few *slots* (by default one per core the process may use, at most
four); a request waits for a slot until its deadline — counted from when the request
arrived, so time spent queued for a worker thread counts too — and is then refused with
``PasswordHashingBusy`` (503 with Retry-After), never queued without bound.

A worker thread that waits for a slot is a thread other requests cannot use, so requests
that will hash are first *admitted* on the event loop (``admission``): at most twice as many
as there are slots run their synchronous part at once; the rest wait on the loop, where
waiting is free, until their deadline. A request that could not be reached before its
deadline anyway (more are waiting ahead of it than the admitted ones finish in that time, at
the pace they have been finishing) is refused at once instead of after the wait.

Peak hashing memory is ``slots * memory_cost``: the deployment's memory limit is set from it
(``deploy/k8s/base/identity/deployment.yaml``)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from pathlib import Path

from argon2 import PasswordHasher

from identity.domain.errors import PasswordHashingBusy
from identity.domain.ports import PasswordHasher as HasherPort
from identity.settings import IdentitySettings

MAX_AUTO_SLOTS = 4

#: When the current request arrived (``time.monotonic()``), if a request is being served.
_arrived: ContextVar[float | None] = ContextVar("identity_request_arrived", default=None)


def mark_arrival(at: float | None = None) -> None:
    """Called as a request arrives (before it waits for a worker thread): its hashing
    deadline counts from now. Context-local, so it follows the request into its thread."""
    _arrived.set(time.monotonic() if at is None else at)


def cpu_slots(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """How many cores this process may use: the cgroup's CPU quota (a container's CPU limit),
    else the CPUs it may run on; at least 1, at most ``MAX_AUTO_SLOTS``."""
    cores = float(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else float(os.cpu_count() or 1)
    with contextlib.suppress(OSError, ValueError):
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, float(quota) / float(period))
    return max(1, min(MAX_AUTO_SLOTS, math.ceil(cores)))


class BoundedHasher:
    """``ports.PasswordHasher`` around argon2id with at most ``slots`` hashes at a time; a
    caller waits at most ``wait`` seconds from its request's arrival for a slot (and for its
    admission, see ``admission``).

    ``peak`` (most hashes at once so far) and ``refused`` are kept for tests and figures."""

    def __init__(self, inner: HasherPort | None = None, slots: int = 0, wait: float = 2.0,
                 admitted: int = 0) -> None:
        self.inner: HasherPort = inner or PasswordHasher()
        self.slots = slots or cpu_slots()
        self.wait = wait
        self.admitted = admitted or 2 * self.slots
        self._free = threading.BoundedSemaphore(self.slots)
        self._lock = threading.Lock()
        self._admission: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._waiting = 0  # requests waiting for admission (touched on the event loop only)
        #: Recent seconds an admitted request took (moving average); None until one finished.
        self.hold: float | None = None
        self.busy = 0
        self.peak = 0
        self.refused = 0

    def _remaining(self) -> float:
        arrived = _arrived.get()
        return self.wait if arrived is None else arrived + self.wait - time.monotonic()

    def _busy(self) -> PasswordHashingBusy:
        with self._lock:
            self.refused += 1
        return PasswordHashingBusy(retry_after=max(1, math.ceil(self.wait)))

    @contextlib.asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """On the event loop, around a request that will hash: waits (without a thread) until
        fewer than ``admitted`` such requests are in their synchronous part, at most until the
        request's deadline; then ``PasswordHashingBusy``."""
        loop = asyncio.get_running_loop()
        if self._admission is None or self._admission[0] is not loop:
            self._admission = (loop, asyncio.Semaphore(self.admitted))
        gate = self._admission[1]
        remaining = self._remaining()
        if gate.locked():
            if remaining <= 0 or self._waiting >= self.servable(remaining):
                raise self._busy()
            self._waiting += 1
            try:
                async with asyncio.timeout(remaining):
                    await gate.acquire()
            except TimeoutError:
                raise self._busy() from None
            finally:
                self._waiting -= 1
        else:
            await gate.acquire()
        started = time.monotonic()
        try:
            yield
        finally:
            gate.release()
            took = time.monotonic() - started
            self.hold = took if self.hold is None else 0.8 * self.hold + 0.2 * took

    def servable(self, seconds: float) -> float:
        """How many waiting requests can be admitted within ``seconds`` at the recent pace."""
        if self.hold is None:
            return math.inf
        return self.admitted * seconds / max(self.hold, 1e-3)

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._free.acquire(timeout=max(0.0, self._remaining())):
            raise self._busy()
        with self._lock:
            self.busy += 1
            self.peak = max(self.peak, self.busy)
        try:
            yield
        finally:
            with self._lock:
                self.busy -= 1
            self._free.release()

    def hash(self, password: str) -> str:
        with self._slot():
            return self.inner.hash(password)

    def verify(self, hash: str, password: str) -> bool:
        with self._slot():
            return self.inner.verify(hash, password)

    def check_needs_rehash(self, hash: str) -> bool:
        return self.inner.check_needs_rehash(hash)  # reads the parameters only: no slot


def hasher_for(s: IdentitySettings) -> BoundedHasher:
    return BoundedHasher(slots=s.identity_hash_slots, wait=s.identity_hash_queue_timeout)
