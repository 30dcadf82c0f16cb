from datetime import UTC, datetime
from uuid import uuid4

import pytest

from alphapeer_contracts.identity import EmailVerified
from servicekit import envelope


def test_wrap_sets_binary_mode_cloudevents_headers_and_key() -> None:
    user = uuid4()
    event = EmailVerified(user_id=user, occurred_at=datetime(2026, 11, 24, 12, tzinfo=UTC))
    key, value, headers = envelope.wrap(event, source="/alphapeer/identity", sequence=7,
                                        ce_id="abc", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    h = envelope.decode_headers(headers)
    assert key == str(user).encode()
    assert h["ce_specversion"] == "1.0"
    assert h["ce_type"] == "alphapeer.identity.EmailVerified.v1"
    assert h["ce_subject"] == str(user)
    assert h["ce_sequence"] == "7"
    assert h["ce_correlationid"] == "abc"  # a flow starts with its first event
    assert h["traceparent"].startswith("00-111")
    env = envelope.read(h)
    assert env.sequence == 7 and env.type == event.ce_type()
    assert EmailVerified.model_validate_json(value) == event


def test_event_id_is_deterministic_per_stored_event() -> None:
    a = uuid4()
    assert envelope.event_id(a, 1) == envelope.event_id(a, 1)
    assert envelope.event_id(a, 1) != envelope.event_id(a, 2)


@pytest.mark.parametrize("drop", ["ce_id", "ce_type", "ce_sequence", "ce_specversion"])
def test_read_rejects_missing_attribute(drop: str) -> None:
    event = EmailVerified(user_id=uuid4(), occurred_at=datetime.now(UTC))
    _, _, headers = envelope.wrap(event, source="s", sequence=1, ce_id="x")
    h = {k: v for k, v in envelope.decode_headers(headers).items() if k != drop}
    with pytest.raises(envelope.EnvelopeError, match=drop):
        envelope.read(h)
