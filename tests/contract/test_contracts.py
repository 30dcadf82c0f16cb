"""The contracts: committed schemas match the models, no breaking change slips in, and
no public event carries personal data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel, ValidationError

from alphapeer_contracts import EVENT_TYPES, UnknownEventType, parse
from alphapeer_contracts.identity import EmailVerified, UserRegistered
from alphapeer_contracts.schemas import (
    IncompatibleSchema,
    breaking_changes,
    export,
    path_for,
    render,
    schema_for,
)

ALL = sorted(EVENT_TYPES.values(), key=lambda c: c.ce_type())


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.ce_type())
def test_committed_schema_exists_and_is_compatible_with_the_model(cls: Any) -> None:
    path = path_for(cls)
    assert path.exists(), f"{cls.ce_type()} has no committed schema; run `make schemas`"
    committed = json.loads(path.read_text())
    assert breaking_changes(committed, schema_for(cls)) == []
    assert committed == schema_for(cls), f"{path.name} is stale (additive change?): run `make schemas`"


def test_every_identity_event_is_registered_and_named_by_version() -> None:
    names = {c.ce_type() for c in ALL if c.service == "identity"}
    assert {"alphapeer.identity.UserRegistered.v1", "alphapeer.identity.TutorApproved.v1",
            "alphapeer.identity.UserErased.v1", "alphapeer.identity.UserSuspended.v1"} <= names
    assert all(c.topic() == f"{c.service}.events" for c in ALL)


BASE = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string", "format": "uuid"},
        "role": {"enum": ["student", "tutor"], "type": "string"},
        "headline": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["user_id", "role"],
}


def changed(**edits: Any) -> dict[str, Any]:
    schema = json.loads(json.dumps(BASE))
    for key, value in edits.items():
        if value is None:
            schema["properties"].pop(key)
        else:
            schema["properties"][key] = value
    return schema


def test_removing_a_field_is_breaking() -> None:
    assert any("user_id: removed" in r for r in breaking_changes(BASE, changed(user_id=None)))


def test_changing_a_type_is_breaking() -> None:
    assert any("type changed" in r for r in breaking_changes(BASE, changed(user_id={"type": "integer"})))


def test_a_new_required_field_is_breaking() -> None:
    new = changed(campus={"type": "string"})
    new["required"] = [*BASE["required"], "campus"]
    assert breaking_changes(BASE, new) == ["campus: new required field"]


def test_making_an_optional_field_required_or_not_nullable_is_breaking() -> None:
    new = changed(headline={"type": "string"})
    new["required"] = [*BASE["required"], "headline"]
    reasons = breaking_changes(BASE, new)
    assert "headline: made required" in reasons and "headline: no longer nullable" in reasons


def test_removing_an_enum_value_is_breaking_and_adding_one_is_not() -> None:
    assert breaking_changes(BASE, changed(role={"enum": ["student"], "type": "string"}))
    assert breaking_changes(BASE, changed(role={"enum": ["student", "tutor", "staff"], "type": "string"})) == []


def test_an_added_optional_field_is_compatible() -> None:
    assert breaking_changes(BASE, changed(campus={"anyOf": [{"type": "string"}, {"type": "null"}]})) == []


def test_nested_models_are_compared_too() -> None:
    old = schema_for(UserRegistered)
    new = json.loads(json.dumps(old))
    new["$defs"]["Referral"]["properties"].pop("channel")
    assert any("referral.channel: removed" in r for r in breaking_changes(old, new))


def test_export_refuses_to_overwrite_with_an_incompatible_schema(tmp_path: Path) -> None:
    export(tmp_path)
    path = path_for(EmailVerified, tmp_path)
    committed = json.loads(path.read_text())
    committed["properties"]["extra_required"] = {"type": "string"}
    committed["required"].append("extra_required")  # the model lacks it: "removed"
    path.write_text(render(committed))
    with pytest.raises(IncompatibleSchema, match="extra_required: removed"):
        export(tmp_path)


LISTING = {
    "tutor_id": str(uuid4()), "title": "Algebra that clicks",
    "subjects": [{"subject_id": "math.algebra-1", "name": "Algebra I", "area": "Mathematics",
                  "level": "introductory", "topics": ["Quadratics"]}],
    "rate": {"credits_per_hour": 10, "amount_minor_per_hour": 2500, "currency": "GBP"},
    "session_minutes": [60], "modes": ["online", "in_person"],
    "place": {"campus": "Main", "lat": 51.5, "lon": -0.12, "travel_radius_km": 3},
    "languages": ["en"], "trial": {"minutes": 15, "free": True},
}


SEALED = "v1.bm9uY2Vub25jZWNpcGhlcnRleHQ="
LISTING_V2 = {**LISTING, "place": SEALED, "bio": SEALED, "qualifications": SEALED}


def sample(cls: Any) -> dict[str, Any]:
    """A valid body for any event type, built from its fields' types and constraints."""
    values: dict[str, Any] = {"occurred_at": datetime.now(UTC).isoformat()}
    if "listing" in cls.model_fields:
        values["listing"] = LISTING if cls.version == 1 else LISTING_V2
    if "modules" in cls.model_fields:
        values["modules"] = [{"title": "Linear equations", "material_count": 2, "has_quiz": True}]
        values["completion"] = {"min_quiz_score_pct": 70, "modules_required": 1}
    for name, f in cls.model_fields.items():
        if name not in values:
            values[name] = _value(f.annotation, f.metadata, name)
    return values


