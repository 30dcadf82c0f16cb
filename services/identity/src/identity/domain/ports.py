"""What the domain's use cases need from outside."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class Vault(Protocol):
    def seal(self, subject_id: UUID, plaintext: str) -> str: ...
    def open(self, subject_id: UUID, sealed: str) -> str | None: ...
    def forget(self, subject_id: UUID) -> None: ...
