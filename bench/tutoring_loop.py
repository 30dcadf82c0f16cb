"""The whole tutoring loop for one booking, across seven services as real processes (identity,
catalog, booking, ledger, sessions, reputation, matching) on the broker and PostgreSQL, with
LiveKit's side played by the local server that signs webhooks as LiveKit does.

A booking's life has waits the policy imposes (the session's hour, the dispute window); those
are not latency. What is measured is every hop the system itself takes, per booking:

- request → confirmed (booking → ledger → booking),
- confirmed → its session exists (booking → sessions),
- the session's end → booking records it completed (sessions' deadline → sessions.events → booking),
- the dispute window's close → the tutor's share released (booking's deadline → ledger → booking),

with the services' clocks moved past each wait (a restart with a clock offset). The session's
end is timed from sessions being ready again (its relay starting is part of the hop); the
window's close is timed from the moment it passes on booking's moved clock, which is set a few
seconds before it, so booking's consumers have rejoined their groups after the restart (a cost
of moving the clock, not of the hop). The loop's figure is the sum of the four hops.
And: a review → the tutor's new rank in matching's search (reputation → matching).

The raw ceiling measured in the same run is one PostgreSQL single-row commit."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.marketplace import Market, running, slot, wait_for


def _shift(m: Market, service: str, when: datetime) -> float:
    """Restart ``service`` with its clock at ``when``; returns the moment it is ready (perf_counter)."""
    m.stack.restart(service, ALPHAPEER_CLOCK_OFFSET_SECONDS=str((when - datetime.now(UTC)).total_seconds()))
    return time.perf_counter()


def _until(check: Any, timeout: float = 60.0) -> float:
    wait_for(check, bool, timeout=timeout, what="the loop's next step")
    return time.perf_counter()


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report
    from bench.relay_lag import _pg_commit_rate
    from sessions.adapters.livekit_local import LocalLiveKit

    results: list[dict[str, Any]] = []
    n = 4 if quick else 12
    print(f"tutoring loop ({n} bookings, 7 services)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-loop-"))
    commit_ms = 1000 / _pg_commit_rate(db_url)
    admin = db_url  # the services make their own schemas in the bench database
    with LocalLiveKit() as lk, running(admin, tmp, more=("sessions", "reputation", "matching"), extra={"sessions": {
            "ALPHAPEER_SESSIONS_LIVEKIT_URL": lk.url, "ALPHAPEER_SESSIONS_LIVEKIT_API_KEY": lk.api_key,
            "ALPHAPEER_SESSIONS_LIVEKIT_API_SECRET": lk.api_secret}}) as m:
        lk.webhook_url = f"{m.stack['sessions'].url}/v1/webhooks/livekit"
        tutors = [m.tutor(f"Tutor{i}") for i in range(n)]
        learners = [m.learner(f"Lea{i}", credits=40) for i in range(n)]
        for t in tutors:
            m.bookable(t, learners[0])
        at = slot(days=2)  # every pair at the same hour: one end, one window for all
        bookings, hops = [], {"confirmed": [], "session": [], "completed": [], "released": []}
        for t, learner in zip(tutors, learners, strict=True):  # one at a time: the path, not a queue
            t0 = time.perf_counter()
            r = m.book(learner, t, at)
            assert r.status_code in (201, 202), r.text
            bid = r.json()["booking_id"]
            t1 = _until(lambda bid=bid, who=learner: m.booking(who, bid)["status"] == "confirmed")
            t2 = _until(lambda bid=bid, who=learner: any(s["seats"][0]["booking_id"] == bid for s in who.call(
                "sessions", "GET", "/v1/sessions", params={"to": (at + timedelta(days=1)).isoformat()}).json()
                ["sessions"]))
            hops["confirmed"].append((t1 - t0) * 1000)
            hops["session"].append((t2 - t1) * 1000)
            bookings.append((bid, t, learner))
        # Everyone came: each tutor and learner joined at the start (signed webhooks).
        sids = {}
        for bid, t, learner in bookings:
            sid = next(s["session_id"] for s in learner.call("sessions", "GET", "/v1/sessions", params={
                "to": (at + timedelta(days=1)).isoformat()}).json()["sessions"] if s["seats"][0]["booking_id"] == bid)
            sids[t.id] = sid
            for who in (t.id, learner.id):
                assert lk.joined(f"session-{sid}", who, at).status_code == 200
        end = at + timedelta(minutes=60)
        ready = _shift(m, "sessions", end + timedelta(seconds=1))
        for bid, _, learner in bookings:
            done = _until(lambda bid=bid, learner=learner: m.booking(learner, bid)["occurrences"][0]["status"]
                          == "completed")
            hops["completed"].append((done - ready) * 1000)
        # The window closes 48 h after the end: booking's clock is set 8 s before that.
        close = end + timedelta(hours=48)
        offset = close - timedelta(seconds=8) - datetime.now(UTC)
        m.stack.restart("booking", ALPHAPEER_CLOCK_OFFSET_SECONDS=str(offset.total_seconds()))
        closes_in = (close - offset - datetime.now(UTC)).total_seconds()  # wall-clock seconds from here
        closed_at = time.perf_counter() + closes_in
        for bid, _, learner in bookings:
            paid = _until(lambda bid=bid, learner=learner: m.booking(learner, bid)["occurrences"][0]["money"]
                          == "released")
            hops["released"].append((paid - closed_at) * 1000)

        # A review → the tutor above every tutor not yet reviewed in matching's rating order.
        to_rank = []
        ratings = {"on_time": 5, "explained_clearly": 5, "helped_understand": 5, "would_book_again": 5}
        for i, (_, t, learner) in enumerate(bookings):
            wait_for(lambda t=t, who=learner: who.call("reputation", "GET", f"/v1/tutors/{t.id}/reputation").json()
                     ["sessions_completed"] == 1, bool, timeout=60, what="reputation to learn the session")
            t0 = time.perf_counter()
            r = learner.call("reputation", "POST", "/v1/reviews", {"session_id": sids[t.id], "ratings": ratings})
            assert r.status_code == 201, r.text
            unreviewed = {u.id for u in tutors[i + 1:]}

            def ranked(t: Any = t, unreviewed: set[str] = unreviewed, learner: Any = learner) -> bool:
                items = learner.call("matching", "GET", "/v1/search", params={
                    "sort": "rating", "q": "Mechanics", "limit": 100}).json()["items"]
                order = [x["tutor_id"] for x in items]
                return t.id in order and all(order.index(t.id) < order.index(u) for u in unreviewed if u in order)
            to_rank.append((_until(ranked) - t0) * 1000)

    for name, values in hops.items():
        report(results, f"loop_hop_{name}_p50", percentile(values, 50), "ms", context)
        report(results, f"loop_hop_{name}_p95", percentile(values, 95), "ms", context)
    loop = [sum(h) for h in zip(*hops.values(), strict=True)]
    report(results, "loop_one_booking_p50", percentile(loop, 50), "ms", context)
    report(results, "loop_one_booking_p95", percentile(loop, 95), "ms", context)
    report(results, "review_to_rank_p50", percentile(to_rank, 50), "ms", context)
    report(results, "review_to_rank_p95", percentile(to_rank, 95), "ms", context)
    report(results, "pg_single_row_commit", commit_ms, "ms", context)
    report(results, "loop_p50_in_pg_commits", percentile(loop, 50) / commit_ms, "x", context)
    return results
