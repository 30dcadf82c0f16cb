"""Value rules. Each function returns the value cleaned (normalised) or raises ``Invalid``
naming the field. Roles are the platform's shared vocabulary
(``alphapeer_contracts.vocabulary``), checked by the application.

The patterns below (``*_PATTERN``) are the rules themselves, written as regular expressions
that ECMA-262, Python and Rust read alike, so the HTTP schemas (``identity.schemas``) declare
exactly what these functions accept. Over HTTP, text arrives as it is stored (the schema
refuses white space at either end and runs of spaces); the trimming below is for other callers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal, get_args
from uuid import UUID

from identity.domain.errors import Invalid
from identity.domain.time_zones import TIME_ZONES

SuspensionReason = Literal["conduct", "safety", "fraud", "policy", "other"]
SUSPENSION_REASONS: tuple[str, ...] = get_args(SuspensionReason)
BackgroundStatus = Literal["not_started", "pending", "clear", "consider", "failed"]
BACKGROUND_STATUSES: tuple[str, ...] = get_args(BackgroundStatus)
PUBLIC_FIELDS = ("display_name", "headline", "avatar_url", "languages", "time_zone")
PRIVATE_FIELDS = ("legal_name", "phone", "date_of_birth", "notes")

PASSWORD_MIN, PASSWORD_MAX = 10, 256
EMAIL_MAX, EMAIL_LOCAL_MAX = 254, 64
LANGUAGE_MAX = 35
DISPLAY_NAME_MAX = 80
HEADLINE_MAX = 140
URL_MAX = 2048
MAX_LANGUAGES = 20
TEXT_MAX = 4000
NOTE_MAX = 2000
MAX_SUBJECTS, MAX_LEVELS, MAX_DOCUMENTS = 30, 10, 10

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: An email address: ``local@domain.tld`` in ASCII, any letter case (stored lower-cased). The
#: local part is dot-separated atoms (no quoting, no dot at either end, no two dots together);
#: the domain two or more labels of letters, digits and inner hyphens (at most 63 each), the
#: last one letters only. Nothing is trimmed: white space anywhere is refused.
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_DOMAIN_LABEL}\.)+[A-Za-z]{{2,63}}$"
#: ... whose local part has at most 64 characters: a second pattern, because Rust's regular
#: expressions (pydantic's) have no lookahead to say both in one.
EMAIL_LOCAL_PATTERN = r"^[^@]{1,64}@"
#: A BCP 47-like language tag: 'en', 'pt-BR', 'zh-Hant-TW' (any case; stored canonically cased).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$"
#: A phone number: digits, spaces, parentheses, dots and hyphens after an optional +, 5 to 39
#: characters after it, starting with a digit and not ending with a space.
PHONE_PATTERN = r"^\+?[0-9][0-9 ().-]{3,37}[0-9().-]$"
#: A referral channel or campaign, or a provider's name: a letter or digit, then letters, digits,
#: spaces and _ . : / + -, not ending with a space.
SLUG_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 _.:/+-]*[A-Za-z0-9_.:/+-])?$"
#: Not a control character (C0, DEL, C1) nor white space (as ``servicekit.bodies.VISIBLE``).
_URL_CHAR = r"[^\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
#: An absolute http(s) URL with a host (a name or address in ASCII, or an IPv6 address in
#: brackets), an optional port, then anything without white space or control characters.
#: No user name before the host.
URL_PATTERN = (rf"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?"
               rf"(?:[/?#]{_URL_CHAR}*)?$")

_EMAIL = re.compile(EMAIL_PATTERN)
_EMAIL_LOCAL = re.compile(EMAIL_LOCAL_PATTERN)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
_SLUG = re.compile(SLUG_PATTERN)
_URL = re.compile(URL_PATTERN)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ZONES = frozenset(TIME_ZONES)


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def email(value: str) -> str:
    """``EMAIL_PATTERN`` and ``EMAIL_LOCAL_PATTERN``, at most 254 characters, lower-cased.
    Taken as given: an address with white space around it is refused, not trimmed."""
    if not isinstance(value, str):
        raise Invalid("email", "must be text")
    if len(value) > EMAIL_MAX:
        raise Invalid("email", f"must be at most {EMAIL_MAX} characters")
    if not _EMAIL.fullmatch(value) or not _EMAIL_LOCAL.match(value):
        raise Invalid("email", "is not a valid email address")
    return value.lower()


def password(value: str, field: str = "password") -> str:
    if not isinstance(value, str):
        raise Invalid(field, "must be text")
    if len(value) < PASSWORD_MIN:
        raise Invalid(field, f"must be at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise Invalid(field, f"must be at most {PASSWORD_MAX} characters")
    return value


def display_name(value: str | None) -> str:
    if value is None:
        raise Invalid("display_name", "is required")
    cleaned = " ".join(str(value).split())
    if not 1 <= len(cleaned) <= DISPLAY_NAME_MAX:
        raise Invalid("display_name", f"must be 1 to {DISPLAY_NAME_MAX} characters")
    if _has_control(cleaned):
        raise Invalid("display_name", "must not contain control characters")
    return cleaned


def headline(value: str | None) -> str | None:
    """None or blank clears it."""
    if value is None:
        return None
    cleaned = " ".join(str(value).split())
    if len(cleaned) > HEADLINE_MAX:
        raise Invalid("headline", f"must be at most {HEADLINE_MAX} characters")
    return cleaned or None


def avatar_url(value: str | None) -> str | None:
    """An absolute http(s) URL with a host (``URL_PATTERN``); None or blank clears it."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if len(value) > URL_MAX:
        raise Invalid("avatar_url", f"must be at most {URL_MAX} characters")
    if not _URL.fullmatch(value):
        raise Invalid("avatar_url", "must be an http or https URL with a host, without white space")
    return value


