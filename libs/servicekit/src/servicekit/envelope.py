"""The event envelope: CloudEvents 1.0 Kafka protocol binding, binary content mode.

Headers ``ce_*`` carry the attributes, the value is the event's JSON, the key is the
aggregate id. ``ce_sequence`` is the producer's notification id: the stable position that
subscribers track (never the Kafka offset, which restarts with the embedded broker)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid5

from alphapeer_contracts.base import IntegrationEvent

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
_NAMESPACE = UUID("0b8a4c52-4f0e-4d1a-9a3c-6f3f6c1e2a10")

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    sequence: int
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def headers(self) -> Headers:
        items = {
            "ce_specversion": SPECVERSION,
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_source": self.source,
            "ce_subject": self.subject,
            "ce_time": self.time.isoformat(),
            "ce_sequence": str(self.sequence),
            "content-type": CONTENT_TYPE,
            "ce_correlationid": self.correlation_id,
            "ce_causationid": self.causation_id,
            "traceparent": self.traceparent,
            **self.extra,
        }
        return [(k, v.encode()) for k, v in items.items() if v]


def event_id(originator_id: UUID | str, version: int) -> str:
    """Deterministic: the same stored event always publishes with the same ce_id."""
    return str(uuid5(_NAMESPACE, f"{originator_id}:{version}"))


def wrap(
    event: IntegrationEvent,
    *,
    source: str,
    sequence: int,
    ce_id: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) for one integration event."""
    env = Envelope(
        id=ce_id,
        type=event.ce_type(),
        source=source,
        subject=event.key(),
        time=event.occurred_at,
        sequence=sequence,
        correlation_id=correlation_id or ce_id,
        causation_id=causation_id,
        traceparent=traceparent,
    )
    return event.key().encode(), event.model_dump_json().encode(), env.headers()


class EnvelopeError(ValueError):
    """A message that is not a CloudEvent we can read (missing or malformed attribute)."""


def decode_headers(raw: Iterable[tuple[str, bytes | str | None]] | Mapping[str, str]) -> dict[str, str]:
    items = raw.items() if isinstance(raw, Mapping) else raw
    out: dict[str, str] = {}
    for k, v in items:
        if v is None:
            continue
        out[k] = v.decode() if isinstance(v, bytes | bytearray) else str(v)
    return out


def read(headers: Mapping[str, str]) -> Envelope:
    try:
        if headers["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"ce_specversion {headers['ce_specversion']!r} is not {SPECVERSION}")
        return Envelope(
            id=headers["ce_id"],
            type=headers["ce_type"],
            source=headers["ce_source"],
            subject=headers.get("ce_subject", ""),
            time=datetime.fromisoformat(headers["ce_time"]),
            sequence=int(headers["ce_sequence"]),
            correlation_id=headers.get("ce_correlationid"),
            causation_id=headers.get("ce_causationid"),
            traceparent=headers.get("traceparent"),
        )
    except KeyError as exc:
        raise EnvelopeError(f"missing CloudEvents header {exc.args[0]}") from exc
    except ValueError as exc:
        if isinstance(exc, EnvelopeError):
            raise
        raise EnvelopeError(f"malformed CloudEvents header: {exc}") from exc
