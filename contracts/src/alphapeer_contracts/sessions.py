"""Events the sessions service will publish on ``sessions.events`` (it is not built yet).

Booking already reacts to them, so a session's outcome completes a booking the day the
sessions service arrives; until then staff record the same outcome through booking's API,
and tests publish these events to the topic themselves."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from alphapeer_contracts.base import IntegrationEvent


class _SessionEvent(IntegrationEvent):
    service: ClassVar[str] = "sessions"
    key_field: ClassVar[str] = "booking_id"


class SessionCompleted(_SessionEvent):
    """An occurrence of a booking took place: who attended, from when to when."""

    consumers = ("booking",)
    booking_id: UUID
    occurrence: int = Field(ge=0)
    started_at: datetime
    ended_at: datetime


class SessionNoShow(_SessionEvent):
    """Nobody, or only one side, joined an occurrence before it ended."""

    consumers = ("booking",)
    booking_id: UUID
    occurrence: int = Field(ge=0)
    absent: Literal["tutor", "student", "both"]
