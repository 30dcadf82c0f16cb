"""The AsyncAPI 3.0 document of every topic: `python -m alphapeer_contracts.asyncapi`
writes ``contracts/asyncapi.json`` (``make schemas`` does too; a test checks it is current).

One channel per producing service (``<service>.events``), one message per event type: its
payload is the event's JSON Schema (the committed one), its headers the CloudEvents Kafka
binding in binary mode, its key the aggregate id named by the event's ``key_field``. An
analytics team or a frontend team reads the streams from this file without running
anything; any AsyncAPI tool renders or validates it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from alphapeer_contracts import load_all
from alphapeer_contracts.registry import EVENT_TYPES
from alphapeer_contracts.schemas import schema_for

DOCUMENT = Path(__file__).resolve().parents[2] / "asyncapi.json"

#: CloudEvents 1.0, Kafka protocol binding, binary content mode, as servicekit.envelope writes it.
CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_sequence"],
    "properties": {
        "ce_specversion": {"const": "1.0", "description": "CloudEvents specification version"},
        "ce_id": {"type": "string", "description": "Unique per event; the same stored event always has the same id"},
        "ce_type": {"type": "string", "description": "alphapeer.<service>.<Name>.v<N>"},
        "ce_source": {"type": "string", "description": "/alphapeer/<service>"},
        "ce_subject": {"type": "string", "description": "The aggregate id (also the record key)"},
        "ce_time": {"type": "string", "format": "date-time", "description": "When it happened (UTC)"},
        "ce_sequence": {"type": "string", "pattern": "^[0-9]+$",
                        "description": "The producer's notification id: rises with every event of the "
                                       "service; consumers track it to apply each event once"},
        "ce_correlationid": {"type": "string", "description": "Ties every message of one business flow"},
        "ce_causationid": {"type": "string", "description": "The request or message that caused this one"},
        "traceparent": {"type": "string", "description": "W3C trace context of the producing span"},
        "content-type": {"const": "application/json"},
    },
}


def document() -> dict[str, Any]:
    load_all()
    events = sorted(EVENT_TYPES.values(), key=lambda c: c.ce_type())
    services = sorted({cls.service for cls in events})
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, Any] = {"messages": {}, "schemas": {}}
    for service in services:
        mine = [cls for cls in events if cls.service == service]
        channel_id = f"{service}Events"
        channels[channel_id] = {
            "address": f"{service}.events",
            "description": f"Everything {service} tells the others, in commit order per key. Kept forever "
                           f"(retention -1): a new consumer replays it from the start.",
            "messages": {f"{cls.name}V{cls.version}": {
                "$ref": f"#/components/messages/{service}.{cls.name}.v{cls.version}"} for cls in mine},
            "bindings": {"kafka": {"topic": f"{service}.events", "bindingVersion": "0.5.0"}},
        }
        operations[f"publish{service.capitalize()}Events"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{service}'s outbox relay publishes its committed events",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{cls.name}V{cls.version}"} for cls in mine],
        }
        for cls in mine:
            schema_id = f"{service}.{cls.name}.v{cls.version}"
            payload = schema_for(cls)
            components["schemas"][schema_id] = payload
            consumers = ", ".join(cls.consumers) or "none yet"
            components["messages"][schema_id] = {
                "name": cls.ce_type(),
                "title": cls.name,
                "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else cls.name,
                "description": f"Consumers: {consumers}. Key: `{cls.key_field}`.",
                "contentType": "application/json",
                "headers": {**CLOUDEVENTS_HEADERS, "properties": {
                    **CLOUDEVENTS_HEADERS["properties"], "ce_type": {"const": cls.ce_type()},
                    "ce_source": {"const": f"/alphapeer/{service}"}}},
                "payload": {"$ref": f"#/components/schemas/{schema_id}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"the event's {cls.key_field}"},
                                       "bindingVersion": "0.5.0"}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Alpha Peer events",
            "version": "1.0.0",
            "description": "Every integration event on Kafka. A change is additive, or a new .vN type. "
                           "No event carries more personal data than a public profile.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
