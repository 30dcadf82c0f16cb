"""The searchable directory, in memory: every visible listing of a tutor in good standing,
with inverted indexes for subjects, levels, languages, styles and words, and numpy columns
for price and place. Built from the read model's tables and kept fresh from its change log,
so every replica answers from memory and any replica may apply the events."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import json
import math
import re
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from matching import views
from servicekit.database import Database

if TYPE_CHECKING:
    from matching.embedding import Embedder

DIMENSIONS = 384
#: Cosine from which a listing answers a free-text search by meaning when no listing has its words.
MEANING_MIN = 0.35
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "i", "in", "is",
    "it", "its", "my", "of", "on", "or", "so", "that", "the", "to", "we", "with", "you", "your",
    "me", "our", "can", "will",
))
EARTH_KM = 6371.0088
SORTS = ("relevance", "rating", "price", "distance", "newest")
#: The Bayesian prior for ratings: 4.2 stars as if from 5 reviews (shared with recommendations).
PRIOR_RATING, PRIOR_REVIEWS = 4.2, 5.0


def words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]  # plural → singular, enough for "quadratics" to find "quadratic"
        out.append(w)
    return out


@dataclass(slots=True)
class Entry:
    """One searchable listing, kept compact: the public document as JSON text (parsed only
    for the page returned), and just the values the indexes are built from."""

    listing_id: str
    tutor_id: str
    doc_json: str
    display_name: str
    headline: str | None
    verified: bool
    published: float
    credits: float
    lat: float
    lon: float
    radius: float
    facets: tuple[str, ...]
    terms: tuple[tuple[str, int], ...] = ()
    length: int = 0
    text_key: str = ""  # digest of the expertise text its sentence vector is computed from


@dataclass(frozen=True)
class Query:
    subject: str | None = None
    level: str | None = None
    q: str | None = None
    min_credits: int | None = None
    max_credits: int | None = None
    mode: str | None = None
    near: tuple[float, float] | None = None
    within_km: float | None = None
    language: str | None = None
    style: str | None = None
    communication: str | None = None
    verified_only: bool = False
    #: Weekly windows (minutes from Monday 00:00): the tutor must have published
    #: availability covering ``available_minutes`` inside one of them.
    available: tuple[tuple[int, int], ...] = ()
    available_minutes: int = 60
    sort: str = "relevance"
    limit: int = 20
    cursor: str | None = None


class CursorError(ValueError):
    pass


class Directory:
    def __init__(self, db: Database, refresh_interval: float = 0.25, weights: dict[str, float] | None = None,
                 embedder: Embedder | None = None, memo: Database | None = None) -> None:
        self.db = db
        self.memo = memo or db  # where sentence vectors are memoised (see views.memo_ddl)
        self.refresh_interval = refresh_interval
        self.weights = {"text": 1.0, "price": 0.2, "distance": 0.3, **(weights or {})}
        self.embedder = embedder
        self._lock = threading.RLock()
        self._entries: dict[str, Entry] = {}
        # Sentence vectors by text digest (float16: half the memory, ranks the same), and
        # the texts still waiting for the indexer.
        self._vectors: dict[str, np.ndarray] = {}
        self._pending: dict[str, str] = {}
        self._topic_keys: set[str] = set()  # topic names get vectors too (for the reasons)
        self._signals: dict[str, Any] = {}
        self._last_change = 0
        self._refreshed_at = 0.0
        self._dirty = True
        self._columns: dict[str, Any] = {}
        self._next_build_at = 0.0

    # -- keeping up ----------------------------------------------------------------------

    def load(self) -> None:
        """Everything, from the tables (at start, and after a rebuild)."""
        with self._lock:
            last, _ = views.changes_since(self.db, 0)
            self._entries = {}
            for page in views.all_listings(self.db):
                for row in page:
                    self._put(row)
            _release_freed_memory()
            self._load_signals()
            self._last_change = last
            self._dirty = True
            self._refreshed_at = time.monotonic()

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._refreshed_at < self.refresh_interval:
            return
        with self._lock:
            last, changed = views.changes_since(self.db, self._last_change)
            if last != self._last_change:
                keys = sorted(changed["listing"] | set(views.listings_of_tutors(self.db, changed["tutor"])))
                found = {r["listing_id"]: r for r in views.load_listings(self.db, keys)}
                for key in keys:
                    self._entries.pop(key, None)
                    if key in found:
                        self._put(found[key])
                if changed["interaction"] or changed["signal"]:
                    self._load_signals()
                self._last_change = last
                self._dirty = True
            self._refreshed_at = time.monotonic()

    def _put(self, row: dict[str, Any]) -> None:
        visible = row["visible"] and row["tutor_known"] and row["approved"] and not row["suspended"] \
            and not row["erased"]
        if not visible:
            return
        doc = row["listing"]
        text = " ".join([doc.get("title", ""), doc.get("bio", ""), doc.get("qualifications", ""),
                         row.get("headline") or "",
                         *[f"{s['name']} {s['area']} {' '.join(s.get('topics', []))}" for s in doc["subjects"]]])
        terms: dict[str, int] = defaultdict(int)
        tokens = words(text)
        for w in tokens:
            terms[w] += 1
        verified = row["background_check"] == "clear"
        facets = {f"mode:{m}" for m in doc["modes"]} | {f"lang:{x.split('-')[0]}" for x in doc["languages"]}
        facets |= {f"style:{x}" for x in doc.get("teaching_styles", [])}
        facets |= {f"comm:{x}" for x in doc.get("communication", [])}
        for subj in doc["subjects"]:
            sid = subj["subject_id"]
            facets |= {f"subject:{sid}", f"level:{sid}:{subj['level']}", f"anylevel:{subj['level']}"}
        if verified:
            facets.add("verified")
        place = doc.get("place") or {}
        credits = doc["rate"].get("credits_per_hour")
        expertise = expertise_text(doc)
        text_key = digest(expertise)
        if text_key not in self._vectors:
            self._pending[text_key] = expertise
        for topic in {t for subj in doc["subjects"] for t in subj.get("topics", [])}:
            key = digest(topic)
            if key not in self._topic_keys:
                self._topic_keys.add(key)
                self._pending[key] = topic
        self._entries[row["listing_id"]] = Entry(
            listing_id=row["listing_id"], tutor_id=row["tutor_id"], doc_json=json.dumps(_public(doc)),
            display_name=row.get("display_name") or "", headline=row.get("headline"), verified=verified,
            published=datetime.fromisoformat(row["published_at"]).timestamp(),
            credits=float(credits) if credits is not None else math.nan,
            lat=place["lat"] if place.get("lat") is not None else math.nan,
            lon=place["lon"] if place.get("lon") is not None else math.nan,
            radius=float(place.get("travel_radius_km") or 0),
            facets=tuple(sorted(sys.intern(f) for f in facets)),
            terms=tuple((sys.intern(w), tf) for w, tf in terms.items()), length=len(tokens), text_key=text_key)

    def _load_signals(self) -> None:
        """The small per-tutor and per-student tables the recommender reads."""
        by_student: dict[str, set[tuple[str, str]]] = defaultdict(set)
        by_item: dict[tuple[str, str], set[str]] = defaultdict(set)
        item_tutor: dict[tuple[str, str], str] = {}
        for student, kind, item, tutor in views.interactions(self.db):
            by_student[student].add((kind, item))
            by_item[(kind, item)].add(student)
            if tutor:
                item_tutor[(kind, item)] = tutor
        self._signals = {"tutor": views.tutor_signals(self.db), "availability": views.availability(self.db),
                         "courses": views.courses(self.db), "by_student": dict(by_student), "by_item": dict(by_item),
                         "item_tutor": item_tutor}
        self._dirty = True

    # -- sentence vectors ----------------------------------------------------------------

    def index_pending(self, batch: int = 256) -> int:
        """Gives up to ``batch`` waiting texts their vectors (from the shared cache, or
        computed and cached); returns how many. Runs in the indexer, never in a query."""
        if self.embedder is None:
            return 0
        with self._lock:
            live = {e.text_key for e in self._entries.values()} | self._topic_keys
            for key in [k for k in self._pending if k not in live]:
                del self._pending[key]  # the listing changed again before it was indexed
            todo = dict(list(self._pending.items())[:batch])
        if not todo:
            return 0
        found = {k: np.frombuffer(v, dtype=np.float16) for k, v in views.cached_vectors(self.memo, list(todo)).items()}
        missing = [k for k in todo if k not in found]
        if missing:
            computed = self.embedder.encode([todo[k] for k in missing]).astype(np.float16)
            fresh = {k: computed[i] for i, k in enumerate(missing)}
            views.cache_vectors(self.memo, {k: v.tobytes() for k, v in fresh.items()})
            found.update(fresh)
        with self._lock:
            self._vectors.update(found)
            for key in found:
                self._pending.pop(key, None)
            self._dirty = True
        return len(found)

    def settle(self) -> None:
        """Catches up now: every change read, every waiting text indexed, columns rebuilt
        (for tests and benchmarks; the service does this continuously in the background)."""
        self.refresh(force=True)
        while self.index_pending():
            pass
        with self._lock:
            self._next_build_at = 0.0
            self._build()

    def vector_of(self, text: str) -> np.ndarray | None:
        """The sentence vector of a text the indexer has seen (a listing's or a topic's)."""
        return self._vectors.get(digest(text))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _build(self) -> dict[str, Any]:
        """Columns and inverted indexes, rebuilt when something changed (at most once per
        refresh interval, so a stream of writes does not rebuild per query)."""
        # A rebuild of 50,000 entries costs about a second of CPU: while events stream in
        # (a catch-up), answer from the last build and rebuild at most a fifth of the time.
        if not self._dirty or (self._columns and time.monotonic() < self._next_build_at):
            return self._columns
        started = time.monotonic()
        entries = list(self._entries.values())
        n = len(entries)
        credits = np.array([e.credits for e in entries], dtype=float)
        lat = np.array([e.lat for e in entries], dtype=float)
        lon = np.array([e.lon for e in entries], dtype=float)
        radius = np.array([e.radius for e in entries], dtype=float)
        postings: dict[str, list[int]] = defaultdict(list)
        text: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, e in enumerate(entries):
            for k in e.facets:
                postings[k].append(i)
            for w, tf in e.terms:
                text[w].append((i, tf))
        self._columns = {
            "entries": entries, "credits": credits, "lat": np.radians(lat), "lon": np.radians(lon), "radius": radius,
            "postings": {k: np.array(v, dtype=np.int64) for k, v in postings.items()},
            "text": {w: (np.array([i for i, _ in v], dtype=np.int64), np.array([tf for _, tf in v], dtype=float))
                     for w, v in text.items()},
            "lengths": np.array([e.length for e in entries], dtype=float),
            "published": np.array([e.published for e in entries], dtype=float),
            "ids": np.array([e.listing_id for e in entries], dtype=str),
            "signals": self._signals,
        }
        vectors = np.zeros((n, DIMENSIONS), dtype=np.float32)
        has_vector = np.zeros(n, dtype=bool)
        for i, e in enumerate(entries):
            v = self._vectors.get(e.text_key)
            if v is not None:
                vectors[i] = v
                has_vector[i] = True
        self._columns["vectors"], self._columns["has_vector"] = vectors, has_vector
        # Per-row tutor signals as columns, so ranking 50,000 candidates is array arithmetic.
        known = self._signals.get("tutor", {})
        chosen: dict[str, int] = defaultdict(int)
        for tutor in self._signals.get("item_tutor", {}).values():
            chosen[tutor] += 1
        tutor_rows: dict[str, list[int]] = defaultdict(list)
        reputation = np.zeros((n, 4), dtype=float)  # rating sum, rating count, completed, missed
        choices = np.zeros(n, dtype=float)
        tutor_no = np.zeros(n, dtype=np.int64)  # a number per tutor: one listing each in recommendations
        numbers: dict[str, int] = {}
        for i, e in enumerate(entries):
            tutor_rows[e.tutor_id].append(i)
            tutor_no[i] = numbers.setdefault(e.tutor_id, len(numbers))
            if e.tutor_id in known:
                reputation[i] = known[e.tutor_id]
            choices[i] = chosen.get(e.tutor_id, 0)
        self._columns.update(reputation=reputation, choices=choices, tutor_rows=dict(tutor_rows), tutor_no=tutor_no)
        # Tie-breaks sort by id; an integer rank of the id sorts much faster than strings.
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(self._columns["ids"], kind="stable")] = np.arange(n)
        self._columns["rank"] = rank
        self._dirty = False
        if n > 10_000:
            _release_freed_memory()  # the previous build's arrays and postings
        self._next_build_at = time.monotonic() + max(self.refresh_interval, 4 * (time.monotonic() - started))
        return self._columns

    # -- searching -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The current columns (refreshed if due); safe to read without the lock: a
        rebuild replaces the dict, it never changes one in place."""
        self.refresh()
        with self._lock:
            return self._build()

    def candidates(self, cols: dict[str, Any], query: Query, text_required: bool = True
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The hard filters: (mask, distance in km or None, BM25 relevance of ``query.q``)."""
        n = len(cols["entries"])
        mask = np.ones(n, dtype=bool)

        def require(key: str) -> None:
            nonlocal mask
            hit = np.zeros(n, dtype=bool)
            ids = cols["postings"].get(key)
            if ids is not None:
                hit[ids] = True
            mask &= hit

        if query.subject and query.level:
            require(f"level:{query.subject}:{query.level}")
        elif query.subject:
            require(f"subject:{query.subject}")
        elif query.level:
            require(f"anylevel:{query.level}")
        for facet, value in (("mode", query.mode), ("lang", query.language), ("style", query.style),
                             ("comm", query.communication)):
            if value:
                require(f"{facet}:{value.split('-')[0] if facet == 'lang' else value}")
        if query.verified_only:
            require("verified")
        if query.available:
            mask &= self._available_rows(cols, query.available, query.available_minutes)
        credits = cols["credits"]
        if query.min_credits is not None:
            mask &= np.nan_to_num(credits, nan=-1) >= query.min_credits
        if query.max_credits is not None:
            mask &= np.nan_to_num(credits, nan=math.inf) <= query.max_credits

        distance = None
        if query.near is not None:
            lat0, lon0 = math.radians(query.near[0]), math.radians(query.near[1])
            dlat, dlon = cols["lat"] - lat0, cols["lon"] - lon0
            h = np.sin(dlat / 2) ** 2 + math.cos(lat0) * np.cos(cols["lat"]) * np.sin(dlon / 2) ** 2
            distance = 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
            if query.within_km is not None:
                # The tutor's travel radius counts: they come to you that far.
                mask &= np.nan_to_num(distance, nan=math.inf) <= query.within_km + cols["radius"]

        relevance = np.zeros(n)
        if query.q:
            terms = words(query.q)
            lengths = cols["lengths"]
            avg = float(lengths.mean()) if n else 1.0
            matched = np.zeros(n, dtype=bool)
            for w in terms:
                posting = cols["text"].get(w)
                if posting is None:
                    continue
                ids, tf = posting
                idf = math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
                k1, b = 1.2, 0.75
                relevance[ids] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[ids] / max(avg, 1)))
                matched[ids] = True
            if text_required:
                mask &= matched
        return mask, distance, relevance

    @staticmethod
    def _available_rows(cols: dict[str, Any], windows: tuple[tuple[int, int], ...], minutes: int) -> np.ndarray:
        """Rows whose tutor is free for ``minutes`` (or the whole window if shorter) inside
        one of the windows; a tutor who published no availability is not."""
        hit = np.zeros(len(cols["entries"]), dtype=bool)
        for tutor, theirs in cols["signals"].get("availability", {}).items():
            if any(min(e1, e2) - max(s1, s2) >= min(minutes, e1 - s1) for s1, e1 in windows for s2, e2 in theirs):
                hit[cols["tutor_rows"].get(tutor, [])] = True
        return hit

    def search(self, query: Query) -> dict[str, Any]:
        cols = self.snapshot()
        entries: list[Entry] = cols["entries"]
        mask, distance, relevance = self.candidates(cols, query)
        matched_by = "words"
        if query.q and not mask.any() and self.embedder is not None:
            # No listing uses the searcher's words ("x squared"): fall back to meaning, so
            # the search still finds the quadratics tutor rather than nothing.
            mask, distance, _ = self.candidates(cols, query, text_required=False)
            cosine = cols["vectors"] @ self.embedder.encode_one(query.q)
            mask &= cols["has_vector"] & (cosine >= MEANING_MIN)
            relevance = np.where(mask, cosine, 0.0).astype(float)
            matched_by = "meaning"
        credits = cols["credits"]
        idx = np.flatnonzero(mask)
        sort = query.sort if query.sort in SORTS else "relevance"
        if sort == "distance" and distance is None:
            raise CursorError("sort=distance needs near=lat,lon")
        if sort == "relevance":
            score = self.weights["text"] * relevance[idx]
            if distance is not None:
                score -= self.weights["distance"] * np.log1p(np.nan_to_num(distance[idx], nan=1000.0))
            if query.max_credits:
                score -= self.weights["price"] * np.nan_to_num(credits[idx], nan=0) / max(query.max_credits, 1)
            key = -score
        elif sort == "rating":
            reputation = cols["reputation"][idx]
            key = -(PRIOR_RATING * PRIOR_REVIEWS + reputation[:, 0]) / (PRIOR_REVIEWS + reputation[:, 1])
        elif sort == "price":
            key = np.nan_to_num(credits[idx], nan=math.inf)
        elif sort == "distance":
            key = np.nan_to_num(distance[idx], nan=math.inf)  # type: ignore[index]
        else:  # newest
            key = -cols["published"][idx]
        ids = cols["ids"][idx]
        order = np.lexsort((cols["rank"][idx], key)) if len(idx) else np.zeros(0, dtype=np.int64)
        after = _decode(query.cursor, sort) if query.cursor else None
        if after is not None and len(order):
            after_key, after_id = after
            k, lid = key[order], ids[order]
            order = order[(k > after_key) | ((k == after_key) & (lid > after_id))]
        page = order[: query.limit]
        items = []
        for j in page:
            e = entries[idx[j]]
            item = {"listing_id": e.listing_id, "tutor_id": e.tutor_id, "display_name": e.display_name,
                    "headline": e.headline, "verified": e.verified, **json.loads(e.doc_json)}
            if query.q:
                item["relevance"] = round(float(relevance[idx[j]]), 4)
            if distance is not None and not math.isnan(distance[idx[j]]):
                item["distance_km"] = round(float(distance[idx[j]]), 2)
            items.append(item)
        next_cursor = None
        if len(order) > query.limit and len(page):
            last = page[-1]
            next_cursor = _encode(sort, float(key[last]), str(ids[last]))
        found: dict[str, Any] = {"items": items, "total": len(idx), "next_cursor": next_cursor}
        if query.q:
            found["matched_by"] = matched_by
        return found

    @property
    def size(self) -> int:
        return len(self._entries)


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _release_freed_memory() -> None:
    """Hands freed heap back to the OS after a large load or rebuild (glibc keeps it
    otherwise, and the replica's RSS would stay at its peak)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def expertise_text(doc: dict[str, Any]) -> str:
    """What a tutor's sentence vector is computed from: what they teach, at which level,
    then in their own words (the model reads the first 256 tokens)."""
    teaches = "; ".join(f"{s['name']} ({s['level'].replace('_', ' ')}): {', '.join(s.get('topics', []))}"
                        for s in doc["subjects"])
    return ". ".join(x for x in (doc.get("title", ""), teaches, doc.get("bio", ""), doc.get("qualifications", ""))
                     if x)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    keep = ("title", "subjects", "rate", "session_minutes", "modes", "place", "languages", "teaching_styles",
            "communication", "bio", "trial", "media")
    return {k: doc.get(k) for k in keep}


def _encode(sort: str, key: float, listing_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, key, listing_id]).encode()).decode()


def _decode(cursor: str, sort: str) -> tuple[float, str]:
    try:
        s, key, listing_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if s != sort:
            raise CursorError("belongs to a search with another sort order")
        return float(key), str(listing_id)
    except CursorError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CursorError("is not a cursor this API returned") from exc
