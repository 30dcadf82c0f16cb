"""One booking is one trace: the learner's HTTP request to booking, booking's publish of
BookingRequested, the ledger's reaction (the hold) and its publish of EscrowHeld, booking's
reaction (the confirmation) and its publish of BookingConfirmed all share the request's trace
id, across the real broker. Booking and ledger run in this process (so one in-memory span
exporter sees both), each with its relay and subscribers, on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from booking.main import build as build_booking
from booking.settings import BookingSettings
from ledger.main import build as build_ledger
from ledger.settings import LedgerSettings
from servicekit.testing import ISSUER, Broker, Feed, in_memory_spans
from tests.integration.marketplace import SAGA_FETCH_WAIT_MS, iso, slot

pytestmark = pytest.mark.integration


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return in_memory_spans()  # type: ignore[no-any-return]


@pytest.fixture
def services(postgres_url: str, pg_schema: str, kafka: Broker, tmp_path: Path) -> Iterator[dict[str, TestClient]]:
    common: dict[str, Any] = {"database_url": postgres_url, "kafka_bootstrap_servers": kafka.bootstrap,
                              "relay_poll_interval": 0.05, "kafka_session_timeout_ms": 3000,
                              "kafka_heartbeat_interval_ms": 500, "kafka_fetch_max_wait_ms": SAGA_FETCH_WAIT_MS}
    booking = BookingSettings(database_schema=f"{pg_schema}_b", data_dir=tmp_path / "b", **common)
    ledger = LedgerSettings(database_schema=f"{pg_schema}_l", data_dir=tmp_path / "l", **common)
    with TestClient(build_booking(booking, keys=ISSUER)) as b, TestClient(build_ledger(ledger, keys=ISSUER)) as le:
        yield {"booking": b, "ledger": le}


def test_one_booking_is_one_trace_across_booking_ledger_and_the_broker(
    services: dict[str, TestClient], spans: InMemorySpanExporter
) -> None:
    booking, ledger = services["booking"], services["ledger"]
    tutor, student, staff = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    # What catalog and identity would have said (fed to the reactions: not part of the trace).
    listing = uuid.uuid4()
    Feed(booking.app.state.reactions["main"])(cat.ListingPublished(  # type: ignore[attr-defined]
        listing_id=listing, occurred_at=now, listing=cat.ListingSnapshot(
            tutor_id=tutor, title="Optics", subjects=[], languages=["en"], rate=cat.Rate(credits_per_hour=20),
            session_minutes=[60], modes=["online"])))
    Feed(ledger.app.state.reactions["main"])(idc.UserRegistered(  # type: ignore[attr-defined]
        user_id=student, display_name="S", roles=["student"], occurred_at=now))
    r = ledger.post("/v1/grants", headers={**ISSUER.headers(staff, "staff"), "Idempotency-Key": "g1"},
                    json={"user_id": str(student), "currency": "XAP", "amount": 100, "kind": "allowance"})
    assert r.status_code == 201, r.text
    r = booking.put("/v1/tutors/me/availability", headers=ISSUER.headers(tutor, "tutor"), json={
        "time_zone": "UTC", "weekly": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
        "instant_book": True, "min_notice_minutes": 0})
    assert r.status_code == 200, r.text
    spans.clear()

    r = booking.post("/v1/bookings", headers=ISSUER.headers(student, "student"), json={
        "listing_id": str(listing), "minutes": 60, "starts_at": [iso(slot(days=2))]})
    assert r.status_code == 201, r.text
    bid = r.json()["booking_id"]
    deadline = time.monotonic() + 30
    mine_only = ISSUER.headers(student, "student")
    while booking.get(f"/v1/bookings/{bid}", headers=mine_only).json()["status"] != "confirmed":
        assert time.monotonic() < deadline, "never confirmed"
        time.sleep(0.05)
    time.sleep(0.5)  # BookingConfirmed's publish span ends just after the state is visible

    finished = spans.get_finished_spans()
    [request] = [s for s in finished if s.kind == trace.SpanKind.SERVER and s.name == "POST /v1/bookings"]
    trace_id = request.context.trace_id
    mine = [s for s in finished if s.context.trace_id == trace_id]
    steps = [(s.name, s.kind) for s in sorted(mine, key=lambda s: s.start_time or 0)]
    P, C = trace.SpanKind.PRODUCER, trace.SpanKind.CONSUMER
    # The request, then each hop in order: published, consumed, decided, published again.
    assert ("booking.events publish", P) in steps
    assert ("booking.events process", C) in steps      # the ledger's reaction: the hold
    assert ("ledger.events publish", P) in steps       # EscrowHeld
    assert ("ledger.events process", C) in steps       # booking's reaction: confirmed
    assert steps.count(("booking.events publish", P)) >= 2  # BookingRequested, then BookingConfirmed
    first = {name: steps.index((name, kind)) for name, kind in
             [("booking.events publish", P), ("booking.events process", C), ("ledger.events publish", P),
              ("ledger.events process", C)]}
    assert first["booking.events publish"] < first["booking.events process"] < first["ledger.events publish"] \
        < first["ledger.events process"], steps
    # Every publish and reaction about this booking is in this trace, and no other.
    about = {s.attributes.get("messaging.message.id") for s in mine if s.kind in (P, C)}
    strays = [s for s in finished if s.context.trace_id != trace_id and s.kind in (P, C)
              and s.attributes.get("messaging.message.id") in about]
    assert not strays, [(s.name, s.context.trace_id) for s in strays]
