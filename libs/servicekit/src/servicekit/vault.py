"""Crypto-shredding for personal data kept in an event store.

Personal fields are stored sealed under a key of their own subject (a user); erasure
destroys the key, and every sealed value in history becomes unreadable without any event
being rewritten (ARCHITECTURE rule 6). AES-256-GCM, the subject id bound as associated
data so a value cannot be moved to another subject."""

from __future__ import annotations

import base64
import os
import time
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servicekit.database import Database

VAULT_DDL = [
    """CREATE TABLE IF NOT EXISTS subject_keys (
        subject_id TEXT PRIMARY KEY,
        key BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
]
_PREFIX = "v1."


class PersonalDataVault:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.execute_script(VAULT_DDL)

    def _key(self, subject_id: UUID, create: bool) -> bytes | None:
        with self.db.transaction() as cur:
            if create:
                cur.execute(
                    "INSERT INTO subject_keys (subject_id, key, created_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (str(subject_id), AESGCM.generate_key(bit_length=256), time.time()),
                )
            cur.execute("SELECT key FROM subject_keys WHERE subject_id = %s", (str(subject_id),))
            row = cur.fetchone()
        return bytes(row[0]) if row else None

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        key = self._key(subject_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), str(subject_id).encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject's key has been destroyed."""
        if not sealed.startswith(_PREFIX):
            raise ValueError("not a sealed value")
        key = self._key(subject_id, create=False)
        if key is None:
            return None
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX):])
        return AESGCM(key).decrypt(raw[:12], raw[12:], str(subject_id).encode()).decode()

    def forget(self, subject_id: UUID) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM subject_keys WHERE subject_id = %s", (str(subject_id),))
