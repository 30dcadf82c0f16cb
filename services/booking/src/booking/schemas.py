"""Request bodies and query parameters of booking's HTTP API. Everything JSON Schema can say
is declared here — types, lengths, ranges, patterns, fields that go together (``if``/``then``)
— and the gateway enforces exactly that. The rules that need the stored state or the clock
(a slot that is free now, a listing that offers that length, a known time zone, a window
that ends after it starts) are the domain's, named in each operation's description; both
answer with the field at fault."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool

from alphapeer_contracts.vocabulary import Mode
from booking.domain.commands import Absent, CancelReason, DeclineReason, DisputeReason, Kind, Outcome
from servicekit.bodies import Body, Omittable, Timestamp, Uuid, WholeNumber, explained, line, paragraphs

CLOCK_PATTERN = explained(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
                          "must be a time of day HH:MM (24:00 only as an end)")
ZONE_PATTERN = explained(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$",
                         "must be an IANA time zone name such as Europe/Berlin")
CURRENCY_PATTERN = explained(r"^[A-Z]{3}$", "must be a currency code such as XAP (institution credits) or GBP")
CODE_PATTERN = explained(r"^[A-Za-z0-9][A-Za-z0-9-]{2,18}[A-Za-z0-9]$",
                         "must be a promotion code: 4 to 20 letters, digits and inner hyphens")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


#: A calendar date, exactly as ``format: date`` admits it.
Day = Annotated[date, BeforeValidator(_iso_date)]
ClockTime = Annotated[str, Field(pattern=CLOCK_PATTERN, examples=["09:00"])]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, pattern=ZONE_PATTERN, examples=["Europe/Berlin"],
                                    description="An IANA time zone name")]
Minutes = Annotated[WholeNumber, Field(ge=5, le=480, description="A session length the listing offers")]
BasisPoints = Annotated[WholeNumber, Field(ge=0, le=10000, description="1/100 of a percent: 10000 is everything")]
OccurrenceIndex = Annotated[WholeNumber, Field(ge=0, le=51)]

ZONE_RULE = "`time_zone` must be a time zone of the IANA database (422 `time_zone`)."
WINDOW_RULES = ("Besides the schema: each window must end after it starts, windows of one day may not overlap, a "
                "date may be listed once among `exceptions`, and " + ZONE_RULE + " Each refusal names the field "
                "(e.g. `weekly.2.end`).")


def _schema(**keywords: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra=keywords)


# -- availability ---------------------------------------------------------------------------------

class WeeklyWindowIn(Body):
    weekday: WholeNumber = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start: ClockTime
    end: ClockTime


class DayWindowIn(Body):
    start: ClockTime
    end: ClockTime


class ExceptionIn(Body):
    """A date (in the tutor's zone) that does not follow the weekly rules: ``windows``
    replace that day's; none: closed all day (a holiday, an exam week)."""

    date: Day
    windows: list[DayWindowIn] = Field(default_factory=list, max_length=10)


class AvailabilityIn(Body):
    """The whole of a tutor's availability, in the tutor's own time zone."""

    time_zone: TimeZoneName
    weekly: list[WeeklyWindowIn] = Field(max_length=50)
    exceptions: list[ExceptionIn] = Field(default_factory=list, max_length=200)
    buffer_minutes: WholeNumber = Field(default=0, ge=0, le=240, description="Kept free between sessions")
    min_notice_minutes: WholeNumber = Field(default=120, ge=0, le=20160)
    horizon_days: WholeNumber = Field(default=60, ge=1, le=365, description="How far ahead one may book")
    slot_step_minutes: WholeNumber = Field(default=30, ge=5, le=240, description="Slots start this often")
    instant_book: StrictBool = Field(default=False, description="Confirmed once the credits are held, without "
                                                                "the tutor's answer")
    group_capacity: WholeNumber = Field(default=1, ge=1, le=50, description="Seats in a group session")
    place: Omittable[Annotated[str, line(200)]] = Field(default=None, description="Where in-person sessions "
                                                                                 "happen (needed for them)")


# -- bookings ----------------------------------------------------------------------------------------

KIND_RULES = {"allOf": [
    {"if": {"required": ["kind"], "properties": {"kind": {"const": "package"}}},
     "then": {"properties": {"starts_at": {"minItems": 2}}},
     "else": {"properties": {"starts_at": {"maxItems": 1}}}},
    {"if": {"required": ["kind"], "properties": {"kind": {"const": "recurring"}}},
     "then": {"required": ["weeks"], "properties": {"weeks": {"minimum": 2}}},
     "else": {"properties": {"weeks": {"const": 1}}}},
]}

BOOKING_RULES = (
    "Besides the schema (answered 422 naming the field): `listing_id` must be a published listing of another "
    "person whose tutor has opened time; `minutes` a length the listing offers (a trial: the listing's trial "
    "length, once per learner and tutor); `mode` one it offers (in person: the tutor has named a place); "
    "`currency` one it is priced in (`XAP` for credits); each start on a whole minute, in the future, within the "
    "tutor's notice and horizon, one of the tutor's slots (`GET /v1/tutors/{tutor_id}/slots`), and no two "
    "sessions overlapping; `promotion_code` a running code of that listing that the learner has not used and "
    "that has redemptions left. A slot taken meanwhile (or the learner busy then) is a 409 naming the start; a "
    "suspended tutor or learner a 403.")


class BookingIn(Body):
    """A request for a tutor's time: one start (single, trial, group; recurring: the first
    of ``weeks`` weekly sessions at the same wall-clock time in the tutor's zone) or several
    (a package)."""

    model_config = _schema(**KIND_RULES)

    listing_id: Uuid
    kind: Kind = "single"
    minutes: Minutes
    starts_at: list[Timestamp] = Field(min_length=1, max_length=12)
    weeks: WholeNumber = Field(default=1, ge=1, le=12, description="For a recurring booking: how many weeks")
    mode: Mode = "online"
    currency: Annotated[str, Field(pattern=CURRENCY_PATTERN)] = "XAP"
    promotion_code: Omittable[Annotated[str, Field(pattern=CODE_PATTERN)]] = None
    note: Annotated[str, paragraphs(1000)] = Field(default="", description="A message to the tutor")


class DeclineIn(Body):
    reason_code: DeclineReason
    note: Annotated[str, paragraphs(1000)] = ""


class CancelIn(Body):
    """Why, as a code and in words (kept in booking, shown to the parties and staff)."""

    reason_code: CancelReason
    note: Annotated[str, paragraphs(1000, min_length=1)]
    occurrences: Omittable[Annotated[list[OccurrenceIndex], Field(min_length=1, max_length=52)]] = Field(
        default=None, description="Which sessions (default: every one still to come)")


class MoveIn(Body):
    starts_at: Timestamp


class OutcomeIn(Body):
    model_config = _schema(**{"if": {"properties": {"outcome": {"const": "no_show"}}},
                              "then": {"required": ["absent"]}})

    outcome: Outcome
    absent: Omittable[Absent] = None


class DisputeIn(Body):
    occurrence: OccurrenceIndex
    reason_code: DisputeReason
    statement: Annotated[str, paragraphs(4000, min_length=1)]
    evidence: list[Annotated[str, line(500)]] = Field(default_factory=list, max_length=10,
                                                      description="Files and records by reference (ids, URLs)")


class DecisionIn(Body):
    refund: BasisPoints
    note: Annotated[str, paragraphs(2000, min_length=1)]


CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,400}$"
