"""What catalog's domain needs from outside it."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class Sealer(Protocol):
    """Seals a tutor's personal text under their key (a vault shared with the services
    that read catalog's events); once the tutor is forgotten, nothing sealed opens again."""

    def seal(self, subject_id: UUID, plaintext: str) -> str: ...

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject was forgotten."""
        ...

    def forget(self, subject_id: UUID) -> None: ...
