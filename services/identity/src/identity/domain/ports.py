"""What identity's use cases need from outside the domain. The application receives an
implementation of each in its constructor (``identity.adapters`` in the service, fakes in
the unit tests)."""

from __future__ import annotations

from dataclasses import dataclass
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


class Mailer(Protocol):
    def send_verification(self, to: str, display_name: str, token: str) -> None:
        """Mail ``to`` the token that proves they own the address."""
        ...


class TokenIssuer(Protocol):
    def issue_access_token(self, user_id: UUID, roles: list[str], session_id: UUID) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        ...


@dataclass(frozen=True)
class Document:
    """An uploaded file as stored: its bytes are elsewhere, its name is personal."""

    document_id: UUID
    owner_id: UUID
    sha256: str
    content_type: str
    size: int
    filename: str | None


class DocumentStore(Protocol):
    def put(self, owner_id: UUID, filename: str, declared_type: str | None, data: bytes) -> Document:
        """Checks the file is what it claims and keeps it; refuses it with an ``Invalid``
        naming the field (the kit's ``UploadRejected``: 413, 415 or 422)."""
        ...

    def get(self, document_id: UUID) -> Document | None: ...

    def erase_owner(self, owner_id: UUID) -> int:
        """Deletes every document of ``owner_id`` (metadata and bytes); how many. Idempotent."""
        ...


class BackgroundCheckProvider(Protocol):
    name: str

    def start(self, user_id: UUID) -> str:
        """Start a check; returns the status to record now."""
        ...
