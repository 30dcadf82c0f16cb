"""The base of every integration event."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator


class IntegrationEvent(BaseModel):
    """A public fact one service tells the others. Additive changes only; a breaking
    change is a new ``.vN`` type."""

    # Consumers ignore fields they do not know, so producers may add optional ones.
    model_config = ConfigDict(extra="ignore", frozen=True)

    service: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int] = 1
    key_field: ClassVar[str]
    consumers: ClassVar[tuple[str, ...]] = ()

    occurred_at: datetime

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a time zone (UTC)")
        return value

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if getattr(cls, "service", None) and not cls.__name__.startswith("_"):
            cls.name = cls.__dict__.get("name", cls.__name__)
            from alphapeer_contracts.registry import register

            register(cls)

    @classmethod
    def ce_type(cls) -> str:
        return f"alphapeer.{cls.service}.{cls.name}.v{cls.version}"

    @classmethod
    def topic(cls) -> str:
        return f"{cls.service}.events"

    def key(self) -> str:
        return str(getattr(self, self.key_field))
