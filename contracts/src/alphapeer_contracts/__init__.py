"""Alpha Peer's integration events: the only thing services share about each other.

Every module here but the machinery is one service's events, and a new service's
contracts are its own module, with nothing to list. Importing the package is cheap (the
vocabulary is plain Python, importable by a framework-free domain); whatever needs every
event type (parsing an incoming event, exporting schemas) calls ``load_all()``, and the
names below load them on first use."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

#: Modules that are machinery, not a service's events.
_MACHINERY = {"base", "registry", "schemas", "catalogue", "vocabulary", "asyncapi"}
SERVICES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _MACHINERY)
_REGISTRY_NAMES = {"EVENT_TYPES", "UnknownEventType", "parse", "topic_for"}


def load_all() -> None:
    """Imports every service's contracts, so every event type is registered."""
    for name in SERVICES:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        load_all()
        return getattr(importlib.import_module(f"{__name__}.registry"), name)
    if name == "IntegrationEvent":
        return importlib.import_module(f"{__name__}.base").IntegrationEvent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EVENT_TYPES", "SERVICES", "IntegrationEvent", "UnknownEventType", "load_all", "parse", "topic_for"]
