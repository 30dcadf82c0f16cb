"""Certificates, and what they are made from: members (when they joined, their name as
identity sealed it) and courses (who made them).

A certificate has a verification code anyone can check at the public endpoint; it is
issued once per holder and scope (a term's tutoring hours are issued again, as a new
certificate, only when more hours were taught since)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

_NS = UUID("5e9a7c1e-8f0b-4c39-9d55-0e9e7a7e0003")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_code() -> str:
    """Twelve characters of base32 in three groups: 60 bits, not guessable, easy to read out."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


class Certificate(Aggregate):
    @staticmethod
    def create_id(kind: str, holder_id: UUID, scope: str) -> UUID:
        return uuid.uuid5(_NS, f"certificate:{kind}:{holder_id}:{scope}")

    @classmethod
    def issue(cls, kind: str, holder_id: UUID, scope: str, details: dict[str, Any], at: datetime) -> Certificate:
        return cls._create(cls.Issued, id=cls.create_id(kind, holder_id, scope),  # type: ignore[attr-defined]
                           kind=kind, holder_id=holder_id, scope=scope, details=details, code=new_code(), at=at)

    @event("Issued")
    def __init__(self, kind: str, holder_id: UUID, scope: str, details: dict[str, Any], code: str,
                 at: datetime) -> None:
        self.kind, self.holder_id, self.scope = kind, holder_id, scope
        self.details = dict(details)
        self.code = code
        self.issued_at = at


class CodeIndex(Aggregate):
    """Finds a certificate by its code (the public endpoint's only key)."""

    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid.uuid5(_NS, f"code:{code}")

    @classmethod
    def point(cls, code: str, certificate_id: UUID) -> CodeIndex:
        return cls._create(cls.Pointed, id=cls.create_id(code), certificate_id=certificate_id)  # type: ignore[attr-defined]

    @event("Pointed")
    def __init__(self, certificate_id: UUID) -> None:
        self.certificate_id = certificate_id


class Member(Aggregate):
    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return uuid.uuid5(_NS, f"member:{user_id}")

    @classmethod
    def join(cls, user_id: UUID, at: datetime, sealed_name: str | None) -> Member:
        return cls._create(cls.Joined, id=cls.create_id(user_id), user_id=user_id,  # type: ignore[attr-defined]
                           at=at, sealed_name=sealed_name)

    @event("Joined")
    def __init__(self, user_id: UUID, at: datetime, sealed_name: str | None) -> None:
        self.user_id, self.joined_at, self.sealed_name = user_id, at, sealed_name

    @event("Renamed")
    def rename(self, sealed_name: str | None) -> None:
        self.sealed_name = sealed_name


class Course(Aggregate):
    @staticmethod
    def create_id(course_id: UUID) -> UUID:
        return uuid.uuid5(_NS, f"course:{course_id}")

    @classmethod
    def learn(cls, course_id: UUID, creator_id: UUID, title: str) -> Course:
        return cls._create(cls.Learned, id=cls.create_id(course_id), course_id=course_id,  # type: ignore[attr-defined]
                           creator_id=creator_id, title=title)

    @event("Learned")
    def __init__(self, course_id: UUID, creator_id: UUID, title: str) -> None:
        self.course_id, self.creator_id, self.title = course_id, creator_id, title
