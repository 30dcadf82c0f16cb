"""Building blocks for request bodies, so what a gateway accepts is exactly what its
OpenAPI document declares (a schema-driven fuzzer holds every gateway to that):

- ``Body``: unknown fields are refused, and the schema says so (``additionalProperties: false``);
- ``WholeNumber``: a JSON integer. JSON Schema counts ``3.0`` as an integer, so it is
  accepted (as 3); ``3.5``, ``"3"`` and ``true`` are not;
- ``Omittable[T]``: a field that may be left out but not sent as ``null`` (the schema has
  no null for it, so ``dependentRequired`` and ``required`` in ``anyOf`` mean what they say);
- ``Timestamp``, ``Uuid``: exactly what ``format: date-time`` (RFC 3339, with an offset) and
  ``format: uuid`` admit, as JSON strings (pydantic alone also takes numbers, naive times,
  minutes without seconds, UUIDs without hyphens);
- ``text()``: one line of text with something in it and no control characters;
  ``line()``: one line with nothing to trim (no white space at either end);
  ``paragraphs()``: free text that may span lines, with nothing to trim. Text is never
  trimmed or squashed by the server: what the pattern allows is stored as sent.

The patterns spell out their character classes instead of using ``\\s``: ECMA-262 (the
document's dialect), Python and Rust (pydantic) disagree on what ``\\s`` matches (U+0085,
U+FEFF), and a fuzzer finds exactly such disagreements.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

T = TypeVar("T")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[StrictInt, BeforeValidator(_integral)]


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, not null")
    return value


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # None stands for "left out": it is not a value the schema admits


if TYPE_CHECKING:
    Omittable = Annotated[T | None, ...]
else:
    #: ``field: Omittable[int] = None``: left out, the field is None; sent as null, it is refused.
    Omittable = Annotated[T, BeforeValidator(_not_null), Field(json_schema_extra=_no_default)]

_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                      r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2030-01-31T09:00:00Z")
    return value


def _uuid(value: Any) -> Any:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise ValueError("must be a UUID like 3f0c5a52-9d2e-4b6e-8a43-5b6f0e1d2c11")
    return value


#: A point in time: an RFC 3339 date-time with an offset (``format: date-time``).
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
#: A UUID in its hyphenated form (``format: uuid``).
Uuid = Annotated[UUID, BeforeValidator(_uuid)]

#: Control characters: C0, DEL and C1.
CONTROL = r"\x00-\x1f\x7f-\x9f"
#: White space that is not a control character (Unicode White_Space, and U+FEFF).
SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
#: A visible character (a class): not white space, not a control character.
VISIBLE = rf"[^{CONTROL}{SPACE}]"
_LINE = rf"[^{CONTROL}\u2028\u2029]"  # and no line or paragraph separator
_FREE = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # as _LINE, and tab, LF, CR

#: What the gateway says when a value does not match a pattern, rather than quoting the pattern.
PATTERN_REASONS: dict[str, str] = {}


def explained(pattern: str, reason: str) -> str:
    """``pattern``, with the reason a refusal gives when a value does not match it."""
    PATTERN_REASONS[pattern] = reason
    return pattern


#: No control characters, and at least one character that is not white space.
TEXT_PATTERN = explained(rf"^{_LINE}*{VISIBLE}{_LINE}*$",
                         "must be one line of text, not only white space, without control characters")
#: One line, no control characters, no white space at either end.
LINE_PATTERN = explained(rf"^{VISIBLE}(?:{_LINE}*{VISIBLE})?$",
                         "must be one line without control characters or white space at either end")
#: Free text: lines (tab, LF, CR allowed inside), no other control characters, nothing to
#: trim at either end; may be empty.
PARAGRAPHS_PATTERN = explained(rf"^(?:{VISIBLE}(?:{_FREE}*{VISIBLE})?)?$",
                               "must have no white space at either end and no control characters other "
                               "than tab and line breaks")


def text(max_length: int, **kw: Any) -> Any:
    """A ``Field`` for one line of text of 1 to ``max_length`` characters."""
    return Field(min_length=1, max_length=max_length, pattern=TEXT_PATTERN, **kw)


def line(max_length: int, min_length: int = 1, **kw: Any) -> Any:
    """A ``Field`` for one line of ``min_length`` to ``max_length`` characters, with nothing to trim."""
    return Field(min_length=min_length, max_length=max_length, pattern=LINE_PATTERN, **kw)


def paragraphs(max_length: int, **kw: Any) -> Any:
    """A ``Field`` for free text of up to ``max_length`` characters (lines allowed, nothing to trim)."""
    return Field(max_length=max_length, pattern=PARAGRAPHS_PATTERN, **kw)
