"""Crypto-shredding across the bus: personal text in integration events stays readable for
the services that need it, and becomes unreadable everywhere — in every database, every
topic and every replay — once its subject is erased, without rewriting any history.

- A producing service seals personal fields of its events under the subject's key in its
  *shared* vault (:class:`servicekit.vault.PersonalDataVault` with ``shared=True``).
- :class:`KeyPublisher` publishes each shared key on ``<service>.keys`` (a compacted topic,
  keyed by subject), wrapped under the platform's key-wrapping secret, and a tombstone when
  the key is destroyed. At every start it publishes them all again from the vault's log,
  so a broker that lost its topics learns them again — never an erased one: a destroyed
  key is gone from the vault, and is published as a tombstone.
- A consuming service keeps a :class:`KeyRing`: a projection of the keys topics it reads,
  and ``open()`` for the sealed values it stores as they arrived. It keeps no plaintext:
  read models store sealed text and open it in memory. When the subject is erased (its
  tombstone, or ``UserErased``) the key leaves the ring, and with it every way to read what
  the service holds.

Wrapping means a reader of the topics without the secret learns nothing, even before a
broker compacts the erased keys away (the embedded broker never compacts)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from servicekit import kafka
from servicekit.database import Database
from servicekit.settings import ServiceSettings
from servicekit.vault import PersonalDataVault, open_with

log = logging.getLogger(__name__)


def keys_topic(service: str) -> str:
    return f"{service}.keys"


class KeyWrap:
    """AES-256-GCM under a key derived (HKDF-SHA256) from the platform's key-wrapping
    secret; the producing service and the subject are bound as associated data."""

    def __init__(self, secret: str) -> None:
        kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"alphapeer-key-wrap", info=b"v1").derive(
            secret.encode())
        self._aead = AESGCM(kek)

    def wrap(self, service: str, subject: str, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, key, f"{service}:{subject}".encode())

    def unwrap(self, service: str, subject: str, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], f"{service}:{subject}".encode())


def _client(settings: ServiceSettings) -> dict[str, Any]:
    return kafka.client_options(settings)  # TLS and SASL as configured


class KeyPublisher:
    """Publishes the shared vault's keys on ``<service>.keys`` (a worker of the producing
    service; every replica may run one: the messages are the same, keyed by subject)."""

    def __init__(self, vault: PersonalDataVault, settings: ServiceSettings, wrap: KeyWrap,
                 poll_interval: float = 0.2) -> None:
        assert vault.shared, "only a shared vault's keys are published"
        self.vault = vault
        self.settings = settings
        self.wrap = wrap
        self.topic = keys_topic(settings.service_name)
        self.poll_interval = poll_interval
        self.position = 0
        self.published = 0
        self._stop = asyncio.Event()

    def _changes(self, after: int, limit: int = 1000) -> list[tuple[int, str, bytes | None]]:
        """(seq, subject, current key or None) of the log after ``after``."""
        table = self.vault.table
        with self.vault.db.transaction() as cur:
            cur.execute(f"SELECT l.seq, l.subject_id, k.key FROM {table}_log l LEFT JOIN {table} k"
                        " ON k.subject_id = l.subject_id WHERE l.seq > %s ORDER BY l.seq LIMIT %s", (after, limit))
            return [(int(r[0]), str(r[1]), bytes(r[2]) if r[2] is not None else None) for r in cur.fetchall()]

    async def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await self._serve()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # broker or database away: start again, publishing everything
                log.warning("key publisher error; retrying", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 10.0)

    async def _serve(self) -> None:
        await kafka.ensure_topics(self.settings, [kafka.keys_topic(self.settings)])
        producer = AIOKafkaProducer(acks="all", linger_ms=5, **_client(self.settings))
        await producer.start()
        try:
            self.position = 0  # every start: all of them again (the topic may have been lost)
            while not self._stop.is_set():
                batch = await asyncio.to_thread(self._changes, self.position)
                for seq, subject, key in batch:
                    value = self.wrap.wrap(self.settings.service_name, subject, key) if key is not None else None
                    await producer.send(self.topic, key=subject.encode(), value=value)
                    self.position = seq
                if batch:
                    await producer.flush()
                    self.published += len(batch)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.poll_interval)
        finally:
            await producer.stop()

    async def stop(self) -> None:
        self._stop.set()


#: How long a replica trusts a key it unwrapped before reading the table again.
CACHE_SECONDS = 5.0

KEYRING_DDL = [
    """CREATE TABLE IF NOT EXISTS keyring (
        upstream TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        wrapped BYTEA NOT NULL,
        PRIMARY KEY (upstream, subject_id)
    )""",
]


class KeyRing:
    """The keys of other services' subjects that this service may use to read what their
    events carry. ``open`` answers None for a subject whose key is unknown (not arrived
    yet) or gone (erased): the caller shows it as absent."""

    def __init__(self, db: Database, settings: ServiceSettings, upstreams: Iterable[str], wrap: KeyWrap,
                 group: str) -> None:
        self.db = db
        self.settings = settings
        self.upstreams = sorted(upstreams)
        self.wrap = wrap
        self.group = group
        self.applied = 0
        # Unwrapped keys, briefly: another replica may apply a tombstone this one never sees.
        self._cache: dict[tuple[str, str], tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[set[str]], None]] = []
        self._stop = asyncio.Event()
        db.execute_script(KEYRING_DDL)

    def on_change(self, listener: Callable[[set[str]], None]) -> None:
        """``listener(subject ids)`` after keys arrived or left (to rebuild what they open)."""
        self._listeners.append(listener)

    # -- reading -------------------------------------------------------------------------

    def key(self, upstream: str, subject_id: UUID | str) -> bytes | None:
        cache_key = (upstream, str(subject_id))
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
        with self.db.transaction() as cur:
            cur.execute("SELECT wrapped FROM keyring WHERE upstream = %s AND subject_id = %s", cache_key)
            row = cur.fetchone()
        if row is None:
            return None
        key = self.wrap.unwrap(upstream, str(subject_id), bytes(row[0]))
        with self._lock:
            self._cache[cache_key] = (time.monotonic(), key)
        return key

    def open(self, upstream: str, subject_id: UUID | str, sealed: str | None) -> str | None:
        if not sealed:
            return None
        key = self.key(upstream, subject_id)
        if key is None:
            return None
        try:
            return open_with(key, subject_id, sealed)
        except ValueError:
            log.warning("a sealed value of %s did not open with its key", subject_id)
            return None

    # -- keeping up ----------------------------------------------------------------------

    def apply(self, records: Iterable[tuple[str, str, bytes | None]]) -> set[str]:
        """(upstream, subject, wrapped key or None for a tombstone), in topic order."""
        changed: set[str] = set()
        with self.db.transaction() as cur:
            for upstream, subject, wrapped in records:
                if wrapped is None:
                    cur.execute("DELETE FROM keyring WHERE upstream = %s AND subject_id = %s", (upstream, subject))
                else:
                    cur.execute("INSERT INTO keyring (upstream, subject_id, wrapped) VALUES (%s, %s, %s)"
                                " ON CONFLICT (upstream, subject_id) DO UPDATE SET wrapped = excluded.wrapped",
                                (upstream, subject, wrapped))
                changed.add(subject)
        with self._lock:
            for upstream, subject, _ in records:
                self._cache.pop((upstream, subject), None)
        self.applied += len(changed)
        self._notify(changed)
        return changed

    def forget(self, subject_id: UUID | str) -> None:
        """Drops every upstream's key of this subject (its erasure, learned from identity)."""
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM keyring WHERE subject_id = %s", (str(subject_id),))
        with self._lock:
            for cache_key in [k for k in self._cache if k[1] == str(subject_id)]:
                del self._cache[cache_key]
        self._notify({str(subject_id)})

    def _notify(self, subjects: set[str]) -> None:
        for listener in self._listeners:
            try:
                listener(subjects)
            except Exception:
                log.warning("key ring listener failed", exc_info=True)

    async def run(self) -> None:
        """Consumes the keys topics from the start (its own consumer group), committing
        after each batch is in the database."""
        topics = [keys_topic(u) for u in self.upstreams]
        backoff = 0.5
        while not self._stop.is_set():
            consumer = AIOKafkaConsumer(*topics, group_id=self.group, enable_auto_commit=False,
                                        auto_offset_reset="earliest",
                                        session_timeout_ms=self.settings.kafka_session_timeout_ms,
                                        heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
                                        fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms,
                                        **_client(self.settings))
            try:
                await consumer.start()
                backoff = 0.5
                while not self._stop.is_set():
                    batches = await consumer.getmany(timeout_ms=500)
                    records = [(r.topic.removesuffix(".keys"), (r.key or b"").decode(),
                                bytes(r.value) if r.value is not None else None)
                               for recs in batches.values() for r in recs]
                    if records:
                        await asyncio.to_thread(self.apply, records)
                        await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("key ring consumer error; retrying", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    async def stop(self) -> None:
        self._stop.set()


def wait_for_key(ring: KeyRing, upstream: str, subject: str, timeout: float = 10.0) -> bool:
    """For tests and tools: True once the ring holds the subject's key."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ring.key(upstream, subject) is not None:
            return True
        time.sleep(0.05)
    return False
