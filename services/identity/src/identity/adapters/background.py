"""Background-check providers (``ports.BackgroundCheckProvider``). The platform records a
status per user; a provider starts a check and later reports its outcome. With none
configured ("manual", the default), starting a check marks it pending and staff record
the outcome themselves."""

from __future__ import annotations

from uuid import UUID

from identity.domain.ports import BackgroundCheckProvider


class ManualProvider:
    name = "manual"

    def start(self, user_id: UUID) -> str:
        return "pending"


def provider_for(name: str) -> BackgroundCheckProvider:
    if name == "manual":
        return ManualProvider()
    raise ValueError(f"background-check provider {name!r} is not available; use 'manual'")
