"""The command values the application receives: what a caller asks for, typed, not yet
checked (the rules check and clean each value, naming the field at fault). The HTTP layer
builds them from its request bodies; tests build them directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any
from uuid import UUID


class Unset(Enum):
    """A field not given (it keeps its value), as opposed to None (it is cleared)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True)
class Registration:
    email: str
    password: str
    display_name: str
    time_zone: str = "UTC"
    languages: Sequence[str] = ()
    #: referrer_user_id, channel, campaign (not personal data).
    referral: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Changes:
    def given(self) -> dict[str, Any]:
        """The fields given (not ``UNSET``), by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not UNSET}


@dataclass(frozen=True)
class PublicProfileChange(_Changes):
    """None clears headline, avatar_url and languages; display_name and time_zone are required."""

    display_name: str | Unset | None = UNSET
    headline: str | Unset | None = UNSET
    avatar_url: str | Unset | None = UNSET
    languages: Sequence[str] | Unset | None = UNSET
    time_zone: str | Unset | None = UNSET


@dataclass(frozen=True)
class PrivateProfileChange(_Changes):
    """None or blank clears a field. date_of_birth is YYYY-MM-DD."""

    legal_name: str | Unset | None = UNSET
    phone: str | Unset | None = UNSET
    date_of_birth: str | Unset | None = UNSET
    notes: str | Unset | None = UNSET


@dataclass(frozen=True)
class TutorApplicationForm:
    subjects: Sequence[str]
    levels: Sequence[str]
    qualifications: str = ""
    statement: str = ""
    #: Documents the applicant uploaded before (``IdentityApplication.upload_document``).
    document_ids: Sequence[UUID] = ()
