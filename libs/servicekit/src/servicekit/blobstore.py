"""Blob storage behind one small interface: a local folder, or any S3-compatible server.

``S3BlobStore`` speaks the S3 REST protocol itself (path-style addressing, AWS Signature
Version 4, the payload hash in ``x-amz-content-sha256``) over ``httpx``: no SDK. Keys are
``/``-separated names such as ``<listing_id>/<sha256>``; the same key names the same blob
in either store, so switching backends is configuration only (existing blobs are not copied).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK_BYTES = 64 * 1024


class BlobStoreError(Exception):
    """The store could not do what was asked (unreachable, refused, misconfigured)."""


class BlobNotFound(BlobStoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no blob under key {key!r}")
        self.key = key


class S3Error(BlobStoreError):
    """An S3 error response: the HTTP status and, when the body is S3's XML error document,
    its ``Code``, ``Message`` and ``RequestId``."""

    def __init__(self, operation: str, key: str, status: int, code: str, message: str, request_id: str = "") -> None:
        detail = f"S3 {operation} {key!r} failed: HTTP {status} {code}: {message}"
        if request_id:
            detail += f" (request id {request_id})"
        super().__init__(detail)
        self.operation = operation
        self.key = key
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The blob's bytes; raises BlobNotFound."""
        ...

    def stream(self, key: str) -> Iterator[bytes]:
        """The blob in chunks. BlobNotFound (and any other error before the first byte) is
        raised by this call itself, not on first iteration."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Removes the blob; a missing key is not an error."""
        ...

    def close(self) -> None: ...


def check_key(key: str) -> str:
    """Keys are relative ``/``-separated names without empty, ``.`` or ``..`` segments, so a
    key can never leave the local folder and no HTTP client rewrites it."""
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


def put_content_addressed(store: BlobStore, prefix: str, data: bytes, content_type: str) -> str:
    """Store ``data`` under ``<prefix>/<sha256>`` once (an existing blob is the same bytes);
    returns the digest."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{prefix}/{digest}"
    if not store.exists(key):
        store.put(key, data, content_type)
    return digest


# -- local folder ------------------------------------------------------------------------

class LocalBlobStore:
    """Blobs as files under ``folder`` (the key is the relative path). Writes are atomic: a
    temporary file in the same directory, then a rename, so a reader never sees half a blob.
    The content type is not kept; callers record it with their own data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def stream(self, key: str) -> Iterator[bytes]:
        try:
            f = self.path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return _chunks_of(f)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def close(self) -> None:
        pass


