"""Alpha Peer's integration events: the only thing services share about each other.

Every module here but the machinery is one service's events; importing the package
imports them all (so every event type is registered), and a new service's contracts are
its own module, with nothing to list."""

import importlib
import pkgutil

from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.registry import EVENT_TYPES, UnknownEventType, parse, topic_for

#: Modules that are machinery, not a service's events.
_MACHINERY = {"base", "registry", "schemas", "catalogue", "vocabulary"}
SERVICES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _MACHINERY)
for _name in SERVICES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["EVENT_TYPES", "SERVICES", "IntegrationEvent", "UnknownEventType", "parse", "topic_for"]
