"""Alpha Peer's integration events: the only thing services share about each other."""

from alphapeer_contracts import catalog, identity
from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.registry import EVENT_TYPES, UnknownEventType, parse, topic_for

__all__ = ["EVENT_TYPES", "IntegrationEvent", "UnknownEventType", "catalog", "identity", "parse", "topic_for"]
