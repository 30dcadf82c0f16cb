"""What identity's use cases need from outside the domain."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class Vault(Protocol):
    """Seals personal data under a key of its subject (a user). Forgetting the subject
    destroys the key: every value sealed for it, in every stored event, becomes unreadable."""

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        """An opaque string that reveals nothing of ``plaintext``."""
        ...

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject was forgotten."""
        ...

    def forget(self, subject_id: UUID) -> None:
        """Destroy the subject's key. Idempotent."""
        ...
