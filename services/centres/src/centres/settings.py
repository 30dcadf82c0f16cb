"""Centres's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class CentresSettings(ServiceSettings):
    service_name: str = "centres"
    http_port: int = 8008
    #: Live views of queues (Server-Sent Events) one process keeps open; past it, 503.
    centres_max_live_views: int = Field(default=1000, ge=1, le=100_000)
