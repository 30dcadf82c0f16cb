"""Crypto-shredding for personal data kept in an event store.

Personal fields are stored sealed under a key of their own subject (a user); erasure
destroys the key, and every sealed value in history becomes unreadable without any event
being rewritten (ARCHITECTURE rule 6). AES-256-GCM, the subject id bound as associated
data so a value cannot be moved to another subject.

Two kinds of vault, one class: a service's *private* vault (identity's emails, notes,
documents) never leaves the service; a *shared* vault (``shared=True``) holds the keys of
personal text that travels in integration events (a display name, a tutor's bio). Its
keys are published, wrapped, on ``<service>.keys`` so that consumers can read what the
events carry (:mod:`servicekit.shredding`), and its change log tells the publisher when a
key was made or destroyed."""

from __future__ import annotations

import base64
import os
import time
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servicekit.database import Database

_PREFIX = "v1."
#: Sealed bytes start with this (then the nonce, then the ciphertext and its tag).
_BYTES = b"APSEAL1"


def _ddl(table: str, logged: bool) -> list[str]:
    ddl = [f"""CREATE TABLE IF NOT EXISTS {table} (
        subject_id TEXT PRIMARY KEY,
        key BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )"""]
    if logged:
        ddl.append(f"""CREATE TABLE IF NOT EXISTS {table}_log (
            seq BIGSERIAL PRIMARY KEY,
            subject_id TEXT NOT NULL
        )""")
    return ddl


def is_sealed(value: str) -> bool:
    return value.startswith(_PREFIX)


def seal_with(key: bytes, subject_id: UUID | str, plaintext: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), str(subject_id).encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_with(key: bytes, subject_id: UUID | str, sealed: str) -> str:
    """The plaintext; ValueError when ``sealed`` is not a value sealed for this subject
    under this key (tampered, moved to another subject, or not sealed at all)."""
    if not is_sealed(sealed):
        raise ValueError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX):])
        return AESGCM(key).decrypt(raw[:12], raw[12:], str(subject_id).encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise ValueError("not sealed for this subject under this key") from exc


class PersonalDataVault:
    def __init__(self, db: Database, *, shared: bool = False) -> None:
        self.db = db
        self.shared = shared
        self.table = "shared_subject_keys" if shared else "subject_keys"
        db.execute_script(_ddl(self.table, logged=shared))

    def _key(self, subject_id: UUID, create: bool) -> bytes | None:
        with self.db.transaction() as cur:
            if create:
                cur.execute(
                    f"INSERT INTO {self.table} (subject_id, key, created_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (str(subject_id), AESGCM.generate_key(bit_length=256), time.time()),
                )
                if cur.rowcount == 1 and self.shared:  # a new key: the publisher shares it
                    cur.execute(f"INSERT INTO {self.table}_log (subject_id) VALUES (%s)", (str(subject_id),))
            cur.execute(f"SELECT key FROM {self.table} WHERE subject_id = %s", (str(subject_id),))
            row = cur.fetchone()
        return bytes(row[0]) if row else None

    def key_of(self, subject_id: UUID | str) -> bytes | None:
        """The subject's key, or None (never made, or destroyed)."""
        with self.db.transaction() as cur:
            cur.execute(f"SELECT key FROM {self.table} WHERE subject_id = %s", (str(subject_id),))
            row = cur.fetchone()
        return bytes(row[0]) if row else None

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        key = self._key(subject_id, create=True)
        assert key is not None
        return seal_with(key, subject_id, plaintext)

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject's key has been destroyed."""
        if not is_sealed(sealed):
            raise ValueError("not a sealed value")
        key = self._key(subject_id, create=False)
        if key is None:
            return None
        return open_with(key, subject_id, sealed)

    def seal_bytes(self, subject_id: UUID, data: bytes) -> bytes:
        """A file's bytes sealed under the subject's key (kept anywhere, e.g. in a blob store:
        after erasure nobody can read them, wherever copies went)."""
        key = self._key(subject_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        return _BYTES + nonce + AESGCM(key).encrypt(nonce, data, str(subject_id).encode())

    def open_bytes(self, subject_id: UUID, sealed: bytes) -> bytes | None:
        """The bytes, or None once the subject's key has been destroyed."""
        if not sealed.startswith(_BYTES):
            raise ValueError("not sealed bytes")
        key = self._key(subject_id, create=False)
        if key is None:
            return None
        body = sealed[len(_BYTES):]
        try:
            return AESGCM(key).decrypt(body[:12], body[12:], str(subject_id).encode())
        except InvalidTag as exc:
            raise ValueError("not sealed for this subject under this key") from exc

    def read(self, writer: UUID | None, sealed: str | None) -> str | None:
        """Words as a reader shows them: None when there are none, or their writer's key is
        gone (erased). What every service's views call."""
        if not sealed or writer is None:
            return None
        return self.open(writer, sealed)

    def forget(self, subject_id: UUID) -> None:
        """Destroys the subject's key; idempotent. Sealed values become unreadable here at
        once, and (shared vault) everywhere once the publisher's tombstone arrives."""
        with self.db.transaction() as cur:
            cur.execute(f"DELETE FROM {self.table} WHERE subject_id = %s", (str(subject_id),))
            if cur.rowcount and self.shared:
                cur.execute(f"INSERT INTO {self.table}_log (subject_id) VALUES (%s)", (str(subject_id),))
