"""The base of every integration event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alphapeer_contracts.vocabulary import CURRENCY_PATTERN


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


#: Personal text sealed under its subject's key (crypto-shredding across the bus): "v1." then
#: base64url of nonce + AES-256-GCM ciphertext, the subject id as associated data. The key is
#: on ``<producer>.keys`` (wrapped); once the subject is erased, nobody can open it again.
SealedText = Annotated[str, Field(pattern=r"^v1\.[A-Za-z0-9_-]+={0,2}$", description=(
    "Personal text sealed under the subject's key from the producer's `<service>.keys` topic; "
    "unreadable for good once the subject is erased."))]


#: A currency: ISO 4217 for money ("EUR"; amounts in minor units), or an institution's own
#: unit (institution credits are ``vocabulary.INSTITUTION_CREDITS``).
CurrencyCode = Annotated[str, Field(pattern=CURRENCY_PATTERN)]
