"""Events stored by earlier versions of catalog still load. TutorStanding moved from
catalog.domain.listing to catalog.domain.standing; its stored events name the old module."""

from __future__ import annotations

import uuid
from typing import Any

import eventsourcing.utils
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError

from catalog.domain.standing import OLD_TOPIC, TutorStanding
from servicekit.testing import ISSUER

Catalog = Any  # the harness in conftest.py
NEW_TOPIC = "catalog.domain.standing:TutorStanding"


def store_under_old_topic(h: Catalog, tutor: uuid.UUID) -> uuid.UUID:
    """A standing (opened, approved) written as the code before the move wrote it: every
    event's topic, and the aggregate's topic inside the first one, name listing.py."""
    standing = TutorStanding(tutor_id=tutor)
    standing.change(approved=True, suspended=False, erased=False)
    stored = [h.app.mapper.to_stored_event(e) for e in standing.collect_events()]
    old = [StoredEvent(originator_id=s.originator_id, originator_version=s.originator_version,
                       topic=s.topic.replace(NEW_TOPIC, OLD_TOPIC),
                       state=s.state.replace(NEW_TOPIC.encode(), OLD_TOPIC.encode())) for s in stored]
    assert all(s.topic.startswith(OLD_TOPIC) for s in old) and OLD_TOPIC.encode() in old[0].state
    h.app.recorder.insert_events(old)
    return standing.id


def test_a_standing_stored_under_its_old_topic_still_loads(h: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    tutor = uuid.uuid4()
    standing_id = store_under_old_topic(h, tutor)

    # Without the alias registered in standing.py, the old topic does not resolve.
    with monkeypatch.context() as m:
        for topic in [t for t in eventsourcing.utils._topic_cache if t.startswith(OLD_TOPIC)]:
            m.delitem(eventsourcing.utils._topic_cache, topic)
        with pytest.raises(TopicError):
            h.app.find(TutorStanding, standing_id)

    loaded = h.app.find(TutorStanding, standing_id)
    assert isinstance(loaded, TutorStanding) and loaded.approved and loaded.tutor_id == tutor
    # And it is used as any other: the tutor publishes, identity's next event is applied.
    lid = h.draft(tutor)
    assert h.client.post(f"/v1/listings/{lid}/publish", headers=ISSUER.headers(tutor, "tutor")).status_code == 200
    assert h.suspend(tutor)
    standing = h.app.find(TutorStanding, standing_id)
    assert standing is not None and standing.suspended and standing.listing_ids == [uuid.UUID(lid)]
