"""Sentence vectors for the directory, computed in the background: a query never waits for
the model to read a bio. Vectors are memoised by a digest of the text in a schema of their
own (a pure function of the text, not state from events): any replica may fill the memo, and
a rebuild of the read model keeps it and never waits for the model again."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from matching.adapters.embedding import DIMENSIONS, Embedder
from matching.domain.listing import digest
from servicekit.database import Database

if TYPE_CHECKING:
    from matching.adapters.directory import Directory

MEMO_DDL = ["""CREATE TABLE IF NOT EXISTS embedding_cache (
        text_key TEXT PRIMARY KEY,
        vector BYTEA NOT NULL
    )"""]


class VectorIndex:
    """Vectors by text digest (float16: half the memory, ranks the same), and the texts
    still waiting for one. The directory calls in holding its own lock; this one never
    calls back, so the two locks are always taken in that order."""

    def __init__(self, memo: Database, embedder: Embedder | None) -> None:
        self.memo = memo
        self.embedder = embedder
        memo.execute_script(MEMO_DDL)
        self._vectors: dict[str, np.ndarray] = {}
        self._pending: dict[str, str] = {}
        self._topics: set[str] = set()
        self._lock = threading.Lock()
        #: Rises whenever vectors arrive: the directory's columns are then out of date.
        self.version = 0

    def want(self, key: str, text: str) -> None:
        """A listing's expertise text (``key`` is its digest), to be given a vector."""
        with self._lock:
            if key not in self._vectors:
                self._pending[key] = text

    def want_topic(self, topic: str) -> None:
        key = digest(topic)
        with self._lock:
            if key not in self._topics:
                self._topics.add(key)
                self._pending[key] = topic

    def take(self, live: set[str], batch: int) -> dict[str, str]:
        """Up to ``batch`` waiting texts, after dropping those no listing has any more
        (``live``: the directory's text keys, read under its lock)."""
        with self._lock:
            live = live | self._topics
            for key in [k for k in self._pending if k not in live]:
                del self._pending[key]  # the listing changed again before it was indexed
            return dict(list(self._pending.items())[:batch])

    def fill(self, todo: dict[str, str]) -> int:
        """Vectors for ``todo`` from the memo, or computed and memoised; returns how many."""
        assert self.embedder is not None
        found = {k: np.frombuffer(v, dtype=np.float16) for k, v in _memoised(self.memo, list(todo)).items()}
        missing = [k for k in todo if k not in found]
        if missing:
            computed = self.embedder.encode([todo[k] for k in missing]).astype(np.float16)
            fresh = {k: computed[i] for i, k in enumerate(missing)}
            _memoise(self.memo, {k: v.tobytes() for k, v in fresh.items()})
            found.update(fresh)
        with self._lock:
            self._vectors.update(found)
            for key in found:
                self._pending.pop(key, None)
            self.version += 1
        return len(found)

    def matrix(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(one float32 row per key, zero where it has no vector yet; which rows have one)."""
        vectors = np.zeros((len(keys), DIMENSIONS), dtype=np.float32)
        has_vector = np.zeros(len(keys), dtype=bool)
        with self._lock:
            for i, key in enumerate(keys):
                v = self._vectors.get(key)
                if v is not None:
                    vectors[i] = v
                    has_vector[i] = True
        return vectors, has_vector

    def vector_of(self, text: str) -> np.ndarray | None:
        """The vector of a text the indexer has seen (a listing's or a topic's)."""
        with self._lock:
            return self._vectors.get(digest(text))

    @property
    def pending(self) -> int:
        return len(self._pending)


class VectorIndexer:
    """The background worker: keeps the directory fresh and gives new texts their vectors."""

    def __init__(self, directory: Directory, interval: float) -> None:
        self.directory = directory
        self.interval = interval
        # One stop signal per event loop running the worker: an asyncio.Event belongs to the loop
        # that first waits on it, and a test harness may run the app's lifespan in a second loop.
        self._stopping: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}

    def _signal(self) -> asyncio.Event:
        return self._stopping.setdefault(asyncio.get_running_loop(), asyncio.Event())

    async def run(self) -> None:
        stopping = self._signal()
        try:
            while not stopping.is_set():
                await asyncio.to_thread(self.directory.refresh)
                done = await asyncio.to_thread(self.directory.index_pending)
                if not done:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), timeout=self.interval)
        finally:
            self._stopping.pop(asyncio.get_running_loop(), None)

    async def stop(self) -> None:
        self._signal().set()


def _memoised(db: Database, keys: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with db.transaction() as cur:
        for i in range(0, len(keys), 500):
            cur.execute("SELECT text_key, vector FROM embedding_cache WHERE text_key = ANY(%s)", (keys[i:i + 500],))
            out.update({r[0]: bytes(r[1]) for r in cur.fetchall()})
    return out


def _memoise(db: Database, vectors: dict[str, bytes]) -> None:
    with db.transaction() as cur:
        cur.executemany("INSERT INTO embedding_cache (text_key, vector) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        list(vectors.items()))
