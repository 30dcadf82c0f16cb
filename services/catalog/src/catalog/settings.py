"""Catalog's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from servicekit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    service_name: str = "catalog"
    http_port: int = 8002
    catalog_public_url: str = "http://127.0.0.1:8002"
    #: Where listing media is kept: a local folder, or a bucket on an S3-compatible server.
    catalog_media_backend: Literal["local", "s3"] = "local"
    catalog_media_dir: Path | None = None
    catalog_s3_endpoint_url: str | None = None
    catalog_s3_bucket: str | None = None
    catalog_s3_region: str = "us-east-1"
    catalog_s3_access_key_id: str | None = None
    catalog_s3_secret_access_key: SecretStr | None = None
    catalog_s3_prefix: str = "catalog-media/"
    catalog_max_image_bytes: int = 5 * 1024 * 1024
    catalog_max_audio_bytes: int = 20 * 1024 * 1024
    catalog_max_video_bytes: int = 100 * 1024 * 1024
    catalog_max_document_bytes: int = 10 * 1024 * 1024

    @model_validator(mode="after")
    def _s3_is_complete(self) -> CatalogSettings:
        if self.catalog_media_backend != "s3":
            return self
        required = ("catalog_s3_endpoint_url", "catalog_s3_bucket", "catalog_s3_access_key_id",
                    "catalog_s3_secret_access_key")
        missing = [f"ALPHAPEER_{name.upper()}" for name in required if not _given(getattr(self, name))]
        if missing:
            raise ValueError(f"ALPHAPEER_CATALOG_MEDIA_BACKEND=s3 also needs {', '.join(missing)}")
        endpoint = urlsplit(self.catalog_s3_endpoint_url or "")
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise ValueError("ALPHAPEER_CATALOG_S3_ENDPOINT_URL must be an http(s) URL such as https://s3.example.org")
        if "/" in (self.catalog_s3_bucket or ""):
            raise ValueError("ALPHAPEER_CATALOG_S3_BUCKET is a bucket name, without '/'")
        return self

    @property
    def media_dir(self) -> Path:
        return self.catalog_media_dir or self.data_dir / "catalog-media"

    @property
    def media_limits(self) -> dict[str, int]:
        return {"image": self.catalog_max_image_bytes, "audio": self.catalog_max_audio_bytes,
                "video": self.catalog_max_video_bytes, "document": self.catalog_max_document_bytes}


def _given(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value and str(value).strip())
