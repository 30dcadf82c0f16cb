"""Live views over Server-Sent Events, bounded whatever the number of clients.

A stream follows one *key* (a centre's queue): one poller per key and process reads the key's
version (a cheap query) every ``interval`` while anyone follows it, and loads the state only
when the version moved, once for every follower. So 200 students watching one queue cost one
query per interval, not 200. Followers are bounded per process (``limit``): past it a new
stream is refused at once with 503 and ``Retry-After``. Streams are not counted by admission
control (they are long-lived; their own limit bounds them); their paths end in ``/stream``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import StreamingResponse

from servicekit.errors import Unavailable


@dataclass
class _Followed:
    version: int = -1
    state: Any = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    followers: int = 0
    task: asyncio.Task[None] | None = None


class Watch:
    def __init__(self, version: Callable[[Any], int], load: Callable[[Any], Any], *, interval: float = 0.25,
                 limit: int = 1000) -> None:
        self.version, self.load = version, load
        self.interval, self.limit = interval, limit
        self.followers = 0
        self._keys: dict[Any, _Followed] = {}

    async def _poll(self, key: Any, f: _Followed) -> None:
        while f.followers > 0:
            with contextlib.suppress(Exception):  # a failed read is tried again; followers keep the last state
                v = await asyncio.to_thread(self.version, key)
                if v != f.version:
                    f.state = await asyncio.to_thread(self.load, key)
                    f.version = v
                    f.changed.set()
                    f.changed = asyncio.Event()
            await asyncio.sleep(self.interval)
        self._keys.pop(key, None)

    def admit(self) -> None:
        """Refuse a new stream (503) past the limit: called before the response starts."""
        if self.followers >= self.limit:
            raise Unavailable("too many live views open here; try again shortly", retry_after=5)

    async def follow(self, key: Any) -> AsyncIterator[Any]:
        """The key's state now, then each time it changes (until the caller stops)."""
        self.followers += 1
        f = self._keys.get(key)
        if f is None:
            f = self._keys[key] = _Followed()
        f.followers += 1
        if f.task is None or f.task.done():
            f.task = asyncio.create_task(self._poll(key, f))
        try:
            seen = -2
            while True:
                if f.version != seen and f.version >= 0:
                    seen = f.version
                    yield f.state
                waiter = f.changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), timeout=self.interval * 4)
        finally:
            f.followers -= 1
            self.followers -= 1


def event_stream(states: AsyncIterator[Any], render: Callable[[Any], dict[str, Any] | None], *,
                 event: str = "update", heartbeat: float = 15.0) -> StreamingResponse:
    """An SSE response: one ``event`` per state ``render`` makes something of (None: skipped),
    and a comment every ``heartbeat`` seconds so proxies keep the connection."""

    async def frames() -> AsyncIterator[bytes]:
        it = states.__aiter__()
        pending: asyncio.Task[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(it.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=heartbeat)
                if not done:
                    yield b": keep-alive\n\n"
                    continue
                state, pending = pending.result(), None
                body = await asyncio.to_thread(render, state)  # a render may read (e.g. open sealed words)
                if body is not None:
                    yield f"event: {event}\ndata: {json.dumps(body, default=str)}\n\n".encode()
        finally:
            if pending is not None:
                pending.cancel()
            with contextlib.suppress(Exception):
                await it.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
