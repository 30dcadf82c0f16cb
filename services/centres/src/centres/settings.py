"""Centres's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class CentresSettings(ServiceSettings):
    service_name: str = "centres"
    http_port: int = 8008
