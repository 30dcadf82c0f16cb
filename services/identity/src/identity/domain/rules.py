"""Value rules shared by the aggregates; each raises ValidationError naming the field."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from identity.domain.errors import ValidationError

ROLES = ("student", "tutor", "staff", "creator", "funder", "admin")
SUSPENSION_REASONS = ("conduct", "safety", "fraud", "policy", "other")
BACKGROUND_STATUSES = ("not_started", "pending", "clear", "consider", "failed")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_ZONES = frozenset(available_timezones())


def email(value: str) -> str:
    normalised = value.strip().lower()
    if len(normalised) > 254 or not _EMAIL.match(normalised):
        raise ValidationError("email", "is not a valid email address")
    return normalised


def password(value: str, field: str = "password") -> str:
    if len(value) < 10:
        raise ValidationError(field, "must be at least 10 characters")
    if len(value) > 256:
        raise ValidationError(field, "must be at most 256 characters")
    return value


def display_name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not 1 <= len(cleaned) <= 80:
        raise ValidationError("display_name", "must be 1 to 80 characters")
    return cleaned


def headline(value: str | None) -> str | None:
    if value is not None and len(value) > 140:
        raise ValidationError("headline", "must be at most 140 characters")
    return value or None


def avatar_url(value: str | None) -> str | None:
    if value and not value.startswith(("https://", "http://")):
        raise ValidationError("avatar_url", "must be an http(s) URL")
    return value or None


def languages(values: list[str] | None) -> list[str]:
    out = []
    for i, code in enumerate(values or []):
        if not _LANG.match(code):
            raise ValidationError(f"languages.{i}", f"{code!r} is not a language tag like 'en' or 'pt-BR'")
        if code not in out:
            out.append(code)
    return out


def time_zone(value: str) -> str:
    if value not in _ZONES:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError("time_zone", f"{value!r} is not an IANA time zone") from None
    return value


def role(value: str) -> str:
    if value not in ROLES:
        raise ValidationError("role", f"must be one of {', '.join(ROLES)}")
    return value


def non_empty_list(field: str, values: list[str], max_len: int = 120) -> list[str]:
    cleaned = []
    for i, v in enumerate(values):
        v = " ".join(str(v).split())
        if not v or len(v) > max_len:
            raise ValidationError(f"{field}.{i}", f"must be 1 to {max_len} characters")
        if v not in cleaned:
            cleaned.append(v)
    if not cleaned:
        raise ValidationError(field, "must name at least one")
    return cleaned


def choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(allowed)}")
    return value