def language(value: str, field: str) -> str:
    """A BCP-47-ish tag (``LANGUAGE_PATTERN``, at most 35 characters), canonically cased:
    'en', 'pt-BR', 'zh-Hant-TW'."""
    if not isinstance(value, str) or len(value) > LANGUAGE_MAX or not _LANGUAGE.fullmatch(value):
        raise Invalid(field, f"{value!r} is not a language tag like 'en' or 'pt-BR'")
    primary, *subtags = value.split("-")
    parts = [primary.lower()]
    for sub in subtags:
        if len(sub) == 2 and sub.isalpha():
            parts.append(sub.upper())  # region
        elif len(sub) == 4 and sub.isalpha():
            parts.append(sub.title())  # script
        else:
            parts.append(sub.lower())
    return "-".join(parts)


def languages(values: Sequence[str] | None) -> list[str]:
    """Distinct tags in the order given; None means none."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise Invalid("languages", "must be a list of language tags")
    if len(values) > MAX_LANGUAGES:
        raise Invalid("languages", f"must list at most {MAX_LANGUAGES}")
    out: list[str] = []
    for i, code in enumerate(values):
        tag = language(code, f"languages.{i}")
        if tag not in out:
            out.append(tag)
    return out


def time_zone(value: str | None) -> str:
    """A zone name of the IANA database (``time_zones.TIME_ZONES``), such as 'Europe/London'
    or 'UTC'."""
    if not value or not isinstance(value, str):
        raise Invalid("time_zone", "is required")
    if value not in _ZONES:
        raise Invalid("time_zone", f"{value!r} is not an IANA time zone")
    return str(value)


def choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise Invalid(field, f"must be one of {', '.join(allowed)}")
    return value


def short_text(field: str, value: Any, max_len: int, pattern: re.Pattern[str] | None = None) -> str | None:
    """Trimmed single-line text; None or blank means absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(field, "must be text")
    cleaned = value.strip()
    if not cleaned:
        return None
    if len(cleaned) > max_len:
        raise Invalid(field, f"must be at most {max_len} characters")
    if _has_control(cleaned) or (pattern is not None and not pattern.fullmatch(cleaned)):
        raise Invalid(field, "contains characters that are not allowed")
    return cleaned


