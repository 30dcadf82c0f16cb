"""Catalog's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pathlib import Path

from servicekit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    service_name: str = "catalog"
    http_port: int = 8002
    catalog_public_url: str = "http://127.0.0.1:8002"
    catalog_media_dir: Path | None = None
    catalog_max_image_bytes: int = 5 * 1024 * 1024
    catalog_max_audio_bytes: int = 20 * 1024 * 1024
    catalog_max_video_bytes: int = 100 * 1024 * 1024
    catalog_max_document_bytes: int = 10 * 1024 * 1024

    @property
    def media_dir(self) -> Path:
        return self.catalog_media_dir or self.data_dir / "catalog-media"

    @property
    def media_limits(self) -> dict[str, int]:
        return {"image": self.catalog_max_image_bytes, "audio": self.catalog_max_audio_bytes,
                "video": self.catalog_max_video_bytes, "document": self.catalog_max_document_bytes}
