"""Request bodies of matching's HTTP API, with every constraint declared (the search's
query parameters are declared on its route)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from alphapeer_contracts.vocabulary import Level, Mode


class LearningNeed(BaseModel):
    """What the learner wants help with; everything but the goal is optional."""

    goal: str = Field(min_length=3, max_length=500, description="in the learner's own words",
                      examples=["I keep getting stuck on quadratic equations before Friday's algebra exam"])
    subject: str | None = Field(default=None, max_length=200, description="subject id, e.g. mathematics.algebra-i")
    level: Level | None = None
    mode: Mode | None = None
    budget_credits: int | None = Field(default=None, ge=0, le=10_000, description="most credits per hour")
    near: str | None = Field(default=None, max_length=60, description="lat,lon")
    within_km: float | None = Field(default=None, gt=0, le=500)
    language: str | None = Field(default=None, max_length=20)
    verified_only: bool = False
    preferred_times: list[str] = Field(default=[], max_length=21, description="weekly windows, e.g. 'tue 18:00-20:00'",
                                       examples=[["tue 18:00-20:00", "sat 10:00-12:00"]])
    limit: int = Field(default=10, ge=1, le=50)

    @field_validator("goal")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say what you want help with")
        return value.strip()