def long_text(field: str, value: Any, max_len: int = TEXT_MAX, required: bool = False) -> str:
    """Free text (line breaks allowed), trimmed; '' when absent unless required."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(field, "must be text")
    cleaned = value.strip()
    if required and not cleaned:
        raise Invalid(field, "is required")
    if len(cleaned) > max_len:
        raise Invalid(field, f"must be at most {max_len} characters")
    return cleaned


def referral(value: dict[str, Any] | None) -> dict[str, str | None] | None:
    """Where a sign-up came from: ``referrer_user_id`` (a user id), ``channel``,
    ``campaign``. Not personal data; None when nothing is given."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise Invalid("referral", "must be an object")
    unknown = set(value) - {"referrer_user_id", "channel", "campaign"}
    if unknown:
        raise Invalid(f"referral.{sorted(unknown)[0]}", "is not a referral field")
    referrer = value.get("referrer_user_id")
    if referrer is not None and referrer != "":
        try:
            referrer = str(referrer if isinstance(referrer, UUID) else UUID(str(referrer)))
        except ValueError:
            raise Invalid("referral.referrer_user_id", "is not a user id") from None
    else:
        referrer = None
    cleaned = {
        "referrer_user_id": referrer,
        "channel": short_text("referral.channel", value.get("channel"), 64, _SLUG),
        "campaign": short_text("referral.campaign", value.get("campaign"), 128, _SLUG),
    }
    return cleaned if any(cleaned.values()) else None


def private_value(field: str, value: Any) -> str | None:
    """One private profile field, cleaned; None or blank clears it."""
    if field not in PRIVATE_FIELDS:
        raise Invalid(field, "is not a private profile field")
    if field == "legal_name":
        cleaned = short_text(field, value, 200)
        return " ".join(cleaned.split()) if cleaned else None
    if field == "phone":
        return short_text(field, value, 40, _PHONE)
    if field == "date_of_birth":
        text = short_text(field, value, 10)
        if text is None:
            return None
        try:
            born = date.fromisoformat(text)
        except ValueError:
            raise Invalid(field, "must be a date like 2004-05-17") from None
        if len(text) != 10 or born.year < 1900 or born > date.today():
            raise Invalid(field, "must be a real past date like 2004-05-17")
        return born.isoformat()
    notes = long_text(field, value, NOTE_MAX)
    return notes or None


def item_list(field: str, values: Any, max_items: int, max_len: int = 120) -> list[str]:
    """A non-empty list of distinct short strings, whitespace collapsed, order kept."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise Invalid(field, "must be a list")
    if len(values) > max_items:
        raise Invalid(field, f"must list at most {max_items}")
    cleaned: list[str] = []
    for i, v in enumerate(values):
        text = " ".join(v.split()) if isinstance(v, str) else ""
        if not 1 <= len(text) <= max_len or _has_control(text):
            raise Invalid(f"{field}.{i}", f"must be 1 to {max_len} characters of text")
        if text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        raise Invalid(field, "must name at least one")
    return cleaned


def documents(values: Any) -> list[dict[str, Any]]:
    """Metadata of uploaded files (the bytes live elsewhere): document_id, filename,
    content_type, size, sha256."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise Invalid("documents", "must be a list")
    if len(values) > MAX_DOCUMENTS:
        raise Invalid("documents", f"must list at most {MAX_DOCUMENTS}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, doc in enumerate(values):
        at = f"documents.{i}"
        if not isinstance(doc, dict):
            raise Invalid(at, "must be an object")
        try:
            document_id = str(UUID(str(doc.get("document_id"))))
        except ValueError:
            raise Invalid(f"{at}.document_id", "is not a document id") from None
        if document_id in seen:
            raise Invalid(f"{at}.document_id", "is listed twice")
        seen.add(document_id)
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Invalid(f"{at}.size", "must be a whole number of bytes")
        sha256 = str(doc.get("sha256") or "").lower()
        if not _SHA256.match(sha256):
            raise Invalid(f"{at}.sha256", "must be a SHA-256 hex digest")
        content_type = short_text(f"{at}.content_type", doc.get("content_type"), 100)
        if not content_type or "/" not in content_type:
            raise Invalid(f"{at}.content_type", "must be a media type like application/pdf")
        out.append({
            "document_id": document_id,
            "filename": short_text(f"{at}.filename", doc.get("filename"), 255) or "",
            "content_type": content_type,
            "size": size,
            "sha256": sha256,
        })
    return out


def provider(value: Any) -> str:
    cleaned = short_text("provider", value, 64, _SLUG)
    if not cleaned:
        raise Invalid("provider", "is required")
    return cleaned
