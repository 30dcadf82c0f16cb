"""What centres' use cases are asked to do, as values (http.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    #: An admin manages every centre; anyone else only the centres whose staff they are.
    admin: bool = False


@dataclass(frozen=True)
class NewCentre:
    name: str
    time_zone: str
    description: str = ""


@dataclass(frozen=True)
class Closure:
    day: date
    reason_code: str


@dataclass(frozen=True)
class NewLocation:
    name: str
    kind: str  # in_person | online
    where: str | None = None
