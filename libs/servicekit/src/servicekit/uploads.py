"""Uploaded files are recognised by their bytes, never by their name or declared type:
a script renamed ``cv.pdf`` is refused, and so is a PDF declared as ``image/png``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servicekit.errors import Invalid


@dataclass(frozen=True)
class FileType:
    content_type: str
    kind: str  # image | audio | video | document
    suffixes: tuple[str, ...]


_TYPES = {
    "application/pdf": FileType("application/pdf", "document", (".pdf",)),
    "image/png": FileType("image/png", "image", (".png",)),
    "image/jpeg": FileType("image/jpeg", "image", (".jpg", ".jpeg")),
    "image/gif": FileType("image/gif", "image", (".gif",)),
    "image/webp": FileType("image/webp", "image", (".webp",)),
    "audio/mpeg": FileType("audio/mpeg", "audio", (".mp3",)),
    "audio/ogg": FileType("audio/ogg", "audio", (".ogg", ".oga")),
    "audio/wav": FileType("audio/wav", "audio", (".wav",)),
    "video/mp4": FileType("video/mp4", "video", (".mp4", ".m4v")),
    "video/webm": FileType("video/webm", "video", (".webm",)),
}


def sniff(data: bytes) -> FileType | None:
    """The type the content really is, or None if it is none we accept."""
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return _TYPES["application/pdf"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _TYPES["image/png"]
    if head.startswith(b"\xff\xd8\xff"):
        return _TYPES["image/jpeg"]
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _TYPES["image/gif"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _TYPES["image/webp"]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _TYPES["audio/wav"]
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return _TYPES["audio/mpeg"]
    if head.startswith(b"OggS"):
        return _TYPES["audio/ogg"]
    if head[4:8] == b"ftyp":
        return _TYPES["video/mp4"]
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _TYPES["video/webm"]
    return None


class UploadRejected(Invalid):
    """A refused file: 415 (not a type we accept, or not what it claims), 413 (too large),
    422 (empty). The gateway answers it like any refusal, naming the field."""

    title = "Upload rejected"

    def __init__(self, reason: str, status: int = 415, field: str = "file") -> None:
        super().__init__(field, reason)
        self.status = status  # type: ignore[misc]  # per instance: which of 413/415/422


def check_upload(data: bytes, filename: str, declared: str | None, *, allowed_kinds: set[str],
                 max_bytes: dict[str, int] | int) -> FileType:
    """Validate an upload; raises UploadRejected naming the reason (413/415/422)."""
    if not data:
        raise UploadRejected("is empty", status=422)
    actual = sniff(data)
    if actual is None or actual.kind not in allowed_kinds:
        kinds = ", ".join(sorted(allowed_kinds))
        raise UploadRejected(f"is not an accepted file ({kinds})")
    limit = max_bytes if isinstance(max_bytes, int) else max_bytes[actual.kind]
    if len(data) > limit:
        raise UploadRejected(f"is {len(data)} bytes; the limit for {actual.kind} is {limit}", status=413)
    if not filename.lower().endswith(actual.suffixes):
        raise UploadRejected(f"name {filename!r} does not match its content ({actual.content_type})")
    if declared and declared.split(";")[0].strip() not in (actual.content_type, "application/octet-stream"):
        raise UploadRejected(f"declared as {declared} but the content is {actual.content_type}")
    return actual


async def capped_body(request: Any, limit: int) -> bytes:
    """A request's raw body (a provider's webhook, read before parsing to check its
    signature), refused unread past ``limit`` bytes: 413 naming ``body``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadRejected(f"must be at most {limit} bytes", status=413, field="body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadRejected(f"must be at most {limit} bytes", status=413, field="body")
    return bytes(body)
