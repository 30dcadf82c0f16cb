"""Matching's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    service_name: str = "matching"
    http_port: int = 8003
    #: How stale the in-memory directory may be while writes keep arriving (seconds).
    matching_refresh_interval: float = Field(default=0.25, gt=0)
    #: Ranking weights (tunable without a deploy): text relevance, price fit, distance.
    matching_weight_text: float = 1.0
    matching_weight_price: float = 0.2
    matching_weight_distance: float = 0.3
