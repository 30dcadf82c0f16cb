"""The blob stores without a server: the SigV4 signer against AWS's published S3 examples,
the local folder store, and the S3 store's requests and error reporting on a fake transport."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from servicekit.blobstore import (
    EMPTY_SHA256,
    BlobNotFound,
    BlobStoreError,
    LocalBlobStore,
    S3BlobStore,
    S3Error,
    SigV4Signer,
    put_content_addressed,
)

# The credentials, bucket and time of the examples in AWS's "Signature Calculations for the
# Authorization Header" page of the S3 API reference (sig-v4-header-based-auth.html).
EXAMPLE_SIGNER = SigV4Signer("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
EXAMPLE_TIME = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
EXAMPLE_HOST = "https://examplebucket.s3.amazonaws.com"


def test_the_aws_get_object_example_signs_to_the_published_signature() -> None:
    # "Example: GET Object": the first 10 bytes of test.txt, payload hash of the empty body.
    url, headers = f"{EXAMPLE_HOST}/test.txt", {"Range": "bytes=0-9"}
    signed = EXAMPLE_SIGNER.sign("GET", url, headers, EMPTY_SHA256, EXAMPLE_TIME)

    canonical = EXAMPLE_SIGNER.canonical_request("GET", url, {k: v for k, v in signed.items() if k != "authorization"},
                                                 EMPTY_SHA256)
    assert canonical == (
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\n"
        "host;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert EXAMPLE_SIGNER.string_to_sign(EXAMPLE_TIME, canonical) == (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    assert signed["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    assert signed["x-amz-date"] == "20130524T000000Z" and signed["host"] == "examplebucket.s3.amazonaws.com"


@pytest.mark.parametrize(("method", "path", "headers", "body", "signature"), [
    # "Example: PUT Object": a "$" in the key (sent and signed as %24), a signed body and Date.
    ("PUT", "/test%24file.text", {"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
     b"Welcome to Amazon S3.", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    # "Example: GET Bucket Lifecycle": a query parameter without a value.
    ("GET", "/?lifecycle", {}, b"", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    # "Example: Get Bucket (List Objects)": query parameters sorted and encoded.
    ("GET", "/?max-keys=2&prefix=J", {}, b"", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
])
def test_the_other_aws_s3_examples_sign_to_their_published_signatures(
        method: str, path: str, headers: dict[str, str], body: bytes, signature: str) -> None:
    signed = EXAMPLE_SIGNER.sign(method, EXAMPLE_HOST + path, headers, hashlib.sha256(body).hexdigest(),
                                 EXAMPLE_TIME)
    assert signed["authorization"].endswith(f",Signature={signature}")


def test_header_values_are_trimmed_and_their_inner_whitespace_collapsed() -> None:
    lines, names = SigV4Signer.canonical_headers({"X-Amz-Meta-A": "  one   two \t three ", "Host": "h"})
    assert lines == "host:h\nx-amz-meta-a:one two three\n" and names == "host;x-amz-meta-a"


def test_the_host_header_keeps_a_non_default_port() -> None:
    signed = EXAMPLE_SIGNER.sign("GET", "http://127.0.0.1:9000/b/k", {}, EMPTY_SHA256, EXAMPLE_TIME)
    assert signed["host"] == "127.0.0.1:9000"
    assert EXAMPLE_SIGNER.sign("GET", "https://s3.example.org:443/b/k", {}, EMPTY_SHA256)["host"] == "s3.example.org"


def test_the_signer_does_not_show_its_secret() -> None:
    assert "EXAMPLEKEY" not in repr(EXAMPLE_SIGNER)


# -- local folder --------------------------------------------------------------------------

def test_local_store_round_trip_streams_and_deletes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    data = bytes(range(256)) * 1000  # several chunks
    store.put("a/b", data, "application/octet-stream")
    assert store.exists("a/b") and store.get("a/b") == data
    assert b"".join(store.stream("a/b")) == data
    store.put("a/b", b"new", "text/plain")
    assert store.get("a/b") == b"new"
    assert [p.name for p in (tmp_path / "blobs" / "a").iterdir()] == ["b"]  # no temporary files left
    store.delete("a/b")
    store.delete("a/b")  # deleting a missing blob is no error
    assert not store.exists("a/b")
    with pytest.raises(BlobNotFound):
        store.get("a/b")
    with pytest.raises(BlobNotFound):
        store.stream("a/b")  # raised by the call, before any iteration


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "a/../../b", "a//b", "a/./b", "a\\b"])
def test_keys_cannot_escape_or_be_rewritten(tmp_path: Path, key: str) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put(key, b"x", "text/plain")
    s3 = S3BlobStore("http://127.0.0.1:1", "bucket", "us-east-1", "id", "secret")
    with pytest.raises(ValueError, match="invalid blob key"):
        s3.object_url(key)


def test_content_addressed_put_writes_once_under_the_digest(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = put_content_addressed(store, "listing", b"%PDF-1.7", "application/pdf")
    assert digest == hashlib.sha256(b"%PDF-1.7").hexdigest()
    path = tmp_path / "listing" / digest
    mtime = path.stat().st_mtime_ns
    assert put_content_addressed(store, "listing", b"%PDF-1.7", "application/pdf") == digest
    assert path.read_bytes() == b"%PDF-1.7" and path.stat().st_mtime_ns == mtime


# -- S3 on a fake transport ------------------------------------------------------------------

NO_SUCH_BUCKET = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchBucket</Code>'
                  b"<Message>The specified bucket does not exist</Message><BucketName>media</BucketName>"
                  b"<RequestId>4442587FB7D0A2F9</RequestId></Error>")


def fake_s3(handler: httpx.MockTransport) -> S3BlobStore:
    return S3BlobStore("http://s3.test:9000/", "media", "eu-west-1", "AKIDTEST", "secret", "catalog-media/",
                       client=httpx.Client(transport=handler))


def test_requests_are_path_style_and_sign_the_payload() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    store = fake_s3(httpx.MockTransport(handler))
    store.put("l1/a b+c", b"png bytes", "image/png")
    put = seen[0]
    assert put.method == "PUT" and put.url.raw_path == b"/media/catalog-media/l1/a%20b%2Bc"
    assert put.headers["host"] == "s3.test:9000" and put.headers["content-type"] == "image/png"
    assert put.headers["x-amz-content-sha256"] == hashlib.sha256(b"png bytes").hexdigest()
    assert put.content == b"png bytes"
    auth = put.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/") and "/eu-west-1/s3/aws4_request," in auth
    assert "SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date," in auth
    store.delete("l1/a b+c")
    assert seen[1].method == "DELETE" and seen[1].headers["x-amz-content-sha256"] == EMPTY_SHA256


def test_s3_error_documents_are_surfaced() -> None:
    store = fake_s3(httpx.MockTransport(lambda request: httpx.Response(404, content=NO_SUCH_BUCKET)))
    with pytest.raises(S3Error) as caught:
        store.put("k", b"x", "text/plain")
    error = caught.value
    assert (error.status, error.code, error.request_id) == (404, "NoSuchBucket", "4442587FB7D0A2F9")
    assert str(error) == ("S3 PutObject 'k' failed: HTTP 404 NoSuchBucket: The specified bucket does not exist "
                          "(request id 4442587FB7D0A2F9)")
    with pytest.raises(S3Error, match="NoSuchBucket"):
        store.get("k")  # not BlobNotFound: the bucket is missing, not the key


def test_a_bodyless_head_failure_is_explained_by_a_ranged_get() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(403)
        assert request.headers["range"] == "bytes=0-0"
        return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")

    with pytest.raises(S3Error, match="HeadObject 'k' failed: HTTP 403 AccessDenied: Access Denied"):
        fake_s3(httpx.MockTransport(handler)).exists("k")


def test_an_unreachable_server_is_a_blob_store_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BlobStoreError, match=r"S3 GET 'k' at http://s3.test:9000 failed"):
        fake_s3(httpx.MockTransport(handler)).get("k")


def test_a_non_xml_error_body_is_shown_as_it_is() -> None:
    store = fake_s3(httpx.MockTransport(lambda request: httpx.Response(502, content=b"Bad Gateway from proxy")))
    with pytest.raises(S3Error, match="HTTP 502 HTTP502: Bad Gateway from proxy"):
        store.get("k")


def test_the_store_does_not_show_its_secret() -> None:
    assert "secret" not in repr(fake_s3(httpx.MockTransport(lambda request: httpx.Response(200))))
