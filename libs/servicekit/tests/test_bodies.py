"""servicekit.bodies: what a body accepts is what its schema says — the patterns mean the same
to pydantic (Rust regex) and a JSON Schema validator (jsonschema_rs, as schemathesis uses),
Omittable fields have no null, bounds on WholeNumber reach the document, and timestamps and
UUIDs are exactly the formats' strings."""

from __future__ import annotations

from typing import Annotated, Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from pydantic import Field, TypeAdapter, ValidationError

from servicekit import openapi
from servicekit.bodies import (
    LINE_PATTERN,
    PARAGRAPHS_PATTERN,
    TEXT_PATTERN,
    Body,
    Omittable,
    Timestamp,
    Uuid,
    WholeNumber,
)

SAMPLES = ["", "a", " a", "a ", "a b", "a\nb", "a\n", "\u0085", "a\u0085", "\ufeff", "a\ufeffb", "x\u00a0",
           "a\u2028b", "a\tb", "a\r\nb", "\x7f", "a\x9fb", "😀", "é", " "]


@pytest.mark.parametrize("pattern", [TEXT_PATTERN, LINE_PATTERN, PARAGRAPHS_PATTERN])
def test_pydantic_and_json_schema_agree_on_every_pattern(pattern: str) -> None:
    ours = TypeAdapter(Annotated[str, Field(pattern=pattern)])
    theirs = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})

    def accepted(value: str) -> bool:
        try:
            ours.validate_python(value)
        except ValidationError:
            return False
        return True

    assert [accepted(s) for s in SAMPLES] == [theirs.is_valid(s) for s in SAMPLES]


def test_lines_and_paragraphs() -> None:
    line = jsonschema_rs.validator_for({"type": "string", "pattern": LINE_PATTERN})
    assert line.is_valid("Mechanics, gently") and not line.is_valid(" padded") and not line.is_valid("two\nlines")
    free = jsonschema_rs.validator_for({"type": "string", "pattern": PARAGRAPHS_PATTERN})
    assert free.is_valid("") and free.is_valid("One.\n\nTwo.") and not free.is_valid("trailing\n")


class Example(Body):
    count: Omittable[Annotated[WholeNumber, Field(ge=1, le=9)]] = None
    at: Timestamp | None = None
    id: Uuid | None = None


def test_omittable_whole_numbers_have_their_bounds_and_no_null_in_the_document() -> None:
    app = FastAPI()

    @app.post("/x")
    def x(body: Example) -> None: ...

    document = openapi.complete(app.openapi())
    count = document["components"]["schemas"]["Example"]["properties"]["count"]
    assert count == {"type": "integer", "minimum": 1, "maximum": 9, "title": "Count"}


@pytest.mark.parametrize(("body", "ok"), [
    ({"count": 3.0}, True), ({"count": 3.5}, False), ({"count": "3"}, False), ({"count": True}, False),
    ({"count": None}, False), ({"count": 10}, False), ({}, True),
    ({"at": "2030-01-31T09:00:00Z"}, True), ({"at": "2030-01-31T09:00Z"}, False), ({"at": 1893456000}, False),
    ({"at": "2030-01-31T09:00:00"}, False),
    ({"id": "3f0c5a52-9d2e-4b6e-8a43-5b6f0e1d2c11"}, True), ({"id": "3f0c5a529d2e4b6e8a435b6f0e1d2c11"}, False),
    ({"other": 1}, False),
])
def test_what_a_body_accepts(body: dict[str, Any], ok: bool) -> None:
    try:
        Example.model_validate(body)
    except ValidationError:
        assert not ok
    else:
        assert ok
