"""Sample media of a listing: images, audio, video and PDFs, recognised by their bytes,
limited in size per kind, kept in a local folder (content-addressed)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from servicekit.uploads import check_upload, store_content_addressed


class MediaStore:
    def __init__(self, folder: Path, limits: dict[str, int], public_url: str) -> None:
        self.folder = folder
        self.limits = limits
        self.public_url = public_url.rstrip("/")
        folder.mkdir(parents=True, exist_ok=True)

    def put(self, listing_id: UUID, filename: str, declared: str | None, data: bytes) -> dict[str, Any]:
        """Checks and stores the file; raises servicekit.uploads.UploadRejected."""
        ftype = check_upload(data, filename, declared, allowed_kinds=set(self.limits), max_bytes=self.limits)
        digest = store_content_addressed(self.folder / str(listing_id), data)
        media_id = uuid.uuid4()
        return {"media_id": str(media_id), "kind": ftype.kind, "content_type": ftype.content_type,
                "url": f"{self.public_url}/v1/media/{listing_id}/{media_id}", "sha256": digest, "size": len(data)}

    def path(self, listing_id: UUID, sha256: str) -> Path:
        return self.folder / str(listing_id) / sha256
