"""Request bodies of matching's HTTP API, with every constraint JSON Schema can say
declared (the search's query parameters are declared on its route, with the same patterns).
What it cannot say — a weekly window must end after it starts — is refused with a 422
naming the field, and said in the operation's description."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StrictFloat

from alphapeer_contracts.vocabulary import Level, Mode
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
WINDOW_DESCRIPTION = ("A weekly window, e.g. `tue 18:00-20:00` (institution time); it must end after it starts: "
                      "split a window that crosses midnight")

Near = Annotated[str, Field(max_length=60, pattern=NEAR_PATTERN, description=NEAR_DESCRIPTION)]
WeeklyWindow = Annotated[str, Field(max_length=40, pattern=WINDOW_PATTERN, description=WINDOW_DESCRIPTION)]


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
    preferred_times: list[WeeklyWindow] = Field(default=[], max_length=21,
                                                examples=[["tue 18:00-20:00", "sat 10:00-12:00"]])
    limit: WholeNumber = Field(default=10, ge=1, le=50)
