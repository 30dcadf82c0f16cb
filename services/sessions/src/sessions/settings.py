"""Sessions' settings: the common ``ALPHAPEER_*`` scheme plus the institution's attendance
rules and the video provider (``ALPHAPEER_SESSIONS_*``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from servicekit.settings import ServiceSettings
from sessions.domain.attendance import Limits, Rules


class SessionsSettings(ServiceSettings):
    service_name: str = "sessions"
    http_port: int = 8006
    #: Both sides present together for this share of the scheduled time (basis points): it took place.
    sessions_attendance_share: int = Field(default=5000, ge=0, le=10000)
    #: A side that never came this many minutes after the start, while the other did: a no-show.
    sessions_no_show_grace_minutes: int = Field(default=15, ge=0, le=240)
    #: Sessions that neither attendance nor both sides closed are closed this long after their end.
    sessions_close_hours: int = Field(default=24, ge=1, le=24 * 14)
    #: Joining and in-person check-in open this many minutes before the start.
    sessions_early_minutes: int = Field(default=15, ge=0, le=240)
    #: A LiveKit room is made this many minutes before the start.
    sessions_room_lead_minutes: int = Field(default=60, ge=1, le=24 * 60)
    #: A join token is good for this many minutes (ask again to rejoin later).
    sessions_token_minutes: int = Field(default=10, ge=1, le=240)
    #: An empty room closes after this many seconds.
    sessions_empty_room_seconds: int = Field(default=600, ge=30)
    #: Recordings are deleted this many days after they end.
    sessions_recording_retention_days: int = Field(default=30, ge=1, le=3650)
    sessions_chat_max_chars: int = Field(default=2000, ge=1, le=20000)
    sessions_file_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: Where chat files are kept, sealed under their writer's key: a folder (default
    #: <data dir>/sessions-files; one replica or a shared volume), or a bucket on an
    #: S3-compatible server (every replica).
    sessions_files_backend: Literal["local", "s3"] = "local"
    sessions_files_dir: Path | None = None
    sessions_s3_endpoint_url: str = ""
    sessions_s3_bucket: str = ""
    sessions_s3_region: str = "us-east-1"
    sessions_s3_access_key_id: str = ""
    sessions_s3_secret_access_key: SecretStr = SecretStr("")
    sessions_s3_prefix: str = "sessions-files/"
    #: LiveKit: the URL clients connect to (wss://…), the API's URL when it differs, key and secret.
    #: Unset: no video rooms; an online session carries the meeting link its tutor sets.
    sessions_livekit_url: str = ""
    sessions_livekit_api_url: str = ""
    sessions_livekit_api_key: str = ""
    sessions_livekit_api_secret: SecretStr = SecretStr("")
    #: An OpenAI-compatible chat-completions endpoint (e.g. https://api.openai.com/v1, a vLLM or
    #: Ollama server) for summaries and students' questions. Unset: summaries by extraction, and
    #: asking says that no assistant is configured.
    sessions_ai_base_url: str = ""
    sessions_ai_api_key: SecretStr = SecretStr("")
    sessions_ai_model: str = "gpt-4o-mini"
    #: Signs in-person check-in codes; empty: derived from ALPHAPEER_KEY_WRAPPING_SECRET.
    sessions_check_in_secret: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _s3_complete(self) -> SessionsSettings:
        if self.sessions_files_backend == "s3":
            given = {"ENDPOINT_URL": self.sessions_s3_endpoint_url, "BUCKET": self.sessions_s3_bucket,
                     "ACCESS_KEY_ID": self.sessions_s3_access_key_id,
                     "SECRET_ACCESS_KEY": self.sessions_s3_secret_access_key.get_secret_value()}
            missing = [f"ALPHAPEER_SESSIONS_S3_{k}" for k, v in given.items() if not v.strip()]
            if missing:
                raise ValueError(f"ALPHAPEER_SESSIONS_FILES_BACKEND=s3 also needs {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _livekit_complete(self) -> SessionsSettings:
        given = [bool(self.sessions_livekit_url), bool(self.sessions_livekit_api_key),
                 bool(self.sessions_livekit_api_secret.get_secret_value())]
        if any(given) and not all(given):
            raise ValueError("LiveKit needs ALPHAPEER_SESSIONS_LIVEKIT_URL, ALPHAPEER_SESSIONS_LIVEKIT_API_KEY and "
                             "ALPHAPEER_SESSIONS_LIVEKIT_API_SECRET together")
        return self

    @property
    def rules(self) -> Rules:
        return Rules(share_bps=self.sessions_attendance_share, grace_minutes=self.sessions_no_show_grace_minutes,
                     close_hours=self.sessions_close_hours, early_minutes=self.sessions_early_minutes)

    @property
    def check_in_key(self) -> bytes:
        secret = self.sessions_check_in_secret.get_secret_value() or self.key_wrapping_secret.get_secret_value()
        return hashlib.sha256(f"alphapeer-sessions-check-in:{secret}".encode()).digest()

    @property
    def files_dir(self) -> Path:
        return self.sessions_files_dir or self.data_dir / "sessions-files"

    @property
    def limits(self) -> Limits:
        return Limits(token_minutes=self.sessions_token_minutes, room_lead_minutes=self.sessions_room_lead_minutes,
                      empty_room_seconds=self.sessions_empty_room_seconds,
                      retention_days=self.sessions_recording_retention_days,
                      chat_max_chars=self.sessions_chat_max_chars, file_max_bytes=self.sessions_file_max_bytes)
