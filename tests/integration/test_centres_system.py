"""A campus centre's drop-in queue as a real process on the broker and PostgreSQL: a centre with
hours and a closure; 30 students join at once while two tutors on shift work through the line;
positions and estimates are consistent; every student is served exactly once, leaves, or is
recorded as not there when called — and centres.events tells every step."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servicekit import envelope
from servicekit.testing import ISSUER, Broker, ServiceProcess, consume_all, serve_jwks

pytestmark = pytest.mark.integration


@pytest.fixture
def centres(postgres_url: str, kafka: Broker, tmp_path: Path) -> Iterator[ServiceProcess]:
    with serve_jwks() as jwks:
        proc = ServiceProcess(script="alphapeer-centres", log=tmp_path / "centres.log", env={
            "ALPHAPEER_SERVICE_NAME": "centres", "ALPHAPEER_DATABASE_URL": postgres_url,
            "ALPHAPEER_DATABASE_SCHEMA": f"centres_{uuid.uuid4().hex[:8]}",
            "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ALPHAPEER_DATA_DIR": str(tmp_path / "data"),
            "ALPHAPEER_JWKS_URL": jwks, "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05"})
        proc.start()
        try:
            yield proc
        finally:
            proc.stop()


def who(user: uuid.UUID, *roles: str) -> dict[str, str]:
    return ISSUER.headers(user, *roles or ("student",))


async def test_thirty_students_two_tutors_each_served_once_or_gone(centres: ServiceProcess, kafka: Broker) -> None:
    admin = ISSUER.headers(uuid.uuid4(), "admin")
    tutors, students = [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4() for _ in range(30)]
    async with httpx.AsyncClient(base_url=centres.url, timeout=30) as http:
        cid = (await http.post("/v1/centres", json={"name": "Maths Lab", "time_zone": "America/New_York"},
                               headers=admin)).json()["centre_id"]
        await http.put(f"/v1/centres/{cid}/hours", json={"weekly": [
            {"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]}, headers=admin)
        assert (await http.put(f"/v1/centres/{cid}/closures/2031-12-25", json={"reason_code": "holiday"},
                               headers=admin)).status_code == 200
        await http.put(f"/v1/centres/{cid}/courses", json={"courses": ["MATH 101", "MATH 102"]}, headers=admin)
        for t in tutors:
            await http.put(f"/v1/centres/{cid}/roster/{t}", headers=admin)
        await http.put(f"/v1/centres/{cid}/queue/state", json={"state": "open"}, headers=admin)

        # 30 students join at once.
        joined = await asyncio.gather(*(http.post(f"/v1/centres/{cid}/queue", json={
            "course": "MATH 101" if i % 2 else "MATH 102", "reason": f"Problem set {i}"}, headers=who(s))
            for i, s in enumerate(students)))
        assert [r.status_code for r in joined] == [201] * 30
        views = [(await http.get(f"/v1/centres/{cid}/queue", headers=who(s))).json()["mine"] for s in students]
        by_position = sorted(views, key=lambda v: v["position"])
        assert [v["position"] for v in by_position] == list(range(1, 31))
        waits = [v["estimated_wait_minutes"] for v in by_position]
        assert waits == sorted(waits) and waits[0] == 0  # later in line, never a shorter estimate

        # Three leave; the tutors start their shifts and work the line; two students are not
        # there when called.
        for v in by_position[-3:]:
            assert (await http.post(f"/v1/centres/{cid}/queue/{v['visit_id']}/leave",
                                    headers=who(uuid.UUID(v["student_id"])))).status_code == 200
        absent = {by_position[4]["visit_id"], by_position[9]["visit_id"]}
        for t in tutors:
            await http.put(f"/v1/centres/{cid}/shifts/me", json={}, headers=who(t, "tutor"))

        async def work(tutor: uuid.UUID) -> list[str]:
            handled = []
            while True:
                r = await http.post(f"/v1/centres/{cid}/queue/next", json={}, headers=who(tutor, "tutor"))
                if r.status_code == 409:
                    return handled
                assert r.status_code == 200, r.text
                [mine] = [v for v in r.json()["visits"] if v["tutor_id"] == str(tutor) and v["status"] == "called"]
                vid = mine["visit_id"]
                if vid in absent:
                    step = await http.post(f"/v1/centres/{cid}/queue/{vid}/not-there", headers=who(tutor, "tutor"))
                else:
                    await http.post(f"/v1/centres/{cid}/queue/{vid}/start", headers=who(tutor, "tutor"))
                    step = await http.post(f"/v1/centres/{cid}/queue/{vid}/finish", json={"note": "done"},
                                           headers=who(tutor, "tutor"))
                assert step.status_code == 200, step.text
                handled.append(vid)

        done = await asyncio.gather(*(work(t) for t in tutors))
        handled = [v for d in done for v in d]
        assert len(handled) == len(set(handled)) == 27  # 30 joined, 3 left: each called exactly once
        assert all(d for d in done)  # both tutors worked
        final = (await http.get(f"/v1/centres/{cid}/queue", headers=admin)).json()
        assert Counter(v["status"] for v in final["visits"]) == {"served": 25, "left": 3, "abandoned": 2}
        assert final["in_line"] == 0

    # Founded, schedule, closure, 2 roster, queue opened, 30 joined, 27 called, 25 served, 5 ended.
    records = await consume_all(kafka.bootstrap, "centres.events", expect=93, timeout=30)
    assert len(records) == 93
    types = Counter(envelope.decode_headers(r.headers)["ce_type"].split(".")[2] for r in records)
    assert types["DropInJoined"] == 30 and types["DropInCalled"] == 27 and types["DropInServed"] == 25
    assert types["DropInEnded"] == 5 and types["CentreClosureAdded"] == 1
