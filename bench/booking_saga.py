"""The booking saga end to end: booking and ledger as real processes on PostgreSQL and the
embedded broker. A booking is timed from just before the learner's HTTP request to the
moment booking recorded it confirmed (its timeline's `confirmed` step, same machine clock):
request → BookingRequested committed → booking's relay → Kafka → the ledger's batch reaction
holds the credits → EscrowHeld → ledger's relay → Kafka → booking confirms.

What catalog and identity would say (listings, registrations) is published onto their topics
as they publish it; tokens are signed by the test issuer, served as a JWKS. Figures:
- the latency at a steady rate for several `fetch_max_wait_ms` (every hop of the saga waits
  up to it on this broker: it is chosen, not defaulted), p50/p95/p99;
- the highest sustained rate: offered rates in steps; a step is sustained when ≥ 95 % of its
  bookings are confirmed within 2 s and nothing answered 5xx;
- PostgreSQL's single-row commits per second in the same run, and the ratios to it."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts.base import IntegrationEvent
from servicekit import devstack, envelope
from servicekit.testing import ISSUER, ServiceProcess, serve_jwks

RATE = 20  # credits an hour
TUTORS, LEARNERS = 40, 120
CONFIRMED_WITHIN = 2.0  # seconds: a sustained step confirms 95 % of its bookings within this


async def create_topics(bootstrap: str, topics: list[str]) -> None:
    """The topics of the services not running here, shaped as they would create them
    (created by a consumer's metadata request, the broker would give them one partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics])
    finally:
        await admin.close()


#: Positions in the producing services' logs: rising across every run on one broker, as a
#: relay's notification ids do (a consumer takes a position it has seen for a redelivery).
_positions = itertools.count(1)


async def publish(bootstrap: str, events: list[IntegrationEvent]) -> None:
    """Onto the producing service's topic, enveloped as its relay does."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            key, value, headers = envelope.wrap(event, source=f"/alphapeer/{event.service}",
                                                sequence=next(_positions), ce_id=str(uuid.uuid4()))
            await producer.send_and_wait(event.topic(), value, key=key, headers=list(headers))
    finally:
        await producer.stop()


class Saga:
    """Tutors, learners and a clock of free hours: booking k never meets another booking
    of its tutor or its learner (each hour, every tutor once, each learner at most once)."""

    def __init__(self, booking: str, ledger: str) -> None:
        self.booking, self.ledger = booking, ledger
        self.tutors = [(uuid.uuid4(), uuid.uuid4()) for _ in range(TUTORS)]  # (tutor, listing)
        self.learners = [uuid.uuid4() for _ in range(LEARNERS)]
        self.start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        self.k = 0

    def next_request(self) -> tuple[dict[str, str], dict[str, Any]]:
        k, self.k = self.k, self.k + 1
        hour, t = divmod(k, TUTORS)
        _, listing = self.tutors[t]
        learner = self.learners[(t + hour) % LEARNERS]
        at = self.start + timedelta(hours=hour)
        return ISSUER.headers(learner, "student"), {
            "listing_id": str(listing), "minutes": 60, "starts_at": [at.isoformat().replace("+00:00", "Z")]}

    async def prepare(self, bootstrap: str, http: httpx.AsyncClient, bookings: int) -> None:
        now = datetime.now(UTC)
        await publish(bootstrap, [cat.ListingPublished(listing_id=listing, occurred_at=now, listing=cat.ListingSnapshot(
            tutor_id=tutor, title="Mechanics", subjects=[], languages=["en"], rate=cat.Rate(credits_per_hour=RATE),
            session_minutes=[60], modes=["online"])) for tutor, listing in self.tutors])
        await publish(bootstrap, [idc.UserRegistered(user_id=u, display_name="L", roles=["student"], occurred_at=now)
                                  for u in self.learners])
        always = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]
        for tutor, _ in self.tutors:
            r = await http.put(f"{self.booking}/v1/tutors/me/availability", headers=ISSUER.headers(tutor, "tutor"),
                               json={"time_zone": "UTC", "weekly": always, "instant_book": True,
                                     "min_notice_minutes": 0, "horizon_days": 90})
            r.raise_for_status()
        credits = (bookings // TUTORS + 2) * RATE  # a learner has at most one booking an hour
        staff_id = uuid.uuid4()
        for learner in self.learners:
            while True:  # until the ledger has opened the wallet (from identity's event); a new key
                # each time: an answer is kept for its key, and "no such user" was true then
                staff = {**ISSUER.headers(staff_id, "staff"), "Idempotency-Key": uuid.uuid4().hex}
                r = await http.post(f"{self.ledger}/v1/grants", headers=staff,
                                    json={"user_id": str(learner), "currency": "XAP", "amount": credits,
                                          "kind": "allowance"})
                if r.status_code == 201:
                    break
                if r.status_code != 404:  # 404: the ledger has not read the registration yet
                    raise RuntimeError(f"grant refused: {r.status_code} {r.text}")
                await asyncio.sleep(0.1)
        _, listing = self.tutors[-1]
        while True:  # until booking has every listing (the last one published last)
            r = await http.post(f"{self.booking}/v1/quotes", headers=ISSUER.headers(self.learners[0], "student"),
                                json={"listing_id": str(listing), "minutes": 60,
                                      "starts_at": [(self.start + timedelta(days=80)).isoformat()]})
            if r.status_code == 200:
                return
            if "no such listing" not in r.text:
                raise RuntimeError(f"quote refused: {r.status_code} {r.text}")
            await asyncio.sleep(0.1)

    async def offer(self, http: httpx.AsyncClient, rate: float, count: int) -> list[tuple[float, str | None, int]]:
        """``count`` bookings at ``rate`` a second: (sent at, booking id, status) each."""
        async def one(at: float) -> tuple[float, str | None, int]:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            headers, body = self.next_request()
            sent = time.time()
            try:
                r = await http.post(f"{self.booking}/v1/bookings", headers=headers, json=body)
            except httpx.HTTPError:
                return sent, None, 0
            return sent, (r.json()["booking_id"] if r.status_code == 201 else None), r.status_code

        t0 = time.monotonic() + 0.05
        return await asyncio.gather(*(one(t0 + i / rate) for i in range(count)))

    async def burst(self, clients: int) -> dict[str, int]:
        """``clients`` learners booking at the same moment, each on a connection of its own:
        how they were answered (status, ``503 without Retry-After``, or the client error)."""
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
        requests = [self.next_request() for _ in range(clients)]
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            async def one(headers: dict[str, str], body: dict[str, Any]) -> str:
                try:
                    r = await http.post(f"{self.booking}/v1/bookings", headers=headers, json=body)
                except httpx.HTTPError as exc:
                    return type(exc).__name__
                if r.status_code == 503 and not r.headers.get("retry-after"):
                    return "503 without Retry-After"
                return str(r.status_code)

            answers = await asyncio.gather(*(one(h, b) for h, b in requests))
        return dict(Counter(answers))

    async def statuses(self, http: httpx.AsyncClient, sent: list[tuple[float, str | None, int]],
                       lat: list[float | None]) -> dict[str, int]:
        """What became of the bookings not confirmed in time (HTTP status, or booking status)."""
        out: dict[str, int] = {}
        for (_, bid, status), x in zip(sent, lat, strict=True):
            if x is not None:
                continue
            what = f"http {status}"
            if bid is not None:
                r = await http.get(f"{self.booking}/v1/bookings/{bid}", headers=ISSUER.headers(None, "staff"))
                what = str(r.json().get("status")) if r.status_code == 200 else f"read {r.status_code}"
            out[what] = out.get(what, 0) + 1
        return out

    async def latencies(self, http: httpx.AsyncClient, sent: list[tuple[float, str | None, int]],
                        wait: float = 10.0) -> list[float | None]:
        """Seconds from each request to its confirmation (None: not confirmed within ``wait``)."""
        deadline = time.monotonic() + wait
        out: list[float | None] = []
        for at, bid, _ in sent:
            if bid is None:
                out.append(None)
                continue
            confirmed = None
            while confirmed is None:
                r = await http.get(f"{self.booking}/v1/bookings/{bid}", headers=ISSUER.headers(None, "staff"))
                steps = [s for s in r.json()["timeline"] if s["what"] == "confirmed"]
                if steps:
                    confirmed = datetime.fromisoformat(steps[0]["at"].replace("Z", "+00:00")).timestamp() - at
                elif time.monotonic() > deadline:
                    break
                else:
                    await asyncio.sleep(0.05)
            out.append(confirmed)
        return out


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report
    from bench.matching_search import rss_mb
    from bench.relay_lag import _pg_commit_rate

    results: list[dict[str, Any]] = []
    print("booking saga", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-saga-"))
    waits = [5, 10, 100] if not quick else [10]
    chosen_wait = 10  # the services' default (see booking's settings for why)
    steady_rate, steady_n = (10, 40) if quick else (10, 150)  # well below the knee: the path, not a queue
    # Offered rates climb until one is not sustained (the knee): the figure is the last one that was.
    steps = [20, 40] if quick else [20, 30, 40, 50, 60, 80, 100, 150, 200, 300]
    step_seconds = 3 if quick else 5
    burst = 200 if quick else 1000
    with serve_jwks() as jwks:
        before = _pg_commit_rate(db_url)
        chosen: dict[str, Any] = {}
        for i, wait in enumerate(waits):
            # A deployment of its own each time, broker included: two booking databases
            # publishing onto one topic would reuse positions, which consumers take for
            # redeliveries (as they must).
            port = devstack.free_port()
            broker = devstack.start_tansu(port)
            bootstrap = f"127.0.0.1:{port}"
            common = {"ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                      "ALPHAPEER_JWKS_URL": jwks, "ALPHAPEER_LOG_LEVEL": "WARNING",
                      "ALPHAPEER_ACCESS_LOG": "false", "ALPHAPEER_RELAY_POLL_INTERVAL": "0.2",
                      "ALPHAPEER_KAFKA_SESSION_TIMEOUT_MS": "3000", "ALPHAPEER_KAFKA_HEARTBEAT_INTERVAL_MS": "500"}
            schema = f"saga{i}"
            procs = {name: ServiceProcess(f"alphapeer-{name}", log=tmp / f"{name}-{wait}.log", env={
                **common, "ALPHAPEER_SERVICE_NAME": name, "ALPHAPEER_DATABASE_SCHEMA": f"{schema}_{name}",
                "ALPHAPEER_DATA_DIR": str(tmp / f"{name}-{wait}"), "ALPHAPEER_KAFKA_FETCH_MAX_WAIT_MS": str(wait)})
                for name in ("booking", "ledger")}
            try:
                asyncio.run(create_topics(bootstrap, ["identity.events", "catalog.events", "sessions.events"]))
                for p in procs.values():
                    p.start(wait=False)
                for p in procs.values():
                    p.wait_ready()
                measured = wait == chosen_wait
                figures = asyncio.run(_measure(procs["booking"].url, procs["ledger"].url, bootstrap,
                                               steady_rate, steady_n, steps if measured else [], step_seconds,
                                               burst if measured else 0))
                ctx = {**context, "fetch_max_wait_ms": wait, "rate_per_s": steady_rate,
                       "bookings": steady_n, "tutors": TUTORS, "learners": LEARNERS,
                       "path": "POST /v1/bookings → held by the ledger → confirmed (two Kafka hops, two relays)"}
                lat = figures["latencies_ms"]
                for q in (50, 95, 99):
                    report(results, f"saga.wait_{wait}ms.p{q}", percentile(lat, q), "ms", ctx)
                report(results, f"saga.wait_{wait}ms.unconfirmed", figures["unconfirmed"], "bookings",
                       {**ctx, "what_became_of_them": figures["unconfirmed_status"]})
                if figures["unconfirmed_status"]:
                    print(f"    not confirmed in time: {figures['unconfirmed_status']}", flush=True)
                if measured:
                    chosen = {"wait": wait, **figures,
                              "rss": {n: rss_mb(p.proc.pid) for n, p in procs.items() if p.proc}}
            finally:
                for p in procs.values():
                    p.stop()
                broker.kill()
        after = _pg_commit_rate(db_url)
    ceiling = (before + after) / 2
    ctx = {**context, "fetch_max_wait_ms": chosen.get("wait"), "step_seconds": step_seconds,
           "sustained_when": f">= 95% confirmed within {CONFIRMED_WITHIN} s, no 5xx"}
    report(results, "postgres.single_row_commits", ceiling, "commits/s", ctx)
    best = 0.0
    for step in chosen.get("steps", []):
        report(results, f"saga.offered_{step['rate']}_per_s.confirmed_within_2s", step["share"] * 100, "%",
               {**ctx, "p50_ms": step["p50"], "p99_ms": step["p99"], "5xx": step["errors"],
                "503": step["busy"], "achieved_per_s": step["achieved"]})
        if step["sustained"]:
            best = max(best, step["achieved"])
    report(results, "saga.max_sustained_bookings_per_s", best, "bookings/s", ctx)
    report(results, "saga.max_sustained.ratio_to_pg_commits", best / ceiling, "ratio", ctx)
    answers = chosen.get("burst", {})
    if answers:
        bctx = {**ctx, "clients": burst, "answers": answers,
                "rule": "every answer a 201 or a 503 with Retry-After; never a 5xx or a dropped connection"}
        report(results, f"saga.burst_{burst}.created", answers.get("201", 0), "requests", bctx)
        report(results, f"saga.burst_{burst}.refused_503", answers.get("503", 0), "requests", bctx)
        report(results, f"saga.burst_{burst}.errors", sum(v for k, v in answers.items() if k not in ("201", "503")),
               "requests", bctx)
    for name, mib in chosen.get("rss", {}).items():
        report(results, f"saga.{name}.rss_after_load", mib, "MiB", ctx)
    return results


async def _measure(booking: str, ledger: str, bootstrap: str, rate: int, n: int, steps: list[int],
                   step_seconds: float, burst: int) -> dict[str, Any]:
    from bench.__main__ import percentile

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        saga = Saga(booking, ledger)
        await saga.prepare(bootstrap, http, n + sum(int(s * step_seconds) for s in steps) + burst + 20)
        await saga.latencies(http, await saga.offer(http, 10, 20))  # warm-up: groups joined, pools filled
        sent = await saga.offer(http, rate, n)
        lat = await saga.latencies(http, sent)
        figures: dict[str, Any] = {"latencies_ms": [x * 1000 for x in lat if x is not None],
                                   "unconfirmed": sum(1 for x in lat if x is None), "steps": [],
                                   "unconfirmed_status": await saga.statuses(http, sent, lat)}
        for offered in steps:
            started = time.monotonic()
            sent = await saga.offer(http, offered, int(offered * step_seconds))
            elapsed = time.monotonic() - started
            lat = await saga.latencies(http, sent, wait=15)
            ok = [x for x in lat if x is not None and x <= CONFIRMED_WITHIN]
            errors = sum(1 for _, _, s in sent if (s >= 500 and s != 503) or s == 0)
            busy = sum(1 for _, _, s in sent if s == 503)
            share = len(ok) / len(sent)
            confirmed = [x * 1000 for x in lat if x is not None]
            figures["steps"].append({
                "rate": offered, "share": share, "errors": errors, "busy": busy,
                "achieved": len(ok) / max(elapsed, step_seconds), "sustained": share >= 0.95 and errors == 0,
                "p50": round(percentile(confirmed, 50), 1), "p99": round(percentile(confirmed, 99), 1)})
            if not figures["steps"][-1]["sustained"]:
                break  # past the knee: the next steps only pile up
            await asyncio.sleep(1)
        if burst:
            await asyncio.sleep(3)
            figures["burst"] = await saga.burst(burst)
        return figures
