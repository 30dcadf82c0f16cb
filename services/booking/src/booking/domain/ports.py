"""What booking's domain needs from outside it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

#: "Now", as an aware UTC datetime: the application's clock (tests move it).
Clock = Callable[[], datetime]


class Sealer(Protocol):
    """Seals a person's words (a cancellation note, a dispute statement) under their key in
    booking's vault; once the person is erased (``forget``), nothing sealed opens again."""

    def seal(self, subject_id: UUID, plaintext: str) -> str: ...

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject was forgotten."""
        ...

    def forget(self, subject_id: UUID) -> None: ...
