"""Words every service and every contract uses: roles and skill levels. Defined once, here,
because they cross service boundaries (a role granted in identity is checked by every
gateway; a level chosen in catalog is filtered on in matching)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["student", "tutor", "staff", "creator", "funder", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
#: Roles anyone may see on a public profile; staff and admin membership is not advertised.
PUBLIC_ROLES: tuple[Role, ...] = ("student", "tutor", "creator", "funder")
#: Roles that moderate: they see private data and act on other people's records.
STAFF_ROLES: tuple[Role, ...] = ("staff", "admin")

Level = Literal["introductory", "intermediate", "advanced", "exam_prep"]
LEVELS: tuple[Level, ...] = get_args(Level)

Mode = Literal["online", "in_person"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: A currency code: ISO 4217 for money ("EUR", amounts in minor units), or an institution's own unit.
CURRENCY_PATTERN = r"^[A-Z]{3}$"
#: Institution credits: a currency like any other to the ledger ("X" codes are ISO 4217's
#: user-assigned range, so it can never clash with money).
INSTITUTION_CREDITS = "XAP"
