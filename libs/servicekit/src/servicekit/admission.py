"""Admission control: a bounded number of requests in a gateway at once.

Past ``http_max_in_flight`` requests being served, a request waits for a place, for at
most ``http_admission_wait_seconds`` and among at most four times as many waiting; past
either bound it is answered at once: 503 problem+json with ``Retry-After``, never queued
without bound (memory and database connections stay bounded whatever the number of
clients), never a 500. Probes and ``/metrics`` always pass: a saturated process is busy,
not dead."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.problems import Problem

#: Paths admitted whatever the load (kubelet's probes, Prometheus).
ALWAYS = frozenset({"/healthz", "/readyz", "/metrics"})
#: Live views (Server-Sent Events) are long-lived: bounded by their own limit, not this one
#: (``servicekit.streams.Watch``).
STREAM_SUFFIX = "/stream"
#: Waiting requests allowed per place.
QUEUE_PER_PLACE = 4


@dataclass
class AdmissionStats:
    in_flight: int = 0
    waiting: int = 0
    refused: int = 0


class AdmissionControl:
    def __init__(self, app: ASGIApp, limit: int, wait: float) -> None:
        self.app = app
        self.limit = limit
        self.wait = wait
        self.max_waiting = limit * QUEUE_PER_PLACE
        self.stats = AdmissionStats()
        self._places = asyncio.Semaphore(limit)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ALWAYS or scope["path"].endswith(STREAM_SUFFIX):
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            await self._refuse(scope, receive, send)
            return
        self.stats.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.stats.in_flight -= 1
            self._places.release()

    async def _admit(self) -> bool:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a semaphore waits on one loop (in-process tests start several)
            self._loop, self._places = loop, asyncio.Semaphore(self.limit)
            self.stats.in_flight = self.stats.waiting = 0
        if not self._places.locked():
            await self._places.acquire()  # free: returns without waiting
            return True
        if self.wait <= 0 or self.stats.waiting >= self.max_waiting:
            return False
        self.stats.waiting += 1
        try:
            await asyncio.wait_for(self._places.acquire(), timeout=self.wait)
        except TimeoutError:
            return False
        finally:
            self.stats.waiting -= 1
        return True

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from servicekit.gateway import problem_response  # cycle: gateway installs this

        self.stats.refused += 1
        retry = max(1, round(self.wait)) if self.wait > 0 else 1
        problem = Problem(503, "Overloaded", "too many requests are being served; try again after Retry-After seconds",
                          headers={"Retry-After": str(retry)})
        await problem_response(Request(scope, receive), problem)(scope, receive, send)
