"""Value rules shared by catalog's aggregates; each names the field at fault."""

from __future__ import annotations

from typing import Any

from catalog.domain.errors import ValidationError


def text_field(field: str, value: Any, lo: int, hi: int) -> str:
    """Trimmed text of ``lo`` to ``hi`` characters (None counts as empty)."""
    text = (str(value) if value is not None else "").strip()
    if not lo <= len(text) <= hi:
        raise ValidationError(field, f"must be {lo} to {hi} characters")
    return text
