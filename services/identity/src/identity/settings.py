"""Identity's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    #: "manual" (staff record outcomes) or "checkr" (the ALPHAPEER_IDENTITY_CHECKR_* below).
    identity_background_check_provider: str = "manual"

    # -- sign-in under load: argon2id takes 64 MiB a hash, so hashing takes a slot --------
    #: Hashes at once (each 64 MiB); 0 = one per core the process may use, at most 4.
    identity_hash_slots: int = Field(default=0, ge=0, le=64)
    #: Seconds a request may wait, from its arrival, for a slot; then 503 with Retry-After.
    identity_hash_queue_timeout: float = Field(default=2.0, gt=0, le=60)

    # -- attempt limits (shared by every replica through PostgreSQL) ----------------------
    #: Failed sign-ins allowed per account, and from one client address, per window.
    identity_login_max_failures_per_account: int = Field(default=10, ge=1)
    identity_login_max_failures_per_address: int = Field(default=100, ge=1)
    identity_login_window_seconds: int = Field(default=300, ge=1, le=86400)
    #: Mails asked for (password reset, verification again) per account and per address.
    identity_mail_max_per_account: int = Field(default=5, ge=1)
    identity_mail_max_per_address: int = Field(default=30, ge=1)
    identity_mail_window_seconds: int = Field(default=3600, ge=1, le=86400)
    #: Proxies in front of identity that append to X-Forwarded-For (the ingress: 1); 0 = none,
    #: the connection's address is the client's.
    identity_trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    #: How long a mailed password reset token works.
    identity_password_reset_ttl: int = Field(default=3600, ge=300, le=86400)

    # -- mail: a local folder unless an SMTP server is named --------------------------------
    identity_mail_from: str = "Alpha Peer <no-reply@alphapeer.local>"
    identity_smtp_host: str = ""
    identity_smtp_port: int = Field(default=587, ge=1, le=65535)
    #: "starttls" (upgrade on connect, port 587), "ssl" (implicit TLS, port 465) or "none".
    identity_smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    identity_smtp_username: str = ""
    identity_smtp_password: str = ""
    #: CA bundle that signs the SMTP server's certificate (default: the system's CAs).
    identity_smtp_ca_file: Path | None = None
    identity_smtp_timeout: float = Field(default=10.0, gt=0, le=120)

    # -- Checkr (ALPHAPEER_IDENTITY_BACKGROUND_CHECK_PROVIDER=checkr) ------------------------
    #: The secret API key: authenticates our calls and signs Checkr's webhooks.
    identity_checkr_api_key: str = ""
    identity_checkr_api_url: str = "https://api.checkr.com"
    #: The package slug every invitation orders (e.g. "tasker_standard").
    identity_checkr_package: str = ""
    identity_checkr_work_country: str = "US"
    identity_checkr_work_state: str = ""
    identity_checkr_work_city: str = ""
    identity_checkr_timeout: float = Field(default=10.0, gt=0, le=120)

    @property
    def mail_dir(self) -> Path:
        return self.identity_mail_dir or self.data_dir / "mail"

    @property
    def upload_dir(self) -> Path:
        return self.identity_upload_dir or self.data_dir / "identity-uploads"
