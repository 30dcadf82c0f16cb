"""Matching's HTTP gateway: the directory search, recommendations for a learning need, and
peer recommendations. Parses the request, builds the query or need, calls the application."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from alphapeer_contracts.vocabulary import Level, Mode
from matching.answers import PeerRecommendations, Recommendations, SearchResult
from matching.application import MatchingApplication
from matching.domain.availability import UnknownZone, zone
from matching.domain.query import DEFAULT_ZONE, Need, Sort, Window, parse_window
from matching.domain.query import Query as Search
from matching.schemas import (
    NEAR_DESCRIPTION,
    NEAR_PATTERN,
    WINDOW_DESCRIPTION,
    WINDOW_PATTERN,
    WINDOW_SEMANTICS,
    ZONE_DESCRIPTION,
    ZONE_PATTERN,
    LearningNeed,
)
from servicekit.auth import Principal, current_principal
from servicekit.gateway import provided
from servicekit.problems import field_error

AnyUser = Annotated[Principal, Depends(current_principal)]


App = Annotated[MatchingApplication, Depends(provided("matching"))]
search = APIRouter(prefix="/v1", tags=["directory"])


def parse_near(near: str | None) -> tuple[float, float] | None:
    """``lat,lon`` as the schema's pattern admits it (checked before this is called)."""
    if near is None:
        return None
    lat, lon = near.split(",")
    return float(lat), float(lon)


def parse_windows(field: str, texts: list[str]) -> tuple[Window, ...]:
    """Windows as the schema's pattern admits them; one that does not end after it starts is
    refused naming it (``preferred_times.1``)."""
    windows = []
    for i, text in enumerate(texts):
        try:
            windows.append(parse_window(text))
        except ValueError as exc:
            raise field_error(f"{field}.{i}", str(exc)) from None
    return tuple(windows)


def check_zone(field: str, name: str) -> str:
    """A zone name as the schema's pattern admits it, which this server's tz database must have."""
    try:
        zone(name)
    except UnknownZone:
        raise field_error(field, "is not a time zone this server knows: an IANA name such as Europe/London "
                                 "(letter case counts)") from None
    return name


Point = Annotated[str | None, Query(max_length=60, pattern=NEAR_PATTERN, description=NEAR_DESCRIPTION)]
Windows = Annotated[list[Annotated[str, Field(max_length=40, pattern=WINDOW_PATTERN)]],
                    Query(max_length=21, description=f"Repeatable. {WINDOW_DESCRIPTION}. A tutor is found when "
                          "they can be booked for `session_minutes` without a break (or a whole occurrence, if "
                          f"shorter) inside one of the windows on one of its occurrences. {WINDOW_SEMANTICS}")]
TimeZone = Annotated[str, Query(min_length=1, max_length=64, pattern=ZONE_PATTERN, description=ZONE_DESCRIPTION)]
SEARCH_RULES = ("Besides the schema, each a 422 naming the parameter: `within_km` needs `near`; `min_credits` "
                "may not be above `max_credits`; `sort=distance` needs `near`; each `available` window must end "
                "after it starts; `time_zone` must be a zone of the server's tz database; `cursor` must be a "
                "`next_cursor` this API returned for a search in the same `sort` order.")


@search.get("/search", response_model=SearchResult, response_model_exclude_unset=True,
            summary="Search the tutor directory (any signed-in user)", description=SEARCH_RULES)
def directory_search(
    _: AnyUser,
    app: App,
    subject: Annotated[str | None, Query(max_length=200, description="subject id, e.g. mathematics.algebra-i")] = None,
    level: Level | None = None,
    q: Annotated[str | None, Query(max_length=300, description="free text over titles, bios, topics")] = None,
    min_credits: Annotated[int | None, Query(ge=0)] = None,
    max_credits: Annotated[int | None, Query(ge=0)] = None,
    mode: Mode | None = None,
    near: Point = None,
    within_km: Annotated[float | None, Query(gt=0, le=500)] = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
    style: Annotated[str | None, Query(max_length=40)] = None,
    communication: Annotated[str | None, Query(max_length=40)] = None,
    verified_only: bool = False,
    available: Windows = [],  # noqa: B006
    time_zone: TimeZone = DEFAULT_ZONE,
    session_minutes: Annotated[int, Query(ge=15, le=240, description="How long a session `available` asks "
                                                                        "room for")] = 60,
    sort: Sort = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    point = parse_near(near)
    if within_km is not None and point is None:
        raise field_error("within_km", "needs near=lat,lon")
    if min_credits is not None and max_credits is not None and min_credits > max_credits:
        raise field_error("min_credits", "is above max_credits")
    windows = parse_windows("available", available)
    return app.search(Search(
        subject=subject, level=level, q=q, min_credits=min_credits, max_credits=max_credits, mode=mode,
        near=point, within_km=within_km, language=language, style=style, communication=communication,
        verified_only=verified_only, available=windows, available_minutes=session_minutes,
        time_zone=check_zone("time_zone", time_zone), sort=sort, limit=limit, cursor=cursor))


@search.post("/recommendations", response_model=Recommendations, response_model_exclude_unset=True,
             summary="Tutors ranked for a learning need, each with why (any signed-in user)",
             description="Besides the schema, each a 422 naming the field: each `preferred_times` window must end "
                         "after it starts (e.g. `preferred_times.0`); `time_zone` must be a zone of the server's "
                         "tz database.")
def recommendations(need: LearningNeed, principal: AnyUser, app: App) -> dict[str, Any]:
    point = parse_near(need.near)
    if need.within_km is not None and point is None:  # the schema says so too (dependentRequired)
        raise field_error("within_km", "needs near=lat,lon")
    windows = parse_windows("preferred_times", need.preferred_times)
    return app.recommend(Need(
        goal=need.goal, student_id=str(principal.user_id), subject=need.subject, level=need.level, mode=need.mode,
        budget_credits=need.budget_credits, near=point, within_km=need.within_km, language=need.language,
        verified_only=need.verified_only, preferred=windows, time_zone=check_zone("time_zone", need.time_zone),
        limit=need.limit))


@search.get("/recommendations/peers", response_model=PeerRecommendations,
            summary="What students with choices like yours chose (signed-in user)")
def peer_recommendations(principal: AnyUser, app: App,
                         limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    return app.peers(str(principal.user_id), limit)


ROUTERS = [search]
