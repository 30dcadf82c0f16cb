"""Domain events → public contracts (``identity.events``). Anything not listed here —
passwords, sessions, verification tokens, private-profile edits, email index — is internal
and never leaves the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alphapeer_contracts import identity as contract
from alphapeer_contracts.base import IntegrationEvent
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import User


def _registered(e: Any) -> IntegrationEvent:
    return contract.UserRegistered(user_id=e.originator_id, display_name=e.display_name, roles=e.roles,
                                   referral=contract.Referral(**e.referral) if e.referral else None,
                                   occurred_at=e.timestamp)


def _submitted(e: Any) -> IntegrationEvent:
    return contract.TutorApplicationSubmitted(application_id=e.originator_id, user_id=e.user_id,
                                              subjects=e.subjects, levels=e.levels,
                                              document_count=e.document_count, occurred_at=e.timestamp)


_TRANSLATORS: dict[type, Callable[[Any], IntegrationEvent]] = {
    User.Registered: _registered,
    User.EmailVerified: lambda e: contract.EmailVerified(user_id=e.originator_id, occurred_at=e.timestamp),
    User.RoleGranted: lambda e: contract.RoleGranted(user_id=e.originator_id, role=e.role, granted_by=e.by,
                                                     occurred_at=e.timestamp),
    User.RoleRevoked: lambda e: contract.RoleRevoked(user_id=e.originator_id, role=e.role, revoked_by=e.by,
                                                     occurred_at=e.timestamp),
    User.PublicProfileUpdated: lambda e: contract.PublicProfileUpdated(
        user_id=e.originator_id, display_name=e.display_name, headline=e.headline, avatar_url=e.avatar_url,
        languages=e.languages, time_zone=e.time_zone, occurred_at=e.timestamp),
    User.BackgroundCheckUpdated: lambda e: contract.BackgroundCheckUpdated(
        user_id=e.originator_id, status=e.status, provider=e.provider, occurred_at=e.timestamp),
    User.Suspended: lambda e: contract.UserSuspended(user_id=e.originator_id, suspended_by=e.by,
                                                     reason_code=e.reason_code, occurred_at=e.timestamp),
    User.Reinstated: lambda e: contract.UserReinstated(user_id=e.originator_id, reinstated_by=e.by,
                                                       occurred_at=e.timestamp),
    User.Erased: lambda e: contract.UserErased(user_id=e.originator_id, occurred_at=e.timestamp),
    TutorApplication.Submitted: _submitted,
    TutorApplication.Approved: lambda e: contract.TutorApproved(
        application_id=e.originator_id, user_id=e.user_id, subjects=e.subjects, levels=e.levels,
        approved_by=e.reviewer_id, occurred_at=e.timestamp),
    TutorApplication.Rejected: lambda e: contract.TutorRejected(
        application_id=e.originator_id, user_id=e.user_id, rejected_by=e.reviewer_id, occurred_at=e.timestamp),
}


def to_contract(domain_event: Any) -> IntegrationEvent | None:
    translate = _TRANSLATORS.get(type(domain_event))
    return translate(domain_event) if translate else None
