"""A sign-in storm against identity as a real process on PostgreSQL, configured as its
Kubernetes manifests configure it (hashing slots and deadline from its ConfigMap), and
measured against its pod's memory limit (from its Deployment).

Scenarios, each with N clients starting at once (httpx async, a client and connection of
its own each, so N requests are in flight together), each client signing in ``rounds`` times
in a row as its own address (behind one trusted proxy, as behind the ingress):

- ``login_storm.<N>``: N = 100 and 500 people signing in with the right password;
- ``login_stuffing.50x10``: credential stuffing from one address: 50 clients at once, each
  trying 10 accounts with a guessed password in a row; past the address's limit (100 failures
  a window) every attempt is a 429, answered before any hashing.

Clients honour Retry-After: a 503 is tried again after it (with jitter). Reported per
scenario: answers by kind (200/401, 429, 503, any other 5xx — which must be 0), p95 latency
of all answers and of each sign-in until its final answer (retries included), successful
sign-ins per second until everyone is through, and the process's peak RSS
(VmHWM, reset before each scenario) against the pod limit. PostgreSQL's single-row commit
rate is printed as the machine's ceiling (a login is CPU-bound by argon2id, not by commits:
the ratio shows how far from it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from servicekit import devstack
from servicekit.testing import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "deploy" / "k8s" / "base" / "identity"
PASSWORD = "a-long-password-1"


def manifest_settings() -> tuple[dict[str, str], float]:
    """Identity's ALPHAPEER_IDENTITY_HASH_* from its ConfigMap, and its pod memory limit in MiB."""
    config = yaml.safe_load((MANIFESTS / "configmap.yaml").read_text())["data"]
    hashing = {k: str(v) for k, v in config.items() if k.startswith("ALPHAPEER_IDENTITY_HASH_")}
    deployment = yaml.safe_load((MANIFESTS / "deployment.yaml").read_text())
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "identity"]
    limit = str(container["resources"]["limits"]["memory"])
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", limit).groups()  # type: ignore[union-attr]
    return hashing, float(number) * (1024 if unit == "Gi" else 1)


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    """VmHWM starts again from the current RSS (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


#: A client asked to come back (503) does, after Retry-After and a little jitter, this often.
MAX_TRIES = 40


async def storm(url: str, clients: int, rounds: int, who: Any,
                ) -> tuple[Counter[int], Counter[str], list[float], list[float], float]:
    """``clients`` concurrent clients, each ``rounds`` sign-ins in a row; ``who(i, r)`` gives the
    body and the client address of client i's round r. A 503 is retried after its Retry-After,
    as a client should. Statuses of every answer (0: no answer), the errors behind the
    no-answers, every answer's latency, each sign-in's time to its final answer (retries
    included), and the wall time."""
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    latencies: list[float] = []
    settled: list[float] = []
    # A client of its own per person, as browsers are: one shared pool of N connections costs
    # the load generator O(N) per request (httpx scans its pool), which measured the client.
    # Idle connections are dropped before the server's 5 s keep-alive ends them under a send.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=2.0)
    async with contextlib.AsyncExitStack() as stack:
        https = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, limits=limits,
                                                                   timeout=httpx.Timeout(120.0)))
                 for _ in range(clients)]
        go = asyncio.Event()

        async def client(i: int) -> None:
            http = https[i]
            await go.wait()
            for r in range(rounds):
                body, address = who(i, r)
                first = time.perf_counter()
                for _ in range(MAX_TRIES):
                    t = time.perf_counter()
                    try:
                        resp = await http.post("/v1/auth/login", json=body, headers={"X-Forwarded-For": address})
                        statuses[resp.status_code] += 1
                    except httpx.HTTPError as exc:
                        statuses[0] += 1  # no answer at all: counted, never hidden
                        failures[type(exc).__name__] += 1
                        resp = None
                    latencies.append((time.perf_counter() - t) * 1000)
                    if resp is None or resp.status_code != 503:
                        break
                    wait = float(resp.headers.get("retry-after", "1"))
                    await asyncio.sleep(wait + random.uniform(0, 1))
                settled.append((time.perf_counter() - first) * 1000)

        tasks = [asyncio.create_task(client(i)) for i in range(clients)]
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return statuses, failures, latencies, settled, elapsed


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report
    from bench.relay_lag import _pg_commit_rate

    results: list[dict[str, Any]] = []
    print("login storm")
    hashing, pod_limit_mib = manifest_settings()
    port = devstack.free_port()
    broker = devstack.start_tansu(port)
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-"))
    proc = ServiceProcess("alphapeer-identity", env={
        "ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_DATABASE_SCHEMA": "identity_storm",
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}", "ALPHAPEER_DATA_DIR": str(tmp),
        "ALPHAPEER_LOG_LEVEL": "WARNING", "ALPHAPEER_IDENTITY_TRUSTED_PROXY_HOPS": "1", **hashing,
    }, log=tmp / "identity.log")
    accounts = 40 if quick else 200
    try:
        proc.start()
        assert proc.proc is not None
        pid = proc.proc.pid
        ceiling = _pg_commit_rate(db_url)
        with httpx.Client(base_url=proc.url, timeout=60) as http:
            for i in range(accounts):
                while True:  # registration hashes too: a 503 here only means "again"
                    r = http.post("/v1/auth/register", json={"email": f"storm{i}@uni.example", "password": PASSWORD,
                                                             "display_name": f"Storm {i}"})
                    if r.status_code != 503:
                        r.raise_for_status()
                        break
        idle_mib = status_kb(pid, "VmRSS") / 1024
        ctx = {**context, "hash_settings": hashing or "defaults", "pod_limit_mib": pod_limit_mib,
               "accounts": accounts, "client": "httpx async, one connection per client, X-Forwarded-For per client"}
        report(results, "postgres.single_row_commits", ceiling, "commits/s", ctx)
        report(results, "identity.idle_rss", idle_mib, "MiB", ctx)

        scenarios: list[tuple[str, int, int, Any]] = [
            (f"login_storm.{n}", n, 1 if quick else 2,
             lambda i, r: ({"email": f"storm{(i * 7 + r) % accounts}@uni.example", "password": PASSWORD},
                           f"10.{i // 250}.{i % 250}.{r + 1}"))
            for n in ((50,) if quick else (100, 500))
        ]
        scenarios.append(("login_stuffing.50x10", 50, 10,
                          lambda i, r: ({"email": f"victim{i * 10 + r}@uni.example", "password": "guessed-password-1"},
                                        "203.0.113.66")))
        for name, clients, rounds, who in scenarios:
            reset_peak(pid)
            statuses, failures, latencies, settled, elapsed = asyncio.run(storm(proc.url, clients, rounds, who))
            peak_mib = status_kb(pid, "VmHWM") / 1024
            other_5xx = sum(v for k, v in statuses.items() if k >= 500 and k != 503) + statuses.get(0, 0)
            sctx = {**ctx, "clients": clients, "rounds": rounds, "answers": dict(sorted(statuses.items())),
                    "no_answer": dict(failures), "seconds": round(elapsed, 2),
                    "p50_ms": round(percentile(latencies, 50), 1), "load_average": os.getloadavg(),
                    "retry": f"503 retried after Retry-After + 0-1 s jitter, up to {MAX_TRIES} tries"}
            print(f"  {name}: {dict(sorted(statuses.items()))} {dict(failures) or ''} in {elapsed:.1f} s", flush=True)
            report(results, f"{name}.ok", statuses.get(200, 0), "answers", sctx)
            if "stuffing" in name:
                report(results, f"{name}.refused_401", statuses.get(401, 0), "answers", sctx)
            report(results, f"{name}.limited_429", statuses.get(429, 0), "answers", sctx)
            report(results, f"{name}.busy_503", statuses.get(503, 0), "answers", sctx)
            report(results, f"{name}.other_5xx", other_5xx, "answers", sctx)
            report(results, f"{name}.p95", percentile(latencies, 95), "ms", sctx)
            report(results, f"{name}.settled_p95", percentile(settled, 95), "ms",
                   {**sctx, "note": "from a sign-in's first try to its final answer, retries after 503 included"})
            report(results, f"{name}.logins_per_s", statuses.get(200, 0) / elapsed, "logins/s",
                   {**sctx, "ratio_to_pg_commit_ceiling": round(statuses.get(200, 0) / elapsed / ceiling, 4)})
            report(results, f"{name}.peak_rss", peak_mib, "MiB", sctx)
            report(results, f"{name}.peak_rss_of_pod_limit", peak_mib / pod_limit_mib, "ratio", sctx)
            if other_5xx:
                print(f"  !! {name}: {other_5xx} answers were 5xx other than 503 (or no answer): see {proc.log}")
    finally:
        proc.stop()
        broker.kill()
    return results
