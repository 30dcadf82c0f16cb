"""Ledger's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from alphapeer_contracts.vocabulary import CURRENCY_PATTERN, INSTITUTION_CREDITS
from servicekit.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    service_name: str = "ledger"
    http_port: int = 8005
    #: The saga's hops (booking → ledger → booking) each wait up to this for a fetch on a
    #: broker that holds fetches (bench/booking_saga.py measures 5, 10 and 100): chosen, not
    #: the kit's 100 ms default. 10 ms: a hop ~7-11 ms. At 5 ms a hop is ~2 ms shorter, but the
    #: broker's idle fetches took ~40 % of a core, and on two cores the saga was no faster.
    kafka_fetch_max_wait_ms: int = 10
    #: The currencies the ledger keeps accounts in, comma-separated (institution credits by
    #: default). A hold or a grant in any other is refused.
    ledger_currencies: str = INSTITUTION_CREDITS
    #: The platform's fee on what a settlement releases to the tutor, in basis points
    #: (1000 = 10 %), rounded down (in the tutor's favour).
    ledger_platform_fee_bp: int = Field(default=1000, ge=0, le=10_000)
    #: Credits granted to every new user at registration (0: none), into their wallet in
    #: ``ledger_signup_currency``, which opens at registration either way.
    ledger_signup_bonus: int = Field(default=0, ge=0, le=1_000_000_000)
    ledger_signup_currency: str = INSTITUTION_CREDITS

    @field_validator("ledger_currencies")
    @classmethod
    def _codes(cls, value: str) -> str:
        codes = [c.strip() for c in value.split(",") if c.strip()]
        if not codes or any(not re.fullmatch(CURRENCY_PATTERN, c) for c in codes):
            raise ValueError("must be currency codes of three capital letters, comma-separated (e.g. XAP,EUR)")
        return ",".join(codes)

    @model_validator(mode="after")
    def _signup_currency_is_kept(self) -> LedgerSettings:
        if self.ledger_signup_currency not in self.currency_set:
            raise ValueError("ALPHAPEER_LEDGER_SIGNUP_CURRENCY must be one of ALPHAPEER_LEDGER_CURRENCIES")
        return self

    @property
    def currency_set(self) -> frozenset[str]:
        return frozenset(self.ledger_currencies.split(","))
