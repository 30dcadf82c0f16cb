"""Background-check providers. The platform records a status per user; a provider adapter
starts a check and later reports its outcome. With none configured ("manual", the
default), starting a check marks it pending and staff record the outcome themselves."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class BackgroundCheckProvider(Protocol):
    name: str

    def start(self, user_id: UUID) -> str:
        """Start a check; returns the status to record now."""
        ...


class ManualProvider:
    name = "manual"

    def start(self, user_id: UUID) -> str:
        return "pending"


def provider_for(name: str) -> BackgroundCheckProvider:
    if name == "manual":
        return ManualProvider()
    raise ValueError(f"background-check provider {name!r} is not available; use 'manual'")
