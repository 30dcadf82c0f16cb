"""S3BlobStore against a real S3-compatible server: moto's server as a separate process on a
loopback port, with request authentication on, so every request's signature is checked.

Needs ``moto[s3]``, ``flask`` and ``flask-cors`` (test-only; boto3 arrives with moto and is
used here only to set the server up and to look at the bucket independently)."""

from __future__ import annotations

import pytest

from servicekit.blobstore import BlobNotFound, BlobStoreError, S3BlobStore, S3Error
from servicekit.devstack import free_port
from servicekit.testing import S3Server

pytestmark = pytest.mark.integration

BUCKET = "alphapeer-test-media"


class S3:
    def __init__(self, server: S3Server) -> None:
        self.admin = server.admin
        self.server = server

    def store(self, *, bucket: str = BUCKET, access_key_id: str = "", secret_access_key: str = "") -> S3BlobStore:
        return S3BlobStore(self.server.endpoint_url, bucket, "us-east-1", access_key_id or self.server.access_key_id,
                           secret_access_key or self.server.secret_access_key, prefix="catalog-media/")


@pytest.fixture
def s3(s3_server: S3Server) -> S3:
    s3_server.bucket(BUCKET)
    return S3(s3_server)


def test_put_get_head_delete_on_a_real_server(s3: S3) -> None:
    store = s3.store()
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 800  # ~200 KiB: several chunks
    key = "0b5e4c1e-listing/a key with spaces+$&=;,@:"
    assert not store.exists(key)
    store.put(key, data, "image/png")
    assert store.exists(key)
    assert store.get(key) == data
    assert b"".join(store.stream(key)) == data

    stored = s3.admin.get_object(Bucket=BUCKET, Key=f"catalog-media/{key}")
    assert stored["Body"].read() == data and stored["ContentType"] == "image/png"

    store.put(key, b"replaced", "text/plain")
    assert store.get(key) == b"replaced"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # a missing key is no error
    with pytest.raises(BlobNotFound) as missing:
        store.get(key)
    assert isinstance(missing.value.__cause__, S3Error) and missing.value.__cause__.code == "NoSuchKey"
    store.close()


def test_a_wrong_secret_is_refused_with_signature_does_not_match(s3: S3) -> None:
    store = s3.store(secret_access_key="not-the-secret")
    with pytest.raises(S3Error) as caught:
        store.put("k", b"data", "text/plain")
    assert caught.value.status == 403 and caught.value.code == "SignatureDoesNotMatch"
    assert "S3 PutObject 'k' failed: HTTP 403 SignatureDoesNotMatch: The request signature we calculated" in str(
        caught.value)
    for attempt in (lambda: store.get("k"), lambda: store.exists("k"), lambda: store.delete("k")):
        with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
            attempt()


def test_an_unknown_key_id_and_a_missing_bucket_are_named(s3: S3) -> None:
    with pytest.raises(S3Error, match="InvalidAccessKeyId"):
        s3.store(access_key_id="AKIAUNKNOWNUNKNOWN00").put("k", b"x", "text/plain")
    with pytest.raises(S3Error, match="NoSuchBucket"):
        s3.store(bucket="no-such-bucket-here").put("k", b"x", "text/plain")


def test_nothing_listening_is_a_blob_store_error() -> None:
    store = S3BlobStore(f"http://127.0.0.1:{free_port()}", BUCKET, "us-east-1", "id", "secret", timeout=2)
    with pytest.raises(BlobStoreError, match=r"S3 PUT 'k' at http://127\.0\.0\.1:"):
        store.put("k", b"x", "text/plain")
