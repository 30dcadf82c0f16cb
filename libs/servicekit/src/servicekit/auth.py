"""Bearer-JWT authentication against identity's JWKS, and role checks.

Keys are cached; a token signed with a key id not in the cache triggers one refetch
(rate-limited), so rotated keys are honoured without a restart. Identity verifies its own
tokens from its key store through the same :class:`KeySource` interface."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import httpx
import jwt
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alphapeer_contracts.vocabulary import ROLES, STAFF_ROLES
from servicekit.problems import Problem


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    roles: frozenset[str]
    session_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_staff(self) -> bool:
        return self.has_any(*STAFF_ROLES)


class KeySource(Protocol):
    def key_for(self, kid: str) -> Any | None:
        """The public key for a key id, or None if unknown after a refresh."""
        ...


class JwksKeySource:
    """Fetches a JWKS document over HTTP, caches it, refetches on an unknown kid."""

    def __init__(self, url: str, ttl: float = 300.0, min_refetch_interval: float = 5.0) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        resp = httpx.get(self.url, timeout=5.0)
        resp.raise_for_status()
        keys = {}
        for jwk in resp.json().get("keys", []):
            keys[jwk["kid"]] = jwt.PyJWK.from_json(json.dumps(jwk)).key
        self._keys = keys
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str) -> Any | None:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > self.ttl or (kid not in self._keys and age > self.min_refetch_interval):
                try:
                    self._fetch()
                except httpx.HTTPError:
                    if not self._keys:
                        raise
            return self._keys.get(kid)


class TokenVerifier:
    def __init__(self, keys: KeySource, issuer: str, audience: str, leeway: float = 30.0) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Problem(401, "Invalid token", f"malformed token: {exc}") from exc
        kid = header.get("kid")
        if not kid:
            raise Problem(401, "Invalid token", "token has no key id (kid)")
        try:
            key = self.keys.key_for(kid)
        except httpx.HTTPError as exc:
            raise Problem(503, "Key service unavailable", "cannot fetch signing keys") from exc
        if key is None:
            raise Problem(401, "Invalid token", "token signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Problem(401, "Token expired", "the access token has expired; refresh it") from exc
        except jwt.PyJWTError as exc:
            raise Problem(401, "Invalid token", str(exc)) from exc
        try:
            user_id = UUID(claims["sub"])
        except ValueError as exc:
            raise Problem(401, "Invalid token", "subject is not a user id") from exc
        return Principal(
            user_id=user_id,
            roles=frozenset(claims.get("roles", [])),
            session_id=claims.get("sid"),
            claims=claims,
        )


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "Authentication required", "send 'Authorization: Bearer <access token>'",
                      headers={"WWW-Authenticate": 'Bearer realm="alphapeer"'})
    return token.strip()


#: The OpenAPI security scheme every protected route declares (its "Authorize" button):
#: FastAPI lists it on each route that depends on ``current_principal``, and on no other.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearerAuth", bearerFormat="JWT",
                    description="An RS256 access token from identity (`POST /v1/auth/login`), verified against "
                                "identity's JWKS.")


def principal_of(request: Request) -> Principal:
    """The verified caller of a request (cached on it), or a 401/403 problem."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(bearer_token(request))
    hook: Callable[[Principal], None] | None = getattr(request.app.state, "principal_check", None)
    if hook is not None:
        hook(principal)
    request.state.principal = principal
    return principal


def current_principal(request: Request, _: HTTPAuthorizationCredentials | None = Security(BEARER)) -> Principal:
    """FastAPI dependency: the verified caller."""
    return principal_of(request)


def optional_principal(request: Request) -> Principal | None:
    """FastAPI dependency for public routes that show more to some callers (an owner, staff):
    the verified caller, or None without an Authorization header. A header that does not
    verify is still refused (401): a forged token is never treated as anonymous."""
    if not request.headers.get("authorization"):
        return None
    return principal_of(request)


def require_roles(*roles: str) -> Callable[..., Principal]:
    """FastAPI dependency factory: the caller must hold at least one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has_any(*roles):
            raise Problem(403, "Forbidden", f"requires one of the roles: {', '.join(roles)}")
        return principal

    return dependency


def require_self_or_roles(user_id: UUID, principal: Principal, roles: Iterable[str] = STAFF_ROLES) -> None:
    """Owner-or-staff rule for a user's private data."""
    if principal.user_id != user_id and not principal.has_any(*roles):
        raise Problem(403, "Forbidden", "this belongs to another user")
