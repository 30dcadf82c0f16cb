"""Settings from the environment, one naming scheme for every service: ``ALPHAPEER_<FIELD>``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service process needs. A service subclasses it for its own fields,
    keeping the prefix (``ALPHAPEER_IDENTITY_SECRET`` is ``identity_secret``)."""

    # Errors name the setting, never its value: some values are secrets (database_url, passwords).
    model_config = SettingsConfigDict(env_prefix="ALPHAPEER_", extra="ignore", hide_input_in_errors=True)

    service_name: str = "service"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    #: How every Kafka client of the kit connects (servicekit.kafka): PLAINTEXT, SSL,
    #: SASL_PLAINTEXT or SASL_SSL; SASL with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    #: PEM files: the CA that signed the brokers' certificates (empty: the system's CAs),
    #: and a client certificate and key for mutual TLS.
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_key_password: SecretStr = SecretStr("")
    kafka_ssl_check_hostname: bool = True
    #: Create missing topics (<service>.events, <service>.dlq) with the shapes below; off
    #: where topics are declared to the cluster (Strimzi KafkaTopic): then a missing one is
    #: an error naming it.
    kafka_create_topics: bool = True
    #: The PostgreSQL server (postgresql://user:pass@host:port/db); each service keeps its
    #: tables in a schema of its own. `make up` and the tests start a local one when unset.
    database_url: str = ""
    #: PostgreSQL schema for this service's tables; defaults to the service name.
    database_schema: str = ""
    data_dir: Path = Path("data")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    #: Requests served at once by one process; past it a request waits for a place (at most
    #: ``http_admission_wait_seconds``, among at most four per place), then is answered 503
    #: with Retry-After (servicekit.admission). Probes and /metrics always pass.
    http_max_in_flight: int = Field(default=64, ge=1)
    http_admission_wait_seconds: float = Field(default=2.0, ge=0, le=60)
    #: Wraps the per-user keys of personal text shared on `<service>.keys` (crypto-shredding
    #: across the bus): the same secret in every service. Must be set in production.
    key_wrapping_secret: SecretStr = SecretStr("dev-only-key-wrapping-secret")
    #: Where gateways fetch identity's signing keys. Identity itself verifies locally.
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "alphapeer-identity"
    jwt_audience: str = "alphapeer"
    cors_origins: str = ""
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str = ""
    #: One JSON line per HTTP request at INFO (``servicekit.access``); probes at DEBUG.
    access_log: bool = True
    #: When set, ``GET /metrics`` requires ``Authorization: Bearer <token>`` (for a port
    #: reachable from outside the cluster); empty: open to whoever reaches the port.
    metrics_token: str = ""
    #: Partitions of ``<service>.events`` and ``<service>.dlq`` when the service creates them.
    topic_partitions: int = Field(default=3, ge=1)
    #: Replicas of each partition (3 on a production cluster; 1 on a single broker).
    topic_replication_factor: int = Field(default=1, ge=1)
    #: ``min.insync.replicas`` of the service's topics; 0 = the broker's default.
    topic_min_insync_replicas: int = Field(default=0, ge=0)
    #: How long dead letters are kept (event topics keep everything: retention.ms=-1).
    topic_dlq_retention_ms: int = Field(default=30 * 24 * 3600 * 1000, ge=3600 * 1000)
    #: Create the schema, tables and seed data at start (make up, tests, the dev overlay);
    #: false where a migration Job does it (`alphapeer-<service> migrate`): replicas then
    #: only check that what they need exists, waiting up to ``migrate_wait_seconds``.
    migrate_on_start: bool = True
    migrate_wait_seconds: float = Field(default=30.0, ge=0)
    #: How long the outbox relay's lock holder may go silent (crashed node, frozen
    #: process, lost network) before PostgreSQL ends its session and a standby takes over.
    relay_lock_timeout: float = Field(default=30.0, ge=1.0)
    relay_enabled: bool = True
    #: Consume other services' topics (off in in-process gateway tests).
    subscribers_enabled: bool = True
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval: float = Field(default=0.2, gt=0)
    #: Longest sleep of the deadlines worker (it also wakes for the soonest deadline, and
    #: when a new one is set).
    deadline_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    #: Shifts the service's own clock (what it calls "now" for deadlines, notice and
    #: windows) by this many seconds: a rehearsal on a staging copy ("what happens on
    #: Monday"), as Stripe's test clocks do; system tests use it to let sessions take place.
    #: Logged at start when set. Never set in production.
    clock_offset_seconds: float = 0.0
    #: Fault injection for the crash tests: exit hard right after the broker acked a
    #: batch and before the position is recorded. Never set in production.
    relay_crash_after_publish: bool = False
    #: Consumer group tuning; the embedded broker is slow to assign partitions.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1500
    #: How long a fetch may wait for data. The embedded broker holds a fetch for the whole
    #: wait even when data arrives, so this bounds end-to-end latency there.
    kafka_fetch_max_wait_ms: int = 100
    #: How often consumers refresh the cluster's metadata. A topic that gains partitions
    #: (or is created after a consumer subscribed, while a broker was still laying out its
    #: partitions) is only consumed whole once the group sees it: seconds, not the client's
    #: default five minutes, during which the new partitions' events would wait.
    kafka_metadata_max_age_ms: int = Field(default=5000, ge=500)
    subscriber_max_attempts: int = Field(default=3, ge=1)
    #: Most messages per batch; 0 = whatever one fetch returned.
    subscriber_batch_size: int = Field(default=0, ge=0)

    @field_validator("database_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError("must be letters, digits and underscores")
        return value

    @model_validator(mode="after")
    def _kafka_security_can_work(self) -> ServiceSettings:
        from servicekit.kafka import security_problems

        problems = security_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def now(self) -> datetime:
        """The service's "now": UTC, shifted by ``clock_offset_seconds``."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

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
