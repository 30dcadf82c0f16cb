"""Matching at institution scale: 50,000 synthetic tutors, each approved in identity with
one published listing, four in five with their availability published by booking
(AvailabilityChanged on booking.events, in one of a few time zones: the projection's own code
path). Measures projection catch-up from the topics (events/s, through Kafka and PostgreSQL,
as a fresh matching process replays them), the sentence-vector index build, search and
recommendation latency through the HTTP gateway (p50/p95 over mixes of queries; availability
queries, in the searcher's zone, measured on their own too), and the matching process's memory.

Bios come from per-topic templates (bench/tutoring_texts.py): the 50,000 listings share
about 1,300 distinct expertise texts, and vectors are computed once per distinct text."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiokafka import AIOKafkaProducer

from alphapeer_contracts import booking as bk
from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts.vocabulary import LEVELS
from bench.tutoring_texts import NEEDS, bio
from servicekit import devstack, envelope
from servicekit.testing import ServiceProcess

WORDS = tuple(
    "patient clear exam revision practice problems visual examples step past papers homework intuition "
    "confidence diagrams feedback worked timed quadratics derivatives genetics grammar conversation essays "
    "sorting python regression".split()
)
CITY = (51.5072, -0.1276)
#: Where tutors and searchers are: mostly the institution's own zone.
ZONES = ["Europe/London"] * 6 + ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]


def availability(rnd: random.Random, tutor: uuid.UUID, now: datetime) -> bk.AvailabilityChanged:
    """Two to five weekly windows of one to three hours between 08:00 and 23:00, now and then a
    closed date, some notice, a horizon of two weeks to three months."""
    weekly = []
    for _ in range(rnd.randint(2, 5)):
        start = rnd.randint(8, 20)
        weekly.append(bk.WeeklyWindow(weekday=rnd.randint(0, 6), start=f"{start:02d}:00",
                                      end=f"{min(start + rnd.choice([1, 2, 3]), 24):02d}:00"))
    closed = [bk.DatedException(date=(now + timedelta(days=rnd.randint(0, 30))).date())] if rnd.random() < 0.2 else []
    return bk.AvailabilityChanged(tutor_id=tutor, time_zone=rnd.choice(ZONES), weekly=weekly, exceptions=closed,
                                  min_notice_minutes=rnd.choice([0, 60, 720, 1440]),
                                  horizon_days=rnd.choice([14, 30, 60, 90]), occurred_at=now)


def synthetic(n: int, seed: int = 7) -> list[tuple[str, Any]]:
    from catalog.domain.taxonomy import DEFAULT, slug  # the real taxonomy, not a made-up one

    rnd = random.Random(seed)
    subjects = [(slug(a, s), s, a, topics) for a, subs in DEFAULT.items() for s, topics in subs.items()]
    now = datetime.now(UTC)
    events: list[tuple[str, Any]] = []
    for _ in range(n):
        tutor = uuid.UUID(int=rnd.getrandbits(128))
        events.append(("identity.events", idc.TutorApproved(application_id=uuid.uuid4(), user_id=tutor,
                                                            subjects=[], levels=[], approved_by=tutor,
                                                            occurred_at=now)))
        taught = [rnd.choice(subjects)]
        topics = {taught[0][0]: rnd.choice(taught[0][3])}
        in_person = rnd.random() < 0.5
        snapshot = cat.ListingSnapshot(
            tutor_id=tutor, title=f"{taught[0][1]} tutoring",
            subjects=[cat.SubjectTaught(subject_id=s[0], name=s[1], area=s[2], level=rnd.choice(LEVELS),
                                        topics=[topics[s[0]]]) for s in taught],
            rate=cat.Rate(credits_per_hour=rnd.choice([0, 5, 8, 10, 12, 15, 20, 25, 30])),
            session_minutes=[60], modes=["online", "in_person"] if in_person else ["online"],
            place=cat.Place(campus="Campus", lat=CITY[0] + rnd.uniform(-0.3, 0.3), lon=CITY[1] + rnd.uniform(-0.5, 0.5),
                            travel_radius_km=rnd.choice([0, 1, 3, 5])) if in_person else None,
            languages=rnd.sample(["en", "es", "fr", "de", "zh", "ar", "hi", "pt"], k=rnd.randint(1, 2)),
            teaching_styles=rnd.sample(["structured", "socratic", "exam_focused", "visual", "hands_on"], k=2),
            bio=bio(rnd, taught[0][1], topics[taught[0][0]]))
        events.append(("catalog.events", cat.ListingPublished(listing_id=uuid.UUID(int=rnd.getrandbits(128)),
                                                              listing=snapshot,
                                                              occurred_at=now - timedelta(days=rnd.uniform(0, 730)))))
        if rnd.random() < 0.8:
            events.append(("booking.events", availability(rnd, tutor, now)))
    return events


async def produce(bootstrap: str, events: list[tuple[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    seq = {"identity.events": 0, "catalog.events": 0, "booking.events": 0}
    try:
        futures = []
        for topic, ev in events:
            seq[topic] += 1
            key, value, headers = envelope.wrap(ev, source=f"/alphapeer/{topic.split('.')[0]}", sequence=seq[topic],
                                                ce_id=str(uuid.uuid4()))
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def timed(request: Callable[[int], httpx.Response], count: int) -> list[float]:
    """Milliseconds per request, sequentially; any error response stops the benchmark."""
    latencies = []
    for i in range(count):
        t = time.perf_counter()
        r = request(i)
        latencies.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return latencies


async def concurrently(url: str, authorization: str, bodies: list[dict[str, Any]], clients: int
                       ) -> tuple[float, list[float]]:
    """(requests per second, latencies in ms) with ``clients`` requests in flight."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            t = time.perf_counter()
            r = await http.post("/v1/recommendations", json=body)
            latencies.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()

    async with httpx.AsyncClient(base_url=url, headers={"Authorization": authorization}, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return len(bodies) / (time.perf_counter() - started), latencies


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report

    results: list[dict[str, Any]] = []
    n = 5_000 if quick else 50_000
    print(f"matching ({n:,} tutors)")
    port = devstack.free_port()
    broker = devstack.start_tansu(port)
    bootstrap = f"127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-"))
    identity = ServiceProcess("alphapeer-identity", env={
        "ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_DATABASE_SCHEMA": "identity_mbench",
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ALPHAPEER_DATA_DIR": str(tmp / "identity"),
        "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": "bench@alphapeer.local",
        "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": "bench-password-1", "ALPHAPEER_LOG_LEVEL": "WARNING",
        # Only signs the bench's token: its relay must not add its own events to the synthetic
        # identity.events stream (one producer per topic is what tracking by position relies on).
        "ALPHAPEER_RELAY_ENABLED": "false"},
        log=tmp / "identity.log")
    matching = ServiceProcess("alphapeer-matching", env={
        "ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_DATABASE_SCHEMA": "matching_bench",
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ALPHAPEER_DATA_DIR": str(tmp / "matching"),
        "ALPHAPEER_LOG_LEVEL": "WARNING", "ALPHAPEER_KAFKA_FETCH_MAX_WAIT_MS": "20"}, log=tmp / "matching.log")
    try:
        events = synthetic(n)
        asyncio.run(produce(bootstrap, events))
        identity.start()
        token = httpx.post(f"{identity.url}/v1/auth/login", json={"email": "bench@alphapeer.local",
                                                                   "password": "bench-password-1"}).json()
        matching.env["ALPHAPEER_JWKS_URL"] = f"{identity.url}/.well-known/jwks.json"
        started = time.perf_counter()
        matching.start()
        http = httpx.Client(base_url=matching.url, headers={"Authorization": f"Bearer {token['access_token']}"},
                            timeout=30)
        deadline = time.monotonic() + 900
        published = sum(1 for topic, _ in events if topic == "booking.events")
        with psycopg.connect(db_url, autocommit=True) as conn:
            while (total := http.get("/v1/search", params={"limit": 1}).json()["total"]) < n or (
                    conn.execute("SELECT count(*) FROM matching_bench.tutor_availability").fetchone()[0] < published):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"matching caught up with {total} of {n} tutors in 15 minutes")
                time.sleep(0.5)
        catch_up = time.perf_counter() - started
        report(results, "matching.projection_catch_up", len(events) / catch_up, "events/s",
               {**context, "events": len(events), "seconds": round(catch_up, 1),
                "note": "fresh process replaying identity.events + catalog.events + booking.events (availability);"
                        " one transaction per fetched batch"})

        # The vector index: every distinct expertise text embedded once, in the background.
        deadline = time.monotonic() + 1800
        probe = {"goal": "algebra", "limit": 1}
        while (pending := http.post("/v1/recommendations", json=probe).json()["index"]["pending"]) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} texts still waiting for vectors after 30 minutes")
            time.sleep(1)
        indexed = time.perf_counter() - started - catch_up
        with psycopg.connect(db_url) as conn:
            distinct = conn.execute("SELECT count(*) FROM matching_bench_memo.embedding_cache").fetchone()[0]
        report(results, "matching.vector_index.seconds_after_catch_up", indexed, "s",
               {**context, "listings": n, "distinct_texts": distinct, "threads": 1,
                "note": "vectors computed once per distinct text, memoised by digest in PostgreSQL"})

        rnd = random.Random(3)
        from catalog.domain.taxonomy import DEFAULT, slug

        subject_ids = [slug(a, s) for a, subs in DEFAULT.items() for s in subs]
        mixes = [
            lambda: {"subject": rnd.choice(subject_ids)},
            lambda: {"subject": rnd.choice(subject_ids), "level": rnd.choice(LEVELS), "max_credits": 15},
            lambda: {"q": " ".join(rnd.sample(WORDS, 2))},
            lambda: {"near": f"{CITY[0]},{CITY[1]}", "within_km": 5, "sort": "distance", "mode": "in_person"},
            lambda: {"subject": rnd.choice(subject_ids), "language": "es", "style": "visual", "sort": "price"},
        ]
        latencies = timed(lambda i: http.get("/v1/search", params=mixes[i % len(mixes)]()), 100 if quick else 500)
        ctx = {**context, "tutors": n, "queries": len(latencies), "client": "sequential httpx over loopback",
               "requirement": "p95 < 50 ms (institution asked < 2 s)"}
        report(results, "matching.search.p50", percentile(latencies, 50), "ms", ctx)
        report(results, "matching.search.p95", percentile(latencies, 95), "ms", ctx)
        # Availability in the searcher's zone, against every tutor's open time in theirs.
        available = [
            lambda: {"available": "tue 18:00-20:00", "time_zone": rnd.choice(ZONES)},
            lambda: {"available": ["sat 10:00-12:00", "sun 14:00-16:00"], "time_zone": rnd.choice(ZONES),
                     "subject": rnd.choice(subject_ids)},
            lambda: {"available": "wed 17:00-20:00", "time_zone": "America/New_York", "session_minutes": 90,
                     "sort": "price", "max_credits": 15},
            lambda: {"available": "mon 00:00-24:00", "time_zone": "Asia/Kolkata", "q": " ".join(rnd.sample(WORDS, 2))},
        ]
        latencies = timed(lambda i: http.get("/v1/search", params=available[i % len(available)]()),
                          100 if quick else 400)
        ctx = {**ctx, "queries": len(latencies), "availability": f"{published:,} tutors published availability",
               "mix": "available windows in one of several zones, alone or with subject, price, words"}
        report(results, "matching.search_available.p50", percentile(latencies, 50), "ms", ctx)
        report(results, "matching.search_available.p95", percentile(latencies, 95), "ms", ctx)
        goals = list(NEEDS.values())
        needs = [
            lambda: {"goal": rnd.choice(goals)},
            lambda: {"goal": rnd.choice(goals), "subject": rnd.choice(subject_ids), "budget_credits": 15},
            lambda: {"goal": rnd.choice(goals), "near": f"{CITY[0]},{CITY[1]}", "within_km": 5, "mode": "in_person"},
            lambda: {"goal": rnd.choice(goals), "level": rnd.choice(LEVELS), "language": "es",
                     "preferred_times": ["tue 18:00-20:00", "sat 10:00-12:00"], "time_zone": rnd.choice(ZONES)},
        ]
        latencies = timed(lambda i: http.post("/v1/recommendations", json=needs[i % len(needs)]()),
                          60 if quick else 400)
        ctx = {**context, "tutors": n, "requests": len(latencies), "client": "sequential httpx over loopback",
               "includes": "embedding the goal (all-MiniLM-L6-v2, 1 thread) and ranking every candidate",
               "requirement": "p95 < 100 ms"}
        report(results, "matching.recommend.p50", percentile(latencies, 50), "ms", ctx)
        report(results, "matching.recommend.p95", percentile(latencies, 95), "ms", ctx)
        # The night before an exam: many learners at once against one replica (2 cores).
        rate, under_load = asyncio.run(concurrently(matching.url, http.headers["Authorization"],
                                                    [needs[i % len(needs)]() for i in range(80 if quick else 400)],
                                                    clients=8))
        load_ctx = {**ctx, "client": "8 concurrent httpx clients over loopback, one replica"}
        report(results, "matching.recommend.throughput_8_clients", rate, "requests/s", load_ctx)
        report(results, "matching.recommend.p95_8_clients", percentile(under_load, 95), "ms", load_ctx)
        assert matching.proc is not None
        report(results, "matching.rss", rss_mb(matching.proc.pid), "MB", {**context, "tutors": n})
    finally:
        matching.stop()
        identity.stop()
        broker.kill()
    return results
