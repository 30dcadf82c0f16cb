"""The searchable directory in memory: every visible listing of a tutor in good standing, as
columns (domain.columns) built from the read model's tables and kept fresh from its change
log, so every replica answers from memory and any replica may apply the events."""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from matching.adapters import readmodel
from matching.adapters.personal import Opener
from matching.adapters.vectors import VectorIndex
from matching.domain.availability import minutes_of
from matching.domain.columns import Columns, Signals, build_columns
from matching.domain.listing import Entry, digest, entry_of, expertise_text, topics_of, visible
from servicekit.database import Database


class Directory:
    def __init__(self, db: Database, vectors: VectorIndex, refresh_interval: float = 0.25,
                 opener: Opener | None = None) -> None:
        self.db = db
        self.vectors = vectors
        self.opener = opener or Opener(None)
        self.refresh_interval = refresh_interval
        self._lock = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._signals = Signals()
        self._last_change = 0
        self._refreshed_at = 0.0
        self._dirty = True
        self._columns: Columns | None = None
        self._columns_vectors = -1  # the vector index's version the columns were built with
        self._next_build_at = 0.0

    # -- keeping up ----------------------------------------------------------------------

    def load(self) -> None:
        """Everything, from the tables (at start, and after a rebuild)."""
        with self._lock:
            last, _ = readmodel.changes_since(self.db, 0)
            self._entries = {}
            for page in readmodel.all_listings(self.db):
                for row in page:
                    self._put(row)
            _release_freed_memory()
            self._signals = readmodel.signals(self.db)
            self._last_change = last
            self._dirty = True
            self._refreshed_at = time.monotonic()

    def refresh(self, force: bool = False) -> None:
        """What changed since the last look, at most every ``refresh_interval`` unless forced."""
        if not force and time.monotonic() - self._refreshed_at < self.refresh_interval:
            return
        with self._lock:
            last, changed = readmodel.changes_since(self.db, self._last_change)
            if last != self._last_change:
                keys = sorted(changed["listing"] | set(readmodel.listings_of_tutors(self.db, changed["tutor"])))
                found = {r["listing_id"]: r for r in readmodel.load_listings(self.db, keys)}
                for key in keys:
                    self._entries.pop(key, None)
                    if key in found:
                        self._put(found[key])
                published = self._signals.availability
                if changed["availability"]:
                    published = dict(published)
                    for tutor, av in readmodel.availability(self.db, changed["availability"]).items():
                        published.pop(tutor, None)
                        if av is not None:
                            published[tutor] = av
                if changed["interaction"] or changed["signal"]:
                    self._signals = readmodel.signals(self.db, published)
                elif changed["availability"]:
                    self._signals = replace(self._signals, availability=published)
                self._last_change = last
                self._dirty = True
            self._refreshed_at = time.monotonic()

    def _put(self, row: dict[str, Any]) -> None:
        if not visible(row):
            return
        row = self.opener.row(row)  # personal text opened in memory only
        doc = row["listing"]
        expertise = expertise_text(doc)
        entry = entry_of(row, digest(expertise))
        self.vectors.want(entry.text_key, expertise)
        for topic in topics_of(doc):
            self.vectors.want_topic(topic)
        self._entries[entry.listing_id] = entry

    def index_pending(self, batch: int = 256) -> int:
        """Gives up to ``batch`` waiting texts their vectors; returns how many. Runs in the
        indexer, never in a query (the model is called outside the directory's lock)."""
        if self.vectors.embedder is None:
            return 0
        with self._lock:
            todo = self.vectors.take({e.text_key for e in self._entries.values()}, batch)
        return self.vectors.fill(todo) if todo else 0

    def settle(self) -> None:
        """Catches up now: every change read, every waiting text indexed, columns rebuilt
        (for tests and benchmarks; the service does this continuously in the background)."""
        self.refresh(force=True)
        while self.index_pending():
            pass
        with self._lock:
            self._next_build_at = 0.0
            self._build()

    # -- answering -----------------------------------------------------------------------

    def snapshot(self) -> Columns:
        """The current columns (refreshed if due); safe to read without the lock: a
        rebuild replaces them, it never changes them in place."""
        self.refresh()
        with self._lock:
            return self._build()

    @property
    def size(self) -> int:
        return len(self._entries)

    def _build(self) -> Columns:
        """The columns, rebuilt when something changed. A rebuild of 50,000 entries costs
        about a second of CPU: while events stream in (a catch-up), answer from the last
        build and rebuild at most a fifth of the time."""
        version = self.vectors.version
        dirty = self._dirty or version != self._columns_vectors
        if self._columns is not None and (not dirty or time.monotonic() < self._next_build_at):
            return self._columns
        started = time.monotonic()
        entries = list(self._entries.values())
        vectors, has_vector = self.vectors.matrix([e.text_key for e in entries])
        self._columns = build_columns(entries, vectors, has_vector, self._signals)
        if self._signals.availability:
            # Today's open times (a quarter of a second for 50,000 tutors), before a query needs them.
            self._columns.open_times(minutes_of(datetime.now(UTC)))
        self._dirty, self._columns_vectors = False, version
        if len(entries) > 10_000:
            _release_freed_memory()  # the previous build's arrays and postings
        self._next_build_at = time.monotonic() + max(self.refresh_interval, 4 * (time.monotonic() - started))
        return self._columns


def _release_freed_memory() -> None:
    """Hands freed heap back to the OS after a large load or rebuild (glibc keeps it
    otherwise, and the replica's RSS would stay at its peak)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)
