"""The drop-in queue as students meet it: the centres service as a real process on the broker
and PostgreSQL, a queue with 200 students waiting, and live views open (Server-Sent Events).

- joins per second: 200 students joining, 16 at a time;
- join → seen: a student joins, and the time until another student's open live view shows the
  queue one longer (each of 20 watchers, for each of 20 joins);

against a PostgreSQL single-row commit measured in the same run."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from servicekit import devstack
from servicekit.testing import ISSUER, ServiceProcess, serve_jwks


async def _watch(url: str, headers: dict[str, str], seen: list[tuple[float, int]], ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=None) as http, http.stream("GET", url, headers=headers) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                seen.append((time.perf_counter(), int(json.loads(line[6:])["in_line"])))
                ready.set()


async def _measure(base: str, students: int, watchers: int, joins: int) -> dict[str, Any]:
    admin = ISSUER.headers(uuid.uuid4(), "admin")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        cid = (await http.post("/v1/centres", json={"name": "Bench Lab", "time_zone": "UTC"}, headers=admin)
               ).json()["centre_id"]
        await http.put(f"/v1/centres/{cid}/queue/state", json={"state": "open"}, headers=admin)
        people = [uuid.uuid4() for _ in range(students)]
        gate = asyncio.Semaphore(16)

        async def join(who: uuid.UUID) -> int:
            async with gate:
                r = await http.post(f"/v1/centres/{cid}/queue", json={}, headers=ISSUER.headers(who, "student"))
                return r.status_code

        t0 = time.perf_counter()
        codes = await asyncio.gather(*(join(p) for p in people))
        joins_per_s = students / (time.perf_counter() - t0)
        assert codes.count(201) == students, codes

        logs: list[list[tuple[float, int]]] = [[] for _ in range(watchers)]
        readies = [asyncio.Event() for _ in range(watchers)]
        tasks = [asyncio.create_task(_watch(f"{base}/v1/centres/{cid}/queue/stream",
                                            ISSUER.headers(people[i], "student"), logs[i], readies[i]))
                 for i in range(watchers)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        lags: list[float] = []
        for n in range(joins):
            expected = students + n + 1
            sent = time.perf_counter()
            r = await http.post(f"/v1/centres/{cid}/queue", json={}, headers=ISSUER.headers(uuid.uuid4(), "student"))
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 10
            while any(not any(c >= expected for _, c in log) for log in logs) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            for log in logs:
                at = next((t for t, c in log if c >= expected), None)
                if at is not None:
                    lags.append((at - sent) * 1000)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"joins_per_s": joins_per_s, "lags": lags, "expected": watchers * joins}


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report
    from bench.relay_lag import _pg_commit_rate

    results: list[dict[str, Any]] = []
    students, watchers, joins = (60, 10, 10) if quick else (200, 20, 20)
    print(f"drop-in queue ({students} waiting, {watchers} live views)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-queue-"))
    commit_ms = 1000 / _pg_commit_rate(db_url)
    port = devstack.free_port()
    broker = devstack.start_tansu(port)
    try:
        with serve_jwks() as jwks:
            proc = ServiceProcess("alphapeer-centres", log=tmp / "centres.log", env={
                "ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
                "ALPHAPEER_JWKS_URL": jwks, "ALPHAPEER_LOG_LEVEL": "WARNING", "ALPHAPEER_ACCESS_LOG": "false",
                "ALPHAPEER_SERVICE_NAME": "centres", "ALPHAPEER_DATABASE_SCHEMA": "queue_bench_centres",
                "ALPHAPEER_DATA_DIR": str(tmp / "centres")})
            proc.start()
            try:
                figures = asyncio.run(_measure(proc.url, students, watchers, joins))
            finally:
                proc.stop()
    finally:
        broker.kill()
        broker.wait(timeout=10)
    lags = figures["lags"]
    report(results, "queue_joins_per_s", figures["joins_per_s"], "joins/s", context)
    report(results, "queue_join_seen_p50", percentile(lags, 50), "ms", context)
    report(results, "queue_join_seen_p95", percentile(lags, 95), "ms", context)
    report(results, "queue_join_seen_missed", figures["expected"] - len(lags), "views", context)
    report(results, "pg_single_row_commit", commit_ms, "ms", context)
    return results
