"""Uploaded documents (certificates, transcripts) for tutor applications
(``ports.DocumentStore``).

Bytes go to a blob store, content-addressed under ``<owner>/<sha256>``; the declared type
must match what the bytes are, so a script renamed to ``.pdf`` is refused. Metadata is a
row per document with the file name (personal) sealed; erasure removes rows and blobs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from uuid import UUID

from identity.domain.ports import Document, Vault
from servicekit.blobstore import BlobStore, put_content_addressed
from servicekit.database import Database
from servicekit.uploads import UploadRejected, check_upload

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
    "CREATE INDEX IF NOT EXISTS documents_owner ON documents (owner_id)",
]

ACCEPTED = ("application/pdf", "image/png", "image/jpeg")


class DocumentStore:
    def __init__(self, db: Database, vault: Vault, blobs: BlobStore, max_bytes: int) -> None:
        self.db = db
        self.vault = vault
        self.blobs = blobs
        self.max_bytes = max_bytes
        db.execute_script(DOCS_DDL)

    def put(self, owner_id: UUID, filename: str, declared_type: str | None, data: bytes) -> Document:
        """Raises ``servicekit.uploads.UploadRejected`` (413, 415 or 422, naming the field)."""
        if len(data) > self.max_bytes:  # before sniffing: the type does not change the limit
            raise UploadRejected(f"is {len(data)} bytes; the limit is {self.max_bytes}", status=413)
        ftype = check_upload(data, filename, declared_type, allowed_kinds={"document", "image"},
                             max_bytes=self.max_bytes)
        if ftype.content_type not in ACCEPTED:
            raise UploadRejected("must be a PDF, PNG or JPEG document", status=415)
        actual = ftype.content_type
        digest = put_content_addressed(self.blobs, str(owner_id), data, actual)
        doc_id = uuid.uuid4()
        sealed_name = self.vault.seal(owner_id, filename[:255])  # its own transaction, before ours
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO documents (document_id, owner_id, sha256, content_type, size, filename_sealed, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (str(doc_id), str(owner_id), digest, actual, len(data),
                 sealed_name, time.time()),
            )
        return Document(doc_id, owner_id, digest, actual, len(data), filename)

    def get(self, document_id: UUID) -> Document | None:
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT owner_id, sha256, content_type, size, filename_sealed FROM documents WHERE document_id = %s",
                (str(document_id),),
            )
            row = cur.fetchone()
        if row is None:
            return None
        owner = UUID(row[0])
        return Document(document_id, owner, row[1], row[2], int(row[3]), self.vault.open(owner, row[4]))

    def read(self, doc: Document) -> bytes:
        return self.blobs.get(f"{doc.owner_id}/{doc.sha256}")

    def open(self, doc: Document) -> Iterator[bytes]:
        """The bytes in chunks; ``BlobNotFound`` is raised here, before the first chunk."""
        return self.blobs.stream(f"{doc.owner_id}/{doc.sha256}")

    def erase_owner(self, owner_id: UUID) -> int:
        # Every blob of an owner has a row naming it (content-addressed: <owner>/<sha256>),
        # so the rows say what to delete through the blob store's own interface, whatever
        # the backend. Blobs first: if a deletion fails, the rows are still there for the
        # repeated erasure to finish the job.
        with self.db.transaction() as cur:
            cur.execute("SELECT DISTINCT sha256 FROM documents WHERE owner_id = %s", (str(owner_id),))
            digests = [row[0] for row in cur.fetchall()]
        for digest in digests:
            self.blobs.delete(f"{owner_id}/{digest}")
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM documents WHERE owner_id = %s", (str(owner_id),))
            return int(cur.rowcount)

    def close(self) -> None:
        self.blobs.close()
