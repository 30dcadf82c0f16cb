"""Centres's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pydantic import Field

from centres.domain.standing import Escalation
from servicekit.settings import ServiceSettings


class CentresSettings(ServiceSettings):
    service_name: str = "centres"
    http_port: int = 8008
    #: Live views of queues (Server-Sent Events) one process keeps open; past it, 503.
    centres_max_live_views: int = Field(default=1000, ge=1, le=100_000)
    #: No-shows at the drop-in queue within ``…_NO_SHOW_WINDOW_DAYS``: a warning after this many,
    #: a lockout from the queue for ``…_LOCKOUT_DAYS`` after that many (staff can lift it).
    centres_no_show_warn_after: int = Field(default=2, ge=1, le=100)
    centres_no_show_lockout_after: int = Field(default=3, ge=1, le=100)
    centres_lockout_days: int = Field(default=14, ge=1, le=365)
    centres_no_show_window_days: int = Field(default=90, ge=1, le=3650)

    @property
    def escalation(self) -> Escalation:
        return Escalation(warn_after=self.centres_no_show_warn_after,
                          lockout_after=self.centres_no_show_lockout_after,
                          lockout_days=self.centres_lockout_days, window_days=self.centres_no_show_window_days)