def _chunks_of(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk


# -- AWS Signature Version 4 -------------------------------------------------------------

def _uri_encode(value: str, safe: str = "") -> str:
    # RFC 3986 unreserved characters stay as they are; everything else is %XX (UTF-8).
    return quote(value, safe=safe + "-_.~")


class SigV4Signer:
    """Signs a request with AWS Signature Version 4 (the ``Authorization`` header form).

    The canonical request is: method, canonical URI (the path exactly as sent, already
    percent-encoded; S3 does not encode it twice or normalise it), canonical query string
    (names and values encoded and sorted), the signed headers as lower-case ``name:value``
    lines with whitespace trimmed and collapsed, sorted, then the list of their names, and
    the payload's SHA-256 in hex."""

    algorithm = "AWS4-HMAC-SHA256"

    def __init__(self, access_key_id: str, secret_access_key: str, region: str, service: str = "s3") -> None:
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.region = region
        self.service = service

    def __repr__(self) -> str:
        return f"SigV4Signer({self.access_key_id!r}, region={self.region!r}, service={self.service!r})"

    def scope(self, when: datetime) -> str:
        return f"{when:%Y%m%d}/{self.region}/{self.service}/aws4_request"

    @staticmethod
    def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
        """(the canonical header lines, each ending in a newline; the signed header names)."""
        items = sorted((name.lower().strip(), re.sub(r"\s+", " ", value.strip())) for name, value in headers.items())
        return "".join(f"{n}:{v}\n" for n, v in items), ";".join(n for n, _ in items)

    @staticmethod
    def canonical_query(query: str) -> str:
        pairs = sorted((_uri_encode(k), _uri_encode(v)) for k, v in parse_qsl(query, keep_blank_values=True))
        return "&".join(f"{k}={v}" for k, v in pairs)

    def canonical_request(self, method: str, url: str, headers: Mapping[str, str], payload_sha256: str) -> str:
        parts = urlsplit(url)
        lines, signed = self.canonical_headers(headers)
        return "\n".join([method.upper(), parts.path or "/", self.canonical_query(parts.query), lines, signed,
                          payload_sha256])

    def string_to_sign(self, when: datetime, canonical_request: str) -> str:
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        return f"{self.algorithm}\n{when:%Y%m%dT%H%M%SZ}\n{self.scope(when)}\n{digest}"

    def signature(self, when: datetime, string_to_sign: str) -> str:
        key = f"AWS4{self._secret}".encode()
        for part in (f"{when:%Y%m%d}", self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()

    def sign(self, method: str, url: str, headers: Mapping[str, str], payload_sha256: str,
             when: datetime | None = None) -> dict[str, str]:
        """The headers to send: ``headers`` plus ``host`` (if absent), ``x-amz-date``,
        ``x-amz-content-sha256`` and ``authorization``. Every header passed is signed."""
        when = (when or datetime.now(UTC)).astimezone(UTC)
        out = {name.lower(): value for name, value in headers.items()}
        out.setdefault("host", _host_of(url))
        out["x-amz-date"] = f"{when:%Y%m%dT%H%M%SZ}"
        out["x-amz-content-sha256"] = payload_sha256
        canonical = self.canonical_request(method, url, out, payload_sha256)
        signature = self.signature(when, self.string_to_sign(when, canonical))
        _, signed = self.canonical_headers(out)
        out["authorization"] = (f"{self.algorithm} Credential={self.access_key_id}/{self.scope(when)},"
                                f"SignedHeaders={signed},Signature={signature}")
        return out


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


# -- S3 ----------------------------------------------------------------------------------

class S3BlobStore:
    """Blobs as objects in one bucket of an S3-compatible server (AWS S3, MinIO, Ceph RGW,
    Garage, R2...), addressed path-style: ``{endpoint_url}/{bucket}/{prefix}{key}``."""

    def __init__(self, endpoint_url: str, bucket: str, region: str, access_key_id: str, secret_access_key: str,
                 prefix: str = "", *, timeout: float = 30.0, client: httpx.Client | None = None) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"S3 endpoint must be an http(s) URL, not {endpoint_url!r}")
        if not bucket or "/" in bucket:
            raise ValueError(f"invalid S3 bucket name {bucket!r}")
        self.endpoint_url = endpoint_url.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self._signer = SigV4Signer(access_key_id, secret_access_key, region, "s3")
        self._client = client or httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(retries=2))

    def __repr__(self) -> str:
        return f"S3BlobStore({self.endpoint_url!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    def object_url(self, key: str) -> str:
        name = self.prefix + check_key(key)
        return f"{self.endpoint_url}/{_uri_encode(self.bucket)}/{_uri_encode(name, safe='/')}"

    def _send(self, method: str, key: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None,
              stream: bool = False) -> httpx.Response:
        url = self.object_url(key)
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        signed = self._signer.sign(method, url, headers or {}, payload)
        request = self._client.build_request(method, url, headers=signed, content=body or None)
        try:
            return self._client.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise BlobStoreError(f"S3 {method} {key!r} at {self.endpoint_url} failed: {exc!r}") from exc

    def _error(self, operation: str, key: str, response: httpx.Response) -> S3Error:
        code, message, request_id = _parse_error(response.read()[:65536])
        request_id = request_id or response.headers.get("x-amz-request-id", "")
        if not code:
            code = {403: "Forbidden", 404: "NotFound"}.get(response.status_code, f"HTTP{response.status_code}")
            message = message or "the response has no S3 error document"
        return S3Error(operation, key, response.status_code, code, message, request_id)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        response = self._send("PUT", key, body=data,
                              headers={"content-type": content_type, "content-length": str(len(data))})
        if response.status_code != 200:
            raise self._error("PutObject", key, response)

    def get(self, key: str) -> bytes:
        return b"".join(self.stream(key))

    def stream(self, key: str) -> Iterator[bytes]:
        response = self._send("GET", key, stream=True)
        if response.status_code != 200:
            try:
                error = self._error("GetObject", key, response)
            finally:
                response.close()
            if error.code in ("NoSuchKey", "NotFound"):
                raise BlobNotFound(key) from error
            raise error
        return self._body_of(key, response)

    @staticmethod
    def _body_of(key: str, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(CHUNK_BYTES)
        except httpx.HTTPError as exc:
            raise BlobStoreError(f"S3 GetObject {key!r}: the body was cut off: {exc!r}") from exc
        finally:
            response.close()

    def exists(self, key: str) -> bool:
        response = self._send("HEAD", key)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        # A HEAD answer has no body, so no error code: one ranged GET says why (a wrong
        # secret, a missing bucket...). Failing that, the bare status.
        diagnosis = self._send("GET", key, headers={"range": "bytes=0-0"})
        if diagnosis.status_code not in (200, 206):
            raise self._error("HeadObject", key, diagnosis)
        raise self._error("HeadObject", key, response)

    def delete(self, key: str) -> None:
        response = self._send("DELETE", key)
        if response.status_code not in (200, 204):
            raise self._error("DeleteObject", key, response)

    def close(self) -> None:
        self._client.close()


def _parse_error(body: bytes) -> tuple[str, str, str]:
    """(Code, Message, RequestId) of an S3 ``<Error>`` document; empty strings if it is not one."""
    if not body.strip():
        return "", "", ""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", body[:200].decode("utf-8", "replace").strip(), ""
    return (root.findtext("Code") or "", root.findtext("Message") or "", root.findtext("RequestId") or "")
