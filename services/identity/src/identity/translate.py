"""Domain events → public contracts (``identity.events``). Anything not listed here —
passwords, sessions, verification tokens, private-profile edits, email index — is internal
and never leaves the service. Names, headlines and avatar URLs travel sealed (v2 events);
their keys are on ``identity.keys``, and erasure destroys them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alphapeer_contracts import identity as contract
from alphapeer_contracts.base import IntegrationEvent
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import User
from servicekit.vault import is_sealed


def _sealed(*values: str | None) -> bool:
    """Stored since public text is sealed (v2 events); before, in the clear (v1)."""
    return all(v is None or is_sealed(v) for v in values)


def _registered(e: Any) -> IntegrationEvent:
    cls: Any = contract.UserRegisteredV2 if _sealed(e.display_name) else contract.UserRegistered
    return cls(user_id=e.originator_id, display_name=e.display_name, roles=e.roles,
               referral=contract.Referral(**e.referral) if e.referral else None, occurred_at=e.timestamp)


def _profile(e: Any) -> IntegrationEvent:
    sealed = _sealed(e.display_name, e.headline, e.avatar_url)
    cls: Any = contract.PublicProfileUpdatedV2 if sealed else contract.PublicProfileUpdated
    return cls(user_id=e.originator_id, display_name=e.display_name, headline=e.headline, avatar_url=e.avatar_url,
               languages=e.languages, time_zone=e.time_zone, occurred_at=e.timestamp)


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
    User.PublicProfileUpdated: _profile,
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