#: Values for string fields whose pattern a plain word cannot meet.
_PATTERNS = {"^v1": SEALED, "^[A-Z]{3}$": "XAP", "^(([01]": "09:00", "^[A-Z2-7]{4}(-": "ABCD-EFGH-JK23"}


def _value(ann: Any, metadata: list[Any], name: str) -> Any:
    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        extra = [m for a in args[1:] for m in (getattr(a, "metadata", None) or [a])]  # FieldInfo: its constraints
        return _value(args[0], [*metadata, *extra], name)
    if origin in (Union, UnionType):
        return _value(next(a for a in args if a is not type(None)), metadata, name)
    if origin is Literal:
        return args[0]
    if origin is list:
        if name == "languages":
            return ["en"]
        if name == "roles":
            return ["student"]
        return [_value(args[0], [], name)]
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return {n: _value(f.annotation, f.metadata, n) for n, f in ann.model_fields.items()}
    if ann is datetime:
        return datetime.now(UTC).isoformat()
    if ann is date:
        return date.today().isoformat()
    if ann is UUID:
        return str(uuid4())
    if ann is bool:
        return True
    if ann in (int, float):
        low = next((m.ge for m in metadata if getattr(m, "ge", None) is not None), 2)
        high = next((m.le for m in metadata if getattr(m, "le", None) is not None), None)
        return max(2, low) if high is None else min(max(2, low), high)
    pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), "") or ""
    for prefix, value in _PATTERNS.items():
        if pattern.startswith(prefix):
            return value
    if ann is str:
        return "Europe/London" if name == "time_zone" else "text"
    return "text"


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.ce_type())
def test_round_trip_through_json_and_the_registry(cls: Any) -> None:
    event = cls.model_validate(sample(cls))
    again = parse(cls.ce_type(), event.model_dump_json().encode())
    assert again == event and type(again) is cls
    assert event.key() == str(getattr(event, cls.key_field))


def test_personal_text_travels_sealed_from_v2_on() -> None:
    """The v2 events carry no readable name, headline, bio or place: only sealed text."""
    from alphapeer_contracts.catalog import ListingPublishedV2
    from alphapeer_contracts.identity import PublicProfileUpdatedV2, UserRegisteredV2

    for cls, fields in ((UserRegisteredV2, ["display_name"]),
                        (PublicProfileUpdatedV2, ["display_name", "headline", "avatar_url"])):
        for name in fields:
            with pytest.raises(ValidationError):
                cls.model_validate({**sample(cls), name: "Ada Lovelace"})
    with pytest.raises(ValidationError):
        ListingPublishedV2.model_validate({**sample(ListingPublishedV2), "listing": {**LISTING_V2, "bio": "I teach"}})


def test_unknown_type_and_naive_time_are_refused() -> None:
    with pytest.raises(UnknownEventType):
        parse("alphapeer.identity.Nope.v1", b"{}")
    with pytest.raises(ValidationError, match="time zone"):
        EmailVerified(user_id=uuid4(), occurred_at=datetime(2026, 1, 1))


def test_consumers_ignore_fields_they_do_not_know() -> None:
    payload = {"user_id": str(uuid4()), "occurred_at": datetime.now(UTC).isoformat(), "added_later": 1}
    assert isinstance(parse(EmailVerified.ce_type(), payload), EmailVerified)


PERSONAL = ("email", "password", "legal_name", "phone", "address", "document", "birth", "note", "reason")


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.ce_type())
def test_no_public_event_carries_personal_data(cls: Any) -> None:
    text = json.dumps(schema_for(cls)["properties"]).lower()
    props = set(schema_for(cls)["properties"]) | {
        p for d in schema_for(cls).get("$defs", {}).values() for p in d.get("properties", {})}
    allowed = {"reason_code", "document_count"}  # a code and a count, not the content
    offending = [p for p in props if any(word in p.lower() for word in PERSONAL) and p not in allowed]
    assert not offending, f"{cls.ce_type()} exposes {offending}"
    assert "@" not in text


def test_the_committed_asyncapi_document_is_current() -> None:
    """contracts/asyncapi.json is what the contracts generate (`make schemas` writes it)."""
    from alphapeer_contracts import asyncapi

    assert asyncapi.DOCUMENT.read_text() == asyncapi.render(), "contracts/asyncapi.json is stale: run `make schemas`"
    doc = json.loads(asyncapi.DOCUMENT.read_text())
    assert doc["asyncapi"].startswith("3.")
    messages = doc["components"]["messages"]
    assert {m["name"] for m in messages.values()} == {c.ce_type() for c in ALL}
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[1]]
            assert channel["address"] == f"{message['name'].split('.')[1]}.events"
            assert message["headers"]["properties"]["ce_type"] == {"const": message["name"]}
