"""Uploaded documents (certificates, transcripts) for tutor applications.

Bytes go to a local folder (content-addressed); the declared type must match what the
bytes are, so a script renamed to ``.pdf`` is refused. Metadata is personal (the file
name) and is kept sealed; erasure removes the files."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from servicekit.blobstore import LocalBlobStore, put_content_addressed
from servicekit.database import Database
from servicekit.uploads import UploadRejected, check_upload
from servicekit.vault import PersonalDataVault

DOCS_DDL = [
    """CREATE TABLE IF NOT EXISTS documents (
        document_id TEXT PRIMARY KEY,
        owner_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size BIGINT NOT NULL,
        filename_sealed TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
]

class DocumentRejected(ValueError):
    def __init__(self, field: str, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Document:
    document_id: UUID
    owner_id: UUID
    sha256: str
    content_type: str
    size: int
    filename: str | None


class DocumentStore:
    def __init__(self, db: Database, vault: PersonalDataVault, folder: Path, max_bytes: int) -> None:
        self.db = db
        self.vault = vault
        self.folder = folder
        self.blobs = LocalBlobStore(folder)  # <owner>/<sha256>, written atomically
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        db.execute_script(DOCS_DDL)

    def put(self, owner_id: UUID, filename: str, declared_type: str | None, data: bytes) -> Document:
        if len(data) > self.max_bytes:  # before sniffing: the type does not change the limit
            raise DocumentRejected("file", f"is {len(data)} bytes; the limit is {self.max_bytes}", status=413)
        try:
            ftype = check_upload(data, filename, declared_type, allowed_kinds={"document", "image"},
                                 max_bytes=self.max_bytes)
        except UploadRejected as exc:
            raise DocumentRejected(exc.field, exc.reason, exc.status) from exc
        if ftype.content_type not in ("application/pdf", "image/png", "image/jpeg"):
            raise DocumentRejected("file", "must be a PDF, PNG or JPEG document", status=415)
        actual = ftype.content_type
        digest = put_content_addressed(self.blobs, str(owner_id), data, actual)
        doc_id = uuid.uuid4()
        sealed_name = self.vault.seal(owner_id, filename[:255])  # its own transaction, before ours
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO documents (document_id, owner_id, sha256, content_type, size, filename_sealed, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (str(doc_id), str(owner_id), digest, actual, len(data),
                 sealed_name, time.time()),
            )
        return Document(doc_id, owner_id, digest, actual, len(data), filename)

    def get(self, document_id: UUID) -> Document | None:
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT owner_id, sha256, content_type, size, filename_sealed FROM documents WHERE document_id = ?",
                (str(document_id),),
            )
            row = cur.fetchone()
        if row is None:
            return None
        owner = UUID(row[0])
        return Document(document_id, owner, row[1], row[2], int(row[3]), self.vault.open(owner, row[4]))

    def read(self, doc: Document) -> bytes:
        return self.blobs.get(f"{doc.owner_id}/{doc.sha256}")

    def erase_owner(self, owner_id: UUID) -> int:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM documents WHERE owner_id = ?", (str(owner_id),))
            removed = cur.rowcount
        folder = self.folder / str(owner_id)
        if folder.exists():
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
        return removed
