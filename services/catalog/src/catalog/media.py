"""Sample media of a listing: images, audio, video and PDFs, recognised by their bytes,
limited in size per kind, content-addressed under ``<listing_id>/<sha256>`` in a blob store
(a local folder or an S3-compatible bucket, by configuration)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from servicekit.blobstore import BlobStore, put_content_addressed
from servicekit.uploads import check_upload


class MediaStore:
    def __init__(self, blobs: BlobStore, limits: dict[str, int], public_url: str) -> None:
        self.blobs = blobs
        self.limits = limits
        self.public_url = public_url.rstrip("/")

    def put(self, listing_id: UUID, filename: str, declared: str | None, data: bytes) -> dict[str, Any]:
        """Checks and stores the file; raises servicekit.uploads.UploadRejected, or
        servicekit.blobstore.BlobStoreError when the store fails."""
        ftype = check_upload(data, filename, declared, allowed_kinds=set(self.limits), max_bytes=self.limits)
        digest = put_content_addressed(self.blobs, str(listing_id), data, ftype.content_type)
        media_id = uuid.uuid4()
        return {"media_id": str(media_id), "kind": ftype.kind, "content_type": ftype.content_type,
                "url": f"{self.public_url}/v1/media/{listing_id}/{media_id}", "sha256": digest, "size": len(data)}

    @staticmethod
    def key(listing_id: UUID, sha256: str) -> str:
        return f"{listing_id}/{sha256}"

    def open(self, listing_id: UUID, sha256: str) -> Iterator[bytes]:
        """The file's bytes in chunks; raises BlobNotFound (or BlobStoreError) at once."""
        return self.blobs.stream(self.key(listing_id, sha256))

    def close(self) -> None:
        self.blobs.close()
