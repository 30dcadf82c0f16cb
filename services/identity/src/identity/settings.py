"""Identity's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from servicekit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: str = "identity"
    http_port: int = 8001
    #: Keys lookups of emails and encrypts signing keys at rest. Must be set in production.
    identity_secret: str = "dev-only-secret-change-me"
    identity_public_url: str = "http://127.0.0.1:8001"
    identity_mail_dir: Path | None = None
    identity_upload_dir: Path | None = None
    identity_bootstrap_admin_email: str = ""
    identity_bootstrap_admin_password: str = ""
    identity_access_token_ttl: int = Field(default=900, ge=60)
    identity_upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    identity_background_check_provider: str = "manual"

    @property
    def mail_dir(self) -> Path:
        return self.identity_mail_dir or self.data_dir / "mail"

    @property
    def upload_dir(self) -> Path:
        return self.identity_upload_dir or self.data_dir / "identity-uploads"
