"""Catalog's media on an S3-compatible bucket, chosen by configuration: the settings refuse
an incomplete S3 configuration at start-up, and with ``ALPHAPEER_CATALOG_MEDIA_BACKEND=s3``
a listing's sample is stored in the bucket and served from it (moto's server as a separate
process on loopback, checking every request's signature)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from catalog.adapters.media import media_blobs
from catalog.settings import CatalogSettings
from servicekit.blobstore import LocalBlobStore, S3BlobStore
from servicekit.testing import ISSUER, S3Server

Catalog = Any  # the harness in conftest.py

BUCKET = "alphapeer-catalog-media"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 300  # ~75 KiB


# -- settings --------------------------------------------------------------------------------

S3_ENV = {
    "ALPHAPEER_CATALOG_MEDIA_BACKEND": "s3",
    "ALPHAPEER_CATALOG_S3_ENDPOINT_URL": "https://s3.example.org",
    "ALPHAPEER_CATALOG_S3_BUCKET": "media",
    "ALPHAPEER_CATALOG_S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "ALPHAPEER_CATALOG_S3_SECRET_ACCESS_KEY": "very-secret",
}


def test_local_media_is_the_default(tmp_path: Path) -> None:
    settings = CatalogSettings(data_dir=tmp_path)
    assert settings.catalog_media_backend == "local"
    store = media_blobs(settings)
    assert isinstance(store, LocalBlobStore) and store.folder == tmp_path / "catalog-media"


def test_the_s3_backend_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    settings = CatalogSettings()
    assert settings.catalog_s3_region == "us-east-1" and settings.catalog_s3_prefix == "catalog-media/"
    assert "very-secret" not in repr(settings)
    store = media_blobs(settings)
    assert isinstance(store, S3BlobStore) and store.bucket == "media" and store.prefix == "catalog-media/"
    assert store.object_url("l/d") == "https://s3.example.org/media/catalog-media/l/d"


@pytest.mark.parametrize("missing", [name for name in S3_ENV if name != "ALPHAPEER_CATALOG_MEDIA_BACKEND"])
def test_an_incomplete_s3_configuration_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    for name, value in S3_ENV.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=f"ALPHAPEER_CATALOG_MEDIA_BACKEND=s3 also needs {missing}"):
        CatalogSettings()


def test_an_s3_endpoint_must_be_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALPHAPEER_CATALOG_S3_ENDPOINT_URL", "s3.example.org")
    with pytest.raises(ValidationError, match="must be an http"):
        CatalogSettings()


# -- the catalog on a real S3-compatible server -----------------------------------------------

token = ISSUER.headers


def on_s3(s3_server: S3Server, secret: str | None = None) -> dict[str, Any]:
    """Settings for catalog's media in the test server's bucket."""
    return {"catalog_media_backend": "s3", "catalog_s3_endpoint_url": s3_server.endpoint_url,
            "catalog_s3_bucket": s3_server.bucket(BUCKET), "catalog_s3_access_key_id": s3_server.access_key_id,
            "catalog_s3_secret_access_key": secret or s3_server.secret_access_key}


@pytest.mark.integration
def test_a_listing_sample_is_stored_in_the_bucket_and_served_from_it(
        launch: Callable[..., Catalog], s3_server: S3Server, tmp_path: Path) -> None:
    import boto3

    h = launch(**on_s3(s3_server))
    catalog = h.client
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    h.approve(tutor)
    lid = h.draft(tutor)
    up = catalog.post(f"/v1/listings/{lid}/media", headers=auth,
                      files={"file": ("syllabus.pdf", PDF, "application/pdf")})
    assert up.status_code == 201, up.text
    item = up.json()
    assert item["sha256"] == hashlib.sha256(PDF).hexdigest() and item["size"] == len(PDF)

    # In the bucket, under the prefix, with its type; nothing in the local folder.
    bucket = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id=s3_server.access_key_id,
                          aws_secret_access_key=s3_server.secret_access_key)
    stored = bucket.get_object(Bucket=BUCKET, Key=f"catalog-media/{lid}/{item['sha256']}")
    assert stored["Body"].read() == PDF and stored["ContentType"] == "application/pdf"
    assert not (tmp_path / "catalog-media").exists()

    path = item["url"].split("8002", 1)[1]
    assert catalog.get(path).status_code == 404  # served only while the listing is published
    assert catalog.post(f"/v1/listings/{lid}/publish", headers=auth).status_code == 200
    served = catalog.get(path)
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=3600"
    assert served.headers["content-length"] == str(len(PDF)) and served.headers["etag"] == f'"{item["sha256"]}"'
    assert catalog.get(f"/v1/media/{lid}/{uuid.uuid4()}").status_code == 404

    # The same file again is the same object; pausing the listing hides it again.
    again = catalog.post(f"/v1/listings/{lid}/media", headers=auth,
                         files={"file": ("syllabus.pdf", PDF, "application/pdf")})
    assert again.status_code == 201 and again.json()["sha256"] == item["sha256"]
    assert bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"catalog-media/{lid}/")["KeyCount"] == 1
    assert catalog.post(f"/v1/listings/{lid}/pause", headers=auth).status_code == 200
    assert catalog.get(path).status_code == 404


@pytest.mark.integration
def test_a_storage_failure_is_a_503_not_a_lost_upload(launch: Callable[..., Catalog], s3_server: S3Server) -> None:
    h = launch(**on_s3(s3_server, secret="wrong-secret"))
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    lid = h.draft(tutor)
    r = h.client.post(f"/v1/listings/{lid}/media", headers=auth,
                      files={"file": ("syllabus.pdf", PDF, "application/pdf")})
    assert r.status_code == 503 and r.json()["title"] == "Storage unavailable" and r.headers["retry-after"]
    assert h.client.get(f"/v1/listings/{lid}", headers=auth).json().get("media", []) == []
