"""The whole loop as real processes (identity, catalog, booking, ledger, sessions, reputation,
matching) on the broker and PostgreSQL, with LiveKit's side played by a local server that
speaks its Twirp API and signs its webhooks as LiveKit does: register → vetted → listed →
found → book → credits held → confirmed → a session with a room → tokens for its participants
only → joined (signed webhooks) → the end → completed with the minutes taught → booking
completed → the window closes → released to the tutor → reviewed → the new rating lifts the
tutor in matching's ranking → an hours certificate verifies. And the tutor who never comes: a
no-show, everything back to the learner, and a reliability that shows it.

Time moves by restarting a service with ``ALPHAPEER_CLOCK_OFFSET_SECONDS``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from livekit import api

from sessions.adapters.livekit_local import LocalLiveKit
from tests.integration.marketplace import Market, running, slot, wait_for

pytestmark = pytest.mark.integration

RATE = 20


@pytest.fixture(scope="module")
def livekit() -> Iterator[LocalLiveKit]:
    with LocalLiveKit() as lk:
        yield lk


@pytest.fixture(scope="module")
def market(postgres_url: str, tmp_path_factory: pytest.TempPathFactory, livekit: LocalLiveKit) -> Iterator[Market]:
    video = {"ALPHAPEER_SESSIONS_LIVEKIT_URL": livekit.url, "ALPHAPEER_SESSIONS_LIVEKIT_API_KEY": livekit.api_key,
             "ALPHAPEER_SESSIONS_LIVEKIT_API_SECRET": livekit.api_secret}
    with running(postgres_url, tmp_path_factory.mktemp("sessions-system"),
                 more=("sessions", "reputation", "matching"), extra={"sessions": video}) as m:
        livekit.webhook_url = f"{m.stack['sessions'].url}/v1/webhooks/livekit"
        yield m


def shift_to(m: Market, service: str, when: datetime) -> None:
    m.stack.restart(service, ALPHAPEER_CLOCK_OFFSET_SECONDS=str((when - datetime.now(UTC)).total_seconds()))


def session_of(m: Market, user: Any, booking_id: str) -> dict[str, Any]:
    def found() -> Any:
        r = user.call("sessions", "GET", "/v1/sessions", params={"to": (datetime.now(UTC) + timedelta(days=30))
                                                                  .isoformat()})
        return [s for s in r.json()["sessions"] if any(x["booking_id"] == booking_id for x in s["seats"])]
    return wait_for(found, bool, what="sessions to make the session")[0]  # type: ignore[no-any-return]


def test_the_loop_from_booking_to_pay_and_a_tutor_no_show_refunded(market: Market, livekit: LocalLiveKit) -> None:
    m = market
    ines, ned = m.tutor("Ines", rate=RATE), m.tutor("Ned", rate=RATE)
    sam, kim = m.learner("Sam", credits=100), m.learner("Kim", credits=100)
    m.bookable(ines, sam)
    m.bookable(ned, sam)
    at = slot(days=2)
    taught = m.book(sam, ines, at).json()["booking_id"]
    later = at + timedelta(hours=2)  # Sam cannot be in two sessions at once
    r = m.book(sam, ned, later)
    assert r.status_code in (201, 202), r.text
    missed = r.json()["booking_id"]
    for bid in (taught, missed):
        m.wait_status(sam, bid, "confirmed")

    s = session_of(m, sam, taught)
    sid, room = s["session_id"], f"session-{s['session_id']}"
    assert s["mode"] == "online" and s["your_role"] == "student" and s["video"] is True
    missed_sid = session_of(m, sam, missed)["session_id"]
    assert kim.call("sessions", "GET", f"/v1/sessions/{sid}").status_code == 404

    # Ten minutes before the start: the room exists (made by the deadline), tokens for participants only.
    shift_to(m, "sessions", at - timedelta(minutes=10))
    wait_for(lambda: room in livekit.rooms, bool, what="the room to be made ahead of time")
    r = sam.call("sessions", "POST", f"/v1/sessions/{sid}/join")
    assert r.status_code == 200, r.text
    claims = api.TokenVerifier(livekit.api_key, livekit.api_secret).verify(r.json()["token"])
    assert (claims.identity, claims.video.room) == (sam.id, room)
    assert kim.call("sessions", "POST", f"/v1/sessions/{sid}/join").status_code == 404
    assert ines.call("sessions", "POST", f"/v1/sessions/{sid}/join").status_code == 200

    # LiveKit tells who came: Ines at the start, Sam five minutes late; in Ned's room, only Sam.
    for hook in (livekit.joined(room, ines.id, at), livekit.joined(room, sam.id, at + timedelta(minutes=5)),
                 livekit.joined(f"session-{missed_sid}", sam.id, later)):
        assert hook.status_code == 200, hook.text
    forged = LocalLiveKit(api_key=livekit.api_key, api_secret="x" * 32, webhook_url=livekit.webhook_url)
    assert forged.left(room, ines.id, at + timedelta(minutes=6)).status_code == 401

    # Past both ends: sessions decides both; booking records them.
    shift_to(m, "sessions", later + timedelta(minutes=61))
    b = wait_for(lambda: m.booking(sam, taught), lambda b: b["occurrences"][0]["status"] == "completed",
                 what="booking to record the session")
    assert b["occurrences"][0]["money"] is None  # still held until the dispute window closes
    done = sam.call("sessions", "GET", f"/v1/sessions/{sid}").json()
    assert done["status"] == "over" and done["seats"][0]["outcome"]["minutes_taught"] == 55
    n = wait_for(lambda: m.booking(sam, missed), lambda b: b["occurrences"][0]["status"] == "no_show",
                 what="booking to record the tutor's no-show")
    assert n["occurrences"][0]["absent"] == "tutor"

    # The window closes: Ines is paid (less the fee), Sam gets Ned's price back.
    shift_to(m, "booking", later + timedelta(days=4))
    m.wait_money(sam, taught, "released", timeout=60)
    m.wait_money(sam, missed, "refunded", timeout=60)
    assert m.escrow(taught)["holds"][0]["released"] == RATE
    assert m.escrow(missed)["holds"][0]["refunded"] == RATE
    assert m.wallet(sam)["balance"] == 100 - RATE and m.wallet(sam)["held"] == 0
    assert m.reconciliation()["balanced"]

    # Sam reviews the session he had (not the one Ned missed); Ines rises above Ned in matching.
    def ranked() -> list[str]:
        r = sam.call("matching", "GET", "/v1/search", params={"sort": "rating", "q": "Mechanics"})
        return [i["tutor_id"] for i in r.json()["items"] if i["tutor_id"] in (ines.id, ned.id)]
    wait_for(ranked, lambda r: len(r) == 2, what="matching to list both tutors")
    r = sam.call("reputation", "POST", "/v1/reviews", {"session_id": missed_sid, "ratings": {
        "on_time": 1, "explained_clearly": 1, "helped_understand": 1, "would_book_again": 1}})
    assert r.status_code == 403, r.text  # nobody taught that one: nothing to review
    ratings = {"on_time": 5, "explained_clearly": 5, "helped_understand": 5, "would_book_again": 5}
    r = wait_for(lambda: sam.call("reputation", "POST", "/v1/reviews", {"session_id": sid, "ratings": ratings,
                                                                        "text": "Torque finally makes sense."}),
                 lambda r: r.status_code != 403, what="reputation to learn the session took place")
    assert r.status_code == 201, r.text
    assert kim.call("reputation", "POST", "/v1/reviews", {"session_id": sid, "ratings": ratings}).status_code == 403
    standing = sam.call("reputation", "GET", f"/v1/tutors/{ines.id}/reputation").json()
    assert standing["rating"] > 4.0 and standing["sessions_completed"] == 1 and standing["minutes_taught"] == 55
    assert sam.call("reputation", "GET", f"/v1/tutors/{ned.id}/reputation").json()["sessions_missed"] == 1
    wait_for(ranked, lambda r: r == [ines.id, ned.id], what="the review to lift Ines in matching")

    # Ines asks for a certificate of her hours this term; anyone can verify it by its code.
    term = f"{at.year}-T{1 + sum(at.month >= m for m in (5, 9))}"
    r = ines.call("reputation", "POST", "/v1/certificates/tutoring-hours", {"term": term})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    public = httpx.get(f"{m.stack['reputation'].url}/v1/certificates/verify/{code}")
    assert public.status_code == 200 and public.json()["details"]["minutes"] == 55
    assert public.json()["holder_name"] == "Ines"
