"""Catalog's reaction to identity's events when an HTTP command writes the same aggregate
at the same time: TutorApproved arrives while the tutor drafts a listing, and both write
the tutor's standing. Neither effect may be lost, and the event is applied once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError

from alphapeer_contracts import identity as idc
from catalog.domain.standing import TutorStanding
from servicekit.subscriber import AggregateReaction, Delivery
from servicekit.testing import ISSUER, Feed

Catalog = Any  # the harness in conftest.py
Decide = Callable[[Any, Delivery], list[Any]]


def approval(tutor: uuid.UUID) -> idc.TutorApproved:
    return idc.TutorApproved(application_id=uuid.uuid4(), user_id=tutor, subjects=["Physics"], levels=["advanced"],
                             approved_by=uuid.uuid4(), occurred_at=datetime.now(UTC))


def racing(h: Catalog, tutor: uuid.UUID, decide: Decide, decisions: list[int]) -> Decide:
    """``decide``, but after its first decision (the standing loaded, "approved" decided)
    and before the reaction saves, the tutor drafts a listing over HTTP: a real request
    that saves the standing first."""

    def decide_while_the_tutor_drafts(event: Any, delivery: Delivery) -> list[Any]:
        aggregates = decide(event, delivery)
        decisions.append(len(aggregates))
        if len(decisions) == 1:
            r = h.client.post("/v1/listings", json=h.LISTING, headers=ISSUER.headers(tutor, "tutor"))
            assert r.status_code == 201, r.text
        return aggregates

    return decide_while_the_tutor_drafts


def test_an_approval_racing_a_draft_keeps_both_and_is_applied_once(h: Catalog, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    tutor = uuid.uuid4()
    h.draft(tutor)  # the standing exists: both writers change the same version of it
    decisions: list[int] = []
    reaction = h.reaction  # the AggregateReaction the subscriber calls
    monkeypatch.setattr(reaction, "decide", racing(h, tutor, reaction.decide, decisions))
    event = approval(tutor)

    assert h.identity(event, position=41) is True
    assert decisions == [1, 1]  # the first save conflicted; decided again on the fresh standing

    standing = h.app.find(TutorStanding, TutorStanding.create_id(tutor))
    assert standing is not None and standing.approved and len(standing.listing_ids) == 2
    staff = ISSUER.headers(uuid.uuid4(), "staff")
    assert h.client.get(f"/v1/tutors/{tutor}/standing", headers=staff).json()["may_publish"] is True

    # The tracking row was written once: a redelivery is recognised and changes nothing.
    assert h.identity(event, position=41) is False
    kinds = [type(e).__name__ for e in h.app.repository.event_store.get(standing.id)]
    assert kinds == ["Opened", "ListingAdded", "ListingAdded", "Changed"]


def test_without_deciding_again_the_approval_would_be_lost(h: Catalog) -> None:
    """The control: the same race against a reaction allowed one attempt fails (and the
    subscriber would have to redeliver), so the test above does exercise the retry."""
    tutor = uuid.uuid4()
    h.draft(tutor)
    once = AggregateReaction(h.app, racing(h, tutor, h.app.react_to_identity, []), attempts=1)
    with pytest.raises(RecordConflictError):
        Feed(once)(approval(tutor), position=42)
    standing = h.app.find(TutorStanding, TutorStanding.create_id(tutor))
    assert standing is not None and not standing.approved and len(standing.listing_ids) == 2
    assert not h.app.has_processed("identity.events", 42)
