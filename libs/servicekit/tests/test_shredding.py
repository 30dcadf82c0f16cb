"""Crypto-shredding: the vault on its own, and keys shared across the bus (PostgreSQL and
the real broker protocol). After a subject is forgotten, nothing that was sealed for them
opens anywhere, and no topic carries their text or their key in the clear."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from servicekit.database import Database
from servicekit.settings import ServiceSettings
from servicekit.shredding import KeyPublisher, KeyRing, KeyWrap, keys_topic
from servicekit.testing import Broker, close_later, consume_all
from servicekit.vault import PersonalDataVault, open_with, seal_with

SECRET = "test-key-wrapping-secret"


def database(postgres_url: str, schema: str, name: str = "producer", bootstrap: str = "127.0.0.1:1") -> Database:
    db = Database(ServiceSettings(service_name=name, database_url=postgres_url, database_schema=schema,
                                  kafka_bootstrap_servers=bootstrap))
    close_later(db)
    return db


def test_the_vault_seals_per_subject_and_forgets_for_good(postgres_url: str, pg_schema: str) -> None:
    vault = PersonalDataVault(database(postgres_url, pg_schema))
    ada, bob = uuid.uuid4(), uuid.uuid4()
    sealed = vault.seal(ada, "Ada Lovelace, ada@uni.example")
    assert "Ada" not in sealed and "ada@" not in sealed and sealed.startswith("v1.")
    assert vault.seal(ada, "Ada Lovelace, ada@uni.example") != sealed  # a fresh nonce every time
    assert vault.open(ada, sealed) == "Ada Lovelace, ada@uni.example"
    bobs = vault.seal(bob, "Bob")
    with pytest.raises(ValueError):
        vault.open(bob, sealed)  # bound to its subject: not movable to another one
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(ValueError):
        vault.open(ada, tampered)
    with pytest.raises(ValueError):
        vault.open(ada, "plain text")
    vault.forget(ada)
    vault.forget(ada)  # idempotent
    assert vault.open(ada, sealed) is None  # unreadable: the key is gone
    assert vault.key_of(ada) is None
    assert vault.open(bob, bobs) == "Bob"  # nobody else is affected
    # A second vault on the same tables (another replica) agrees.
    assert PersonalDataVault(vault.db).open(ada, sealed) is None


def test_the_vault_seals_bytes_too_and_they_are_unreadable_after_erasure(postgres_url: str, pg_schema: str) -> None:
    vault = PersonalDataVault(database(postgres_url, pg_schema))
    ada, bob = uuid.uuid4(), uuid.uuid4()
    data = b"%PDF-1.7 my essay on Middlemarch"
    sealed = vault.seal_bytes(ada, data)
    assert b"Middlemarch" not in sealed and vault.seal_bytes(ada, data) != sealed
    assert vault.open_bytes(ada, sealed) == data
    vault.seal_bytes(bob, b"x")
    with pytest.raises(ValueError):
        vault.open_bytes(bob, sealed)  # bound to its subject
    with pytest.raises(ValueError):
        vault.open_bytes(ada, data)  # not sealed at all
    vault.forget(ada)
    assert vault.open_bytes(ada, sealed) is None


def test_wrapped_keys_are_bound_to_their_service_and_subject() -> None:
    wrap = KeyWrap(SECRET)
    key = b"k" * 32
    wrapped = wrap.wrap("identity", "u1", key)
    assert key not in wrapped
    assert wrap.unwrap("identity", "u1", wrapped) == key
    for service, subject in (("catalog", "u1"), ("identity", "u2")):
        with pytest.raises(Exception):  # noqa: B017 - InvalidTag: not this one's key
            wrap.unwrap(service, subject, wrapped)
    with pytest.raises(Exception):  # noqa: B017
        KeyWrap("another secret").unwrap("identity", "u1", wrapped)


async def eventually(done: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(done):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def run_until(worker: Any, done: Any, timeout: float = 30.0) -> None:
    task = asyncio.create_task(worker.run())
    try:
        await eventually(done, timeout)
    finally:
        await worker.stop()
        await asyncio.wait_for(task, 15)


async def test_keys_travel_wrapped_and_erasure_reaches_every_consumer(
        postgres_url: str, pg_schema: str, kafka: Broker, tmp_path: Path) -> None:
    producer_db = database(postgres_url, pg_schema, "identity", kafka.bootstrap)
    vault = PersonalDataVault(producer_db, shared=True)
    ada, bob = uuid.uuid4(), uuid.uuid4()
    ada_name, bob_name = vault.seal(ada, "Ada Lovelace"), vault.seal(bob, "Bob Babbage")
    wrap = KeyWrap(SECRET)
    publisher = KeyPublisher(vault, producer_db.settings, wrap, poll_interval=0.05)
    consumer_db = database(postgres_url, pg_schema + "_c", "matching", kafka.bootstrap)
    ring = KeyRing(consumer_db, consumer_db.settings, ["identity"], wrap, group="matching.keys")
    changed: list[set[str]] = []
    ring.on_change(changed.append)

    pub_task, ring_task = asyncio.create_task(publisher.run()), asyncio.create_task(ring.run())
    try:
        await eventually(lambda: ring.open("identity", ada, ada_name) == "Ada Lovelace"
                         and ring.open("identity", bob, bob_name) == "Bob Babbage")
        assert any(str(ada) in c for c in changed)
        # Erased in the producer: the tombstone takes the key out of every ring.
        vault.forget(ada)
        await eventually(lambda: ring.key("identity", ada) is None)
        assert ring.open("identity", ada, ada_name) is None
        assert ring.open("identity", bob, bob_name) == "Bob Babbage"
    finally:
        await publisher.stop()
        await ring.stop()
        await asyncio.wait_for(asyncio.gather(pub_task, ring_task), 15)

    # The topic, read with a plain consumer, holds no name and no key in the clear.
    records = await consume_all(kafka.bootstrap, keys_topic("identity"), expect=3)
    raw = b"".join((r.key or b"") + (r.value or b"") for r in records)
    assert b"Ada" not in raw and b"Bob" not in raw
    for key in (vault.key_of(bob),):
        assert key is not None and key not in raw
    assert [r.value for r in records if r.key == str(ada).encode()][-1] is None  # the tombstone

    # A broker that lost everything learns the keys again at the publisher's next start —
    # never the erased one.
    kafka.restart()
    fresh_db = database(postgres_url, pg_schema + "_d", "matching", kafka.bootstrap)
    fresh = KeyRing(fresh_db, fresh_db.settings, ["identity"], wrap, group="matching.keys.2")
    pub_task = asyncio.create_task(KeyPublisher(vault, producer_db.settings, wrap, poll_interval=0.05).run())
    try:
        await run_until(fresh, lambda: fresh.open("identity", bob, bob_name) == "Bob Babbage")
        assert fresh.key("identity", ada) is None
    finally:
        pub_task.cancel()
        with pytest.raises((asyncio.CancelledError, Exception)):
            await pub_task


def test_a_consumer_forgets_on_erasure_without_waiting_for_the_tombstone(postgres_url: str, pg_schema: str) -> None:
    db = database(postgres_url, pg_schema, "matching")
    wrap = KeyWrap(SECRET)
    ring = KeyRing(db, db.settings, ["identity", "catalog"], wrap, group="g")
    ada = str(uuid.uuid4())
    key = b"\x01" * 32
    ring.apply([("identity", ada, wrap.wrap("identity", ada, key)), ("catalog", ada, wrap.wrap("catalog", ada, key))])
    sealed = seal_with(key, ada, "bio text")
    assert ring.open("catalog", ada, sealed) == "bio text" and open_with(key, ada, sealed) == "bio text"
    ring.forget(ada)
    assert ring.open("catalog", ada, sealed) is None and ring.open("identity", ada, sealed) is None
