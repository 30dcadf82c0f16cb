"""Signing keys and access tokens (``ports.TokenIssuer``, and the ``KeySource`` identity's
own gateway verifies tokens with).

RS256 keys live in identity's database, private halves encrypted under a key derived from
the service secret. The newest key signs; every key not yet retired is published at the
JWKS endpoint, so tokens signed before a rotation keep verifying until they expire —
rotation logs nobody out."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servicekit.database import Database

KEYS_DDL = [
    """CREATE TABLE IF NOT EXISTS signing_keys (
        kid TEXT PRIMARY KEY,
        private_sealed BYTEA NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        retire_at DOUBLE PRECISION
    )""",
]


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Any
    public_jwk: dict[str, Any]
    created_at: float
    retire_at: float | None


class SigningKeyStore:
    """Makes its first key when it has none, so identity can sign from its first start."""

    def __init__(self, db: Database, secret: str, token_ttl: int, issuer: str, audience: str,
                 cache_seconds: float = 5.0) -> None:
        self.db = db
        self.token_ttl = token_ttl
        self.issuer = issuer
        self.audience = audience
        self._aead = AESGCM(hashlib.sha256(b"alphapeer-signing-keys:" + secret.encode()).digest())
        self._cache: list[SigningKey] = []
        self._cached_at = 0.0
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        db.execute_script(KEYS_DDL)
        self.ensure_key()

    # -- keys ------------------------------------------------------------------------

    def _load(self) -> list[SigningKey]:
        now = time.time()
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT kid, private_sealed, public_jwk, created_at, retire_at FROM signing_keys "
                "WHERE retire_at IS NULL OR retire_at > %s ORDER BY created_at DESC",
                (now,),
            )
            rows = cur.fetchall()
        keys = []
        for kid, sealed, jwk, created, retire in rows:
            raw = bytes(sealed)
            pem = self._aead.decrypt(raw[:12], raw[12:], kid.encode())
            keys.append(SigningKey(kid, serialization.load_pem_private_key(pem, None), json.loads(jwk),
                                   float(created), float(retire) if retire else None))
        return keys

    def keys(self) -> list[SigningKey]:
        with self._lock:
            if time.monotonic() - self._cached_at > self._cache_seconds or not self._cache:
                self._cache = self._load()
                self._cached_at = time.monotonic()
            return self._cache

    def _invalidate(self) -> None:
        with self._lock:
            self._cached_at = 0.0

    def ensure_key(self) -> None:
        if not self._load():
            self.rotate()

    def rotate(self) -> str:
        """Create a new signing key; older keys retire once tokens they signed expired."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:8]}"
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, pem, kid.encode())
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        jwk.update(kid=kid, use="sig", alg="RS256")
        now = time.time()
        retire_at = now + self.token_ttl + 60
        with self.db.transaction() as cur:
            cur.execute("UPDATE signing_keys SET retire_at = %s WHERE retire_at IS NULL", (retire_at,))
            cur.execute(
                "INSERT INTO signing_keys (kid, private_sealed, public_jwk, created_at) VALUES (%s, %s, %s, %s)",
                (kid, sealed, json.dumps(jwk), now),
            )
        self._invalidate()
        return kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys()]}

    def key_for(self, kid: str) -> Any | None:
        """servicekit.auth.KeySource: identity verifies its own tokens without HTTP."""
        for attempt in range(2):
            for key in self.keys():
                if key.kid == kid:
                    return key.private_key.public_key()
            if attempt == 0:
                self._invalidate()
        return None

    # -- tokens ----------------------------------------------------------------------

    def issue_access_token(self, user_id: UUID, roles: list[str], session_id: UUID) -> tuple[str, int]:
        key = self.keys()[0]  # newest
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "roles": sorted(roles),
            "sid": str(session_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl,
            "jti": base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("="),
        }
        token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
        return token, self.token_ttl
