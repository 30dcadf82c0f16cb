"""Request bodies of matching's HTTP API, with every constraint JSON Schema can say
declared (the search's query parameters are declared on its route, with the same patterns).
What it cannot say — a weekly window must end after it starts, a time zone must be one the
server's tz database has — is refused with a 422 naming the field, and said in the
operation's description."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StrictFloat

from alphapeer_contracts.vocabulary import Level, Mode
from matching.domain.availability import WEEKS_AHEAD
from matching.domain.query import DEFAULT_ZONE
from servicekit.bodies import Body, Omittable, WholeNumber, explained, paragraphs

_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
#: A point as ``lat,lon`` in decimal degrees: latitude within ±90, longitude within ±180.
NEAR_PATTERN = explained(rf"^{_LAT},{_LON}$", "must be 'lat,lon' in decimal degrees within ±90 and ±180, "
                                                "e.g. 51.5246,-0.134")
NEAR_DESCRIPTION = "A point as `lat,lon` in decimal degrees, e.g. `51.5246,-0.134`"

_DAY = (r"(?:[Mm]on(?:day)?|[Tt]ue(?:sday)?|[Ww]ed(?:nesday)?|[Tt]hu(?:rsday)?|[Ff]ri(?:day)?|[Ss]at(?:urday)?"
        r"|[Ss]un(?:day)?)")
_TIME = r"(?:(?:[01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)"
#: A weekly window: a day and a span of hours, e.g. ``tue 18:00-20:00`` (it must end after it starts).
WINDOW_PATTERN = explained(rf"^{_DAY} {_TIME}-{_TIME}$", "must look like 'tue 18:00-20:00'")
WINDOW_DESCRIPTION = ("A weekly window, e.g. `tue 18:00-20:00`, in `time_zone`; it must end after it starts: "
                      "split a window that crosses midnight")
#: What a weekly window asks of a tutor's availability (README, "Availability").
WINDOW_SEMANTICS = (f"Each window is looked at on its next {WEEKS_AHEAD} occurrences that have not started (the "
                    f"next {WEEKS_AHEAD} dates with that weekday in `time_zone`), compared in real time with the "
                    "tutor's published availability in the tutor's own zone (their exceptions for those dates "
                    "included), counting only what can be booked: after the tutor's minimum notice and within "
                    "their horizon. Daylight-saving changes on either side are applied on the dates they happen.")
#: An IANA time zone name as the tz database spells it (the server must also have it).
ZONE_PATTERN = explained(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$",
                         "must be an IANA time zone name such as Europe/London")
ZONE_DESCRIPTION = ("The IANA time zone the weekly windows are in, e.g. `America/New_York` (in a browser: "
                    f"`Intl.DateTimeFormat().resolvedOptions().timeZone`); `{DEFAULT_ZONE}` when left out. It must "
                    "be a zone of the server's tz database (otherwise a 422 naming it).")

Near = Annotated[str, Field(max_length=60, pattern=NEAR_PATTERN, description=NEAR_DESCRIPTION)]
WeeklyWindow = Annotated[str, Field(max_length=40, pattern=WINDOW_PATTERN, description=WINDOW_DESCRIPTION)]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, pattern=ZONE_PATTERN, description=ZONE_DESCRIPTION,
                                examples=["Europe/London"])]


class LearningNeed(Body):
    """What the learner wants help with; everything but the goal is optional. ``within_km``
    needs ``near``."""

    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"within_km": ["near"]}})

    goal: str = paragraphs(500, min_length=3, description="In the learner's own words (nothing to trim)",
                           examples=["I keep getting stuck on quadratic equations before Friday's algebra exam"])
    subject: str | None = Field(default=None, max_length=200, description="subject id, e.g. mathematics.algebra-i")
    level: Level | None = None
    mode: Mode | None = None
    budget_credits: Annotated[WholeNumber, Field(ge=0, le=10_000)] | None = Field(
        default=None, description="most credits per hour")
    near: Omittable[Near] = None
    within_km: Omittable[Annotated[StrictFloat, Field(gt=0, le=500)]] = Field(
        default=None, description="How far from `near` (the tutor's travel radius counts)")
    language: str | None = Field(default=None, max_length=20)
    verified_only: StrictBool = False
    preferred_times: list[WeeklyWindow] = Field(
        default=[], max_length=21, examples=[["tue 18:00-20:00", "sat 10:00-12:00"]],
        description="When the learner would like sessions: the share of these minutes a tutor can be booked for "
                    "is the `availability` component. " + WINDOW_SEMANTICS)
    time_zone: TimeZone = DEFAULT_ZONE
    limit: WholeNumber = Field(default=10, ge=1, le=50)
