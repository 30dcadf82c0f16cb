"""Sample media of a listing: images, audio, video and PDFs, recognised by their bytes,
limited in size per kind, content-addressed under ``<listing_id>/<sha256>`` in a blob store
(a local folder or an S3-compatible bucket, by configuration)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from uuid import UUID

from catalog.domain.commands import MediaFile, Upload
from catalog.settings import CatalogSettings
from servicekit.blobstore import BlobStore, LocalBlobStore, S3BlobStore, put_content_addressed
from servicekit.uploads import check_upload


def media_blobs(settings: CatalogSettings) -> BlobStore:
    """The blob store ``ALPHAPEER_CATALOG_MEDIA_BACKEND`` names (settings checked it is complete)."""
    if settings.catalog_media_backend == "s3":
        secret = settings.catalog_s3_secret_access_key
        return S3BlobStore(settings.catalog_s3_endpoint_url or "", settings.catalog_s3_bucket or "",
                           settings.catalog_s3_region, settings.catalog_s3_access_key_id or "",
                           secret.get_secret_value() if secret else "", settings.catalog_s3_prefix)
    return LocalBlobStore(settings.media_dir)


class MediaStore:
    """The application's media port (catalog.application.MediaFiles)."""

    def __init__(self, blobs: BlobStore, limits: dict[str, int], public_url: str) -> None:
        self.blobs = blobs
        self.limits = limits
        self.public_url = public_url.rstrip("/")

    @property
    def max_bytes(self) -> int:
        return max(self.limits.values())

    def put(self, listing_id: UUID, upload: Upload) -> MediaFile:
        """Checks and stores the file; raises servicekit.uploads.UploadRejected, or
        servicekit.blobstore.BlobStoreError when the store fails."""
        ftype = check_upload(upload.data, upload.filename, upload.declared_type, allowed_kinds=set(self.limits),
                             max_bytes=self.limits)
        digest = put_content_addressed(self.blobs, str(listing_id), upload.data, ftype.content_type)
        media_id = uuid.uuid4()
        url = f"{self.public_url}/v1/media/{listing_id}/{media_id}"
        return MediaFile(media_id, ftype.kind, ftype.content_type, url, digest, len(upload.data))

    @staticmethod
    def key(listing_id: UUID, sha256: str) -> str:
        return f"{listing_id}/{sha256}"

    def open(self, listing_id: UUID, sha256: str) -> Iterator[bytes]:
        """The file's bytes in chunks; raises BlobNotFound (or BlobStoreError) at once."""
        return self.blobs.stream(self.key(listing_id, sha256))

    def delete(self, listing_id: UUID, sha256: str) -> None:
        """Removes a stored file (its tutor was erased); a missing one is not an error."""
        self.blobs.delete(self.key(listing_id, sha256))

    def close(self) -> None:
        self.blobs.close()
