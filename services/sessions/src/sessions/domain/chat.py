"""A session's chat: messages and files the participants pass each other, kept with the
session. Words are sealed under their writer's key (erasure unsays them); a file is kept
once by its digest. Any participant may report a message: it is flagged for staff, who
hide it or keep it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from servicekit.errors import Conflict, NotFound

_NS = UUID("8a1d5f0e-3c1b-4f7e-9a51-5e55105e0002")
#: A chat holds at most this many messages (the session's, not a forum).
MAX_MESSAGES = 2000


class Chat(Aggregate):
    @staticmethod
    def create_id(session_id: UUID) -> UUID:
        return uuid.uuid5(_NS, str(session_id))

    @classmethod
    def open(cls, session_id: UUID) -> Chat:
        return cls._create(cls.Opened, id=cls.create_id(session_id), session_id=session_id)  # type: ignore[attr-defined]

    @event("Opened")
    def __init__(self, session_id: UUID) -> None:
        self.session_id = session_id
        self.messages: dict[str, dict[str, Any]] = {}

    def post(self, message_id: UUID, writer: UUID, text: str | None, file: dict[str, Any] | None, at: datetime) -> None:
        if str(message_id) in self.messages:
            return  # the same request again (its id comes from the Idempotency-Key)
        if len(self.messages) >= MAX_MESSAGES:
            raise Conflict(f"this session's chat is full ({MAX_MESSAGES} messages)")
        self._posted(message_id, writer, text, file, at)

    @event("Posted")
    def _posted(self, message_id: UUID, writer: UUID, text: str | None, file: dict[str, Any] | None,
                at: datetime) -> None:
        self.messages[str(message_id)] = {"message_id": message_id, "writer": writer, "text": text, "file": file,
                                          "at": at, "reports": [], "status": "visible"}

    def message(self, message_id: UUID) -> dict[str, Any]:
        m = self.messages.get(str(message_id))
        if m is None:
            raise NotFound("no such message")
        return m

    def report(self, message_id: UUID, by: UUID, reason_code: str, at: datetime) -> bool:
        m = self.message(message_id)
        if any(r["by"] == by for r in m["reports"]):
            return False
        self._reported(message_id, by, reason_code, at)
        return True

    @event("Reported")
    def _reported(self, message_id: UUID, by: UUID, reason_code: str, at: datetime) -> None:
        m = self.messages[str(message_id)]
        m["reports"].append({"by": by, "reason_code": reason_code, "at": at})
        if m["status"] == "visible":
            m["status"] = "flagged"

    def review(self, message_id: UUID, staff_id: UUID, action: str, at: datetime) -> None:
        m = self.message(message_id)
        if m["status"] == "visible" and not m["reports"]:
            raise Conflict("nobody reported this message")
        self._reviewed(message_id, staff_id, action, at)

    @event("Reviewed")
    def _reviewed(self, message_id: UUID, staff_id: UUID, action: str, at: datetime) -> None:
        self.messages[str(message_id)]["status"] = "hidden" if action == "hide" else "kept"
