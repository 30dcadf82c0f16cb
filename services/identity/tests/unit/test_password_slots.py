"""The bounded hasher: never more hashes at once than it has slots, whatever the number of
callers; a caller that cannot get a slot by its deadline is refused (503), not queued."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2.exceptions import VerificationError
from fakes import cheap_hasher

from identity.adapters.passwords import BoundedHasher, cpu_slots, mark_arrival
from identity.domain.errors import PasswordHashingBusy


class CountingHasher:
    """A real (cheap) argon2id that counts how many of its calls run at the same moment;
    each call holds on until released, so callers really overlap."""

    def __init__(self) -> None:
        self.inner = cheap_hasher()
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.calls = 0
        self.go = threading.Event()

    def _enter(self) -> None:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
        self.go.wait(10)

    def _leave(self) -> None:
        with self.lock:
            self.now -= 1

    def hash(self, password: str) -> str:
        self._enter()
        try:
            return self.inner.hash(password)
        finally:
            self._leave()

    def verify(self, hash: str, password: str) -> bool:
        self._enter()
        try:
            return self.inner.verify(hash, password)
        finally:
            self._leave()

    def check_needs_rehash(self, hash: str) -> bool:
        return self.inner.check_needs_rehash(hash)


def run_all(target: Callable[[], object], n: int) -> list[BaseException | None]:
    """Calls ``target`` from ``n`` threads at once; what each raised (None: returned)."""
    outcomes: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        try:
            target()
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_no_more_hashes_at_once_than_slots_and_the_rest_wait_their_turn() -> None:
    inner = CountingHasher()
    hasher = BoundedHasher(inner, slots=2, wait=30)
    stored = cheap_hasher().hash("a-long-password-1")
    releaser = threading.Timer(0.2, inner.go.set)  # let the callers pile up first
    releaser.start()
    outcomes = run_all(lambda: hasher.verify(stored, "a-long-password-1"), 12)
    releaser.join()
    assert outcomes == [None] * 12  # everyone was served, in turn
    assert inner.calls == 12 and inner.most == 2 and hasher.peak == 2 and hasher.refused == 0


def test_a_caller_past_its_deadline_is_refused_with_retry_after() -> None:
    inner = CountingHasher()
    hasher = BoundedHasher(inner, slots=1, wait=0.05)
    holder = threading.Thread(target=lambda: hasher.hash("a-long-password-1"))
    holder.start()
    while inner.now == 0:  # the only slot is taken
        time.sleep(0.001)
    outcomes = run_all(lambda: hasher.hash("another-password-2"), 5)
    inner.go.set()
    holder.join(10)
    assert all(isinstance(o, PasswordHashingBusy) for o in outcomes)
    busy = outcomes[0]
    assert isinstance(busy, PasswordHashingBusy) and busy.status == 503 and busy.retry_after == 1
    assert inner.calls == 1 and hasher.refused == 5


def test_the_deadline_counts_from_the_requests_arrival() -> None:
    inner = CountingHasher()
    inner.go.set()
    hasher = BoundedHasher(inner, slots=1, wait=1.0)
    outcome: list[BaseException | str] = []

    def request_that_waited_for_a_thread() -> None:
        mark_arrival(time.monotonic() - 5)  # arrived 5 s ago: its deadline has passed
        hasher._free.acquire()  # and the slot is busy now
        try:
            hasher.hash("a-long-password-1")
            outcome.append("hashed")
        except PasswordHashingBusy as exc:
            outcome.append(exc)
        finally:
            hasher._free.release()

    threading.Thread(target=request_that_waited_for_a_thread).start()
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.001)
    assert isinstance(outcome[0], PasswordHashingBusy)  # refused at once, not after another second


def test_a_wrong_password_is_still_argon2s_refusal_and_frees_its_slot() -> None:
    hasher = BoundedHasher(cheap_hasher(), slots=1, wait=1)
    stored = hasher.hash("a-long-password-1")
    with pytest.raises(VerificationError):
        hasher.verify(stored, "wrong-password")
    assert hasher.verify(stored, "a-long-password-1") and hasher.busy == 0


def test_automatic_slots_follow_the_cpu_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # a 1.5-core limit: 2 slots
    assert cpu_slots(tmp_path) == min(2, cpu_slots(tmp_path / "none"))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert 1 <= cpu_slots(tmp_path) <= 4
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu_slots(tmp_path) == 1


# -- admission: requests that will hash wait on the event loop, not in worker threads ---------

async def test_admission_lets_in_twice_the_slots_and_the_rest_wait_on_the_loop() -> None:
    hasher = BoundedHasher(cheap_hasher(), slots=1, wait=30)
    assert hasher.admitted == 2
    inside, release = 0, asyncio.Event()
    most = 0

    async def request() -> None:
        nonlocal inside, most
        async with hasher.admission():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(request()) for _ in range(6)]
    while inside < 2:
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    assert inside == 2 and not any(t.done() for t in tasks)  # four wait their turn
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2 and hasher.refused == 0 and hasher.hold is not None


async def test_a_request_that_cannot_be_reached_in_time_is_refused_at_once() -> None:
    hasher = BoundedHasher(cheap_hasher(), slots=1, wait=0.5, admitted=1)
    hasher.hold = 1.0  # admitted requests have been taking a second each
    release = asyncio.Event()

    async def holder() -> None:
        async with hasher.admission():
            await release.wait()

    async def waiter() -> None:
        async with hasher.admission():
            pass

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    assert hasher.servable(0.5) == 0.5  # half a request fits in the deadline: the first may wait
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    with pytest.raises(PasswordHashingBusy):  # the second could not be reached: no wait at all
        async with hasher.admission():
            pass
    assert not waiting.done()
    release.set()
    await asyncio.gather(held, waiting, return_exceptions=True)
    assert hasher.refused >= 1


async def test_past_its_deadline_a_waiting_request_is_refused() -> None:
    hasher = BoundedHasher(cheap_hasher(), slots=1, wait=0.05, admitted=1)
    release = asyncio.Event()

    async def holder() -> None:
        async with hasher.admission():
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    with pytest.raises(PasswordHashingBusy) as busy:
        async with hasher.admission():
            pass
    assert busy.value.retry_after == 1
    release.set()
    await held
