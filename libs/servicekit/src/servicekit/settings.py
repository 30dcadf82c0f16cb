"""Settings from the environment, one naming scheme for every service: ``ALPHAPEER_<FIELD>``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service process needs. A service subclasses it for its own fields,
    keeping the prefix (``ALPHAPEER_IDENTITY_SECRET`` is ``identity_secret``)."""

    model_config = SettingsConfigDict(env_prefix="ALPHAPEER_", extra="ignore")

    service_name: str = "service"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    #: The PostgreSQL server (postgresql://user:pass@host:port/db); each service keeps its
    #: tables in a schema of its own. `make up` and the tests start a local one when unset.
    database_url: str = ""
    #: PostgreSQL schema for this service's tables; defaults to the service name.
    database_schema: str = ""
    data_dir: Path = Path("data")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    #: Where gateways fetch identity's signing keys. Identity itself verifies locally.
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "alphapeer-identity"
    jwt_audience: str = "alphapeer"
    cors_origins: str = ""
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str = ""
    #: Partitions of ``<service>.events`` when the relay creates it.
    topic_partitions: int = Field(default=3, ge=1)
    relay_enabled: bool = True
    #: Consume other services' topics (off in in-process gateway tests).
    subscribers_enabled: bool = True
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval: float = Field(default=0.2, gt=0)
    #: Fault injection for the crash tests: exit hard right after the broker acked a
    #: batch and before the position is recorded. Never set in production.
    relay_crash_after_publish: bool = False
    #: Consumer group tuning; the embedded broker is slow to assign partitions.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1500
    #: How long a fetch may wait for data. The embedded broker holds a fetch for the whole
    #: wait even when data arrives, so this bounds end-to-end latency there.
    kafka_fetch_max_wait_ms: int = 100
    subscriber_max_attempts: int = Field(default=3, ge=1)
    #: Most messages per batch; 0 = whatever one fetch returned.
    subscriber_batch_size: int = Field(default=0, ge=0)

    @field_validator("database_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError("must be letters, digits and underscores")
        return value

    @property
    def db_schema(self) -> str:
        return self.database_schema or self.service_name.replace("-", "_")

    @property
    def topic(self) -> str:
        return f"{self.service_name}.events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.service_name}.dlq"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
