"""Reputation's settings: the common ``ALPHAPEER_*`` scheme plus the institution's rules
(``ALPHAPEER_REPUTATION_*``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from reputation.domain.rules import Rules
from servicekit.settings import ServiceSettings


class ReputationSettings(ServiceSettings):
    service_name: str = "reputation"
    http_port: int = 8007
    #: Every tutor starts at this rating, worth this many reviews (the Bayesian prior).
    reputation_prior_rating: float = Field(default=4.0, ge=1, le=5)
    reputation_prior_weight: float = Field(default=5.0, ge=0, le=1000)
    reputation_prior_reliability: float = Field(default=0.9, ge=0, le=1)
    reputation_reliability_weight: float = Field(default=5.0, ge=0, le=1000)
    #: A new tutor's first sessions are on probation: low ratings, no-shows or held reviews go to staff.
    reputation_probation_sessions: int = Field(default=5, ge=0, le=1000)
    reputation_probation_low_rating: float = Field(default=2.0, ge=1, le=5)
    reputation_edit_hours: int = Field(default=24, ge=0, le=24 * 30)
    reputation_new_account_days: int = Field(default=7, ge=0, le=365)
    reputation_burst_reviews: int = Field(default=3, ge=2, le=1000)
    #: The months terms start in, comma-separated ("1,5,9": January, May, September).
    reputation_term_months: str = "1,5,9"

    @field_validator("reputation_term_months")
    @classmethod
    def _months(cls, value: str) -> str:
        months = [int(m) for m in value.split(",") if m.strip()]
        if not months or any(not 1 <= m <= 12 for m in months) or len(set(months)) != len(months):
            raise ValueError("distinct months 1-12, comma-separated")
        return value

    @property
    def rules(self) -> Rules:
        return Rules(prior_rating=self.reputation_prior_rating, prior_weight=self.reputation_prior_weight,
                     prior_reliability=self.reputation_prior_reliability,
                     reliability_weight=self.reputation_reliability_weight,
                     probation_sessions=self.reputation_probation_sessions,
                     probation_low_rating=self.reputation_probation_low_rating,
                     edit_hours=self.reputation_edit_hours, new_account_days=self.reputation_new_account_days,
                     burst_reviews=self.reputation_burst_reviews,
                     term_months=tuple(sorted(int(m) for m in self.reputation_term_months.split(",") if m.strip())))
