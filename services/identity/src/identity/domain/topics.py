"""Old topics of moved classes.

A stored event names its class by topic (``module:qualname``), and an aggregate's first
event also names the aggregate's class. Until the domain was split into one module per
aggregate, every class lived in ``identity.domain.model``, and every event stored before
the split still says e.g. ``identity.domain.model:User.Registered``. Registering the old
name of each aggregate class is enough: ``eventsourcing`` resolves a topic through its
longest registered prefix, so the alias ``identity.domain.model:User`` also resolves
``identity.domain.model:User.Registered`` to ``User.Registered``.

Never remove an alias while events stored under it may exist (in practice: never)."""

from __future__ import annotations

from eventsourcing.utils import register_topic

from identity.domain.admin_roster import AdminRoster
from identity.domain.email_index import EmailIndex
from identity.domain.email_verification import EmailVerification
from identity.domain.refresh_session import RefreshSession, RefreshTokenIndex
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import User

OLD_MODULE = "identity.domain.model"
MOVED: tuple[type, ...] = (User, EmailIndex, EmailVerification, TutorApplication, RefreshSession,
                           RefreshTokenIndex, AdminRoster)


def register_old_topics() -> None:
    """Idempotent (registering the same class again under its alias is allowed)."""
    for cls in MOVED:
        register_topic(f"{OLD_MODULE}:{cls.__qualname__}", cls)
