"""No double booking and no over-redeemed code, under concurrency: requests racing in one
process, and across two booking processes on one database (real HTTP)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from servicekit.testing import ISSUER, Broker, ServiceProcess

Booking = Any
token = ISSUER.headers


def test_fifty_concurrent_redemptions_of_a_code_limited_to_five_redeem_it_exactly_five_times(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True, minutes=[30])
    h.promotion(listing, tutor, "FIRST-FIVE", percent_off=50, max_redemptions=5)
    slots = h.client.get(f"/v1/tutors/{tutor}/slots", params={"minutes": 30},
                         headers=token(uuid.uuid4(), "student")).json()["slots"]
    assert len(slots) >= 50

    def book(slot: dict[str, Any]) -> httpx.Response:
        body = {"listing_id": str(listing), "minutes": 30, "starts_at": [slot["starts_at"]],
                "promotion_code": "FIRST-FIVE"}
        return h.client.post("/v1/bookings", json=body, headers=token(uuid.uuid4(), "student"))

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(book, slots[:50]))
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 5, 422: 45}, statuses
    assert all(r.json()["errors"][0]["field"] == "promotion_code" for r in answers if r.status_code == 422)
    assert sorted(r.json()["total"] for r in answers if r.status_code == 201) == [3] * 5  # 30 min at 12/h, half off


def _process(name: str, env: dict[str, str], tmp_path: Path) -> ServiceProcess:
    return ServiceProcess(script="alphapeer-booking", env=env, log=tmp_path / f"{name}.log")


def test_a_hundred_requests_for_overlapping_time_across_two_processes_have_one_winner(
        launch: Callable[..., Booking], postgres_url: str, pg_schema: str, kafka: Broker, jwks_url: str,
        tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    h = launch(now=now)  # the same schema: it learns the listing and sets the availability
    tutor, listing = h.tutor(instant_book=True, min_notice_minutes=60, weekly=[
        {"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], time_zone="UTC")
    # The tutor's own session as a learner, elsewhere, also blocks their time.
    _, elsewhere = h.tutor(instant_book=True, min_notice_minutes=60, time_zone="UTC", weekly=[
        {"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)])
    day = (now + timedelta(days=2)).replace(hour=10, minute=0)
    h.book(tutor, elsewhere, day + timedelta(hours=3))

    env = {"ALPHAPEER_DATABASE_URL": postgres_url, "ALPHAPEER_DATABASE_SCHEMA": pg_schema,
           "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ALPHAPEER_JWKS_URL": jwks_url,
           "ALPHAPEER_RELAY_ENABLED": "false", "ALPHAPEER_SUBSCRIBERS_ENABLED": "false",
           "ALPHAPEER_DATA_DIR": str(tmp_path / "data"), "ALPHAPEER_LOG_LEVEL": "WARNING",
           "ALPHAPEER_ACCESS_LOG": "false"}
    procs = [_process(n, env, tmp_path) for n in ("one", "two")]
    try:
        for p in procs:
            p.start(wait=False)
        for p in procs:
            p.wait_ready()
        # 100 learners at once, through both processes, for 10:00-11:00 or 10:30-11:30 (they overlap).
        starts = [day + timedelta(minutes=30 * ((i // 2) % 2)) for i in range(100)]

        def book(i: int) -> int:
            body = {"listing_id": str(listing), "minutes": 60, "starts_at": [starts[i].isoformat()]}
            r = httpx.post(f"{procs[i % 2].url}/v1/bookings", json=body, headers=token(uuid.uuid4(), "student"),
                           timeout=60)
            return r.status_code

        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=100) as pool:
            statuses = Counter(pool.map(book, range(100)))
        elapsed = time.monotonic() - began
        assert statuses == {201: 1, 409: 99}, statuses
        assert len(h.app.bookings_of(tutor, "tutor", 0, 100)[0]) == 1
        print(f"100 racing requests over two processes: {dict(statuses)} in {elapsed:.2f} s")
        # The tutor's own lesson as a learner at 13:00 blocks that hour from both processes.
        blocked = httpx.post(f"{procs[0].url}/v1/bookings", timeout=30, headers=token(uuid.uuid4(), "student"),
                             json={"listing_id": str(listing), "minutes": 60,
                                   "starts_at": [(day + timedelta(hours=3)).isoformat()]})
        assert blocked.status_code == 409, blocked.text
    finally:
        for p in procs:
            p.stop()


def test_a_retried_request_whose_answer_was_lost_finds_its_booking(h: Booking) -> None:
    """The process died between committing a booking and answering; the key's lease ran out
    and the client's retry ran the request again: it finds the booking it made (its id is
    derived from the caller and the Idempotency-Key), and books nothing twice."""
    _tutor, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    slot = h.client.get(f"/v1/tutors/{_tutor}/slots", params={"minutes": 60},
                        headers=token(student, "student")).json()["slots"][0]["starts_at"]
    body = {"listing_id": str(listing), "minutes": 60, "starts_at": [slot]}
    headers = {**token(student, "student"), "Idempotency-Key": "lost-answer"}
    first = h.client.post("/v1/bookings", json=body, headers=headers)
    assert first.status_code == 201, first.text
    with h.client.app.state.db.transaction() as cur:  # as the killed process left the key: claimed, unanswered, stale
        cur.execute("UPDATE idempotency_keys SET status = NULL, headers = NULL, body = NULL, created_at = 0 "
                    "WHERE key = 'lost-answer'")
    retried = h.client.post("/v1/bookings", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["booking_id"] == first.json()["booking_id"]
    assert "idempotent-replayed" not in retried.headers  # it ran again, and found its booking
    mine = h.client.get("/v1/bookings", headers=token(student, "student")).json()["items"]
    assert [b["booking_id"] for b in mine] == [first.json()["booking_id"]]
    # Another key is another request: that time is taken now.
    other = h.client.post("/v1/bookings", json=body, headers={**headers, "Idempotency-Key": "another"})
    assert other.status_code == 409, other.text
