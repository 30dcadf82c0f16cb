"""Every known event type by its CloudEvents type."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alphapeer_contracts.base import IntegrationEvent

EVENT_TYPES: dict[str, type[IntegrationEvent]] = {}


class UnknownEventType(KeyError):
    """A ce_type no contract here describes (e.g. from a newer producer)."""


def register(cls: type[IntegrationEvent]) -> None:
    existing = EVENT_TYPES.get(cls.ce_type())
    if existing is not None and existing is not cls:
        raise ValueError(f"{cls.ce_type()} registered twice")
    EVENT_TYPES[cls.ce_type()] = cls


def parse(ce_type: str, payload: bytes | str | dict[str, Any]) -> IntegrationEvent:
    cls = EVENT_TYPES.get(ce_type)
    if cls is None:
        from alphapeer_contracts import load_all

        load_all()  # a service's contracts not imported yet in this process
        cls = EVENT_TYPES.get(ce_type)
    if cls is None:
        raise UnknownEventType(ce_type)
    if isinstance(payload, dict):
        return cls.model_validate(payload)
    return cls.model_validate(json.loads(payload))


def topic_for(service: str) -> str:
    return f"{service}.events"
