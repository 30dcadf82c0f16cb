"""Derived ids. Several aggregates are found from a value rather than a stored id (a keyed
hash of an email, a token's SHA-256, "the one roster"): their id is a UUIDv5 of that value
in identity's namespace. Changing the namespace or a name would orphan every stored one."""

from __future__ import annotations

from uuid import UUID, uuid5

#: Namespace of every derived aggregate id in identity.
NAMESPACE = UUID("5f2b1c9e-8a4d-4e7f-9b3a-2c6d8e0f1a24")


def derived_id(name: str) -> UUID:
    return uuid5(NAMESPACE, name)


def token_id(purpose: str, token_hash: str) -> UUID:
    """The id of the aggregate that holds a token, found from the token's hash alone."""
    return derived_id(f"{purpose}:{token_hash}")
