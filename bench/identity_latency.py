"""Identity through its HTTP gateway, as a real process on PostgreSQL: registration and
login latency (argon2id dominates both, by design), and an authenticated read."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from servicekit import devstack
from servicekit.testing import ServiceProcess


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report

    results: list[dict[str, Any]] = []
    print("identity")
    port = devstack.free_port()
    broker = devstack.start_tansu(port)
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-"))
    proc = ServiceProcess("alphapeer-identity", env={
        "ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_DATABASE_SCHEMA": "identity_bench",
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}", "ALPHAPEER_DATA_DIR": str(tmp),
        "ALPHAPEER_LOG_LEVEL": "WARNING"}, log=tmp / "identity.log")
    try:
        proc.start()
        n = 20 if quick else 100
        with httpx.Client(base_url=proc.url, timeout=30) as http:
            reg: list[float] = []
            for i in range(n):
                t = time.perf_counter()
                r = http.post("/v1/auth/register", json={"email": f"bench{i}@uni.example",
                                                          "password": "a-long-password-1", "display_name": f"B {i}"})
                reg.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            logins: list[float] = []
            token = ""
            for i in range(n):
                t = time.perf_counter()
                r = http.post("/v1/auth/login", json={"email": f"bench{i % n}@uni.example",
                                                       "password": "a-long-password-1"})
                logins.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                token = r.json()["access_token"]
            reads: list[float] = []
            for _ in range(n * 2):
                t = time.perf_counter()
                http.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"}).raise_for_status()
                reads.append((time.perf_counter() - t) * 1000)
        ctx = {**context, "samples": n, "client": "sequential httpx over loopback"}
        for name, values in (("register", reg), ("login", logins), ("me", reads)):
            report(results, f"identity.{name}.p50", percentile(values, 50), "ms", ctx)
            report(results, f"identity.{name}.p95", percentile(values, 95), "ms", ctx)
    finally:
        proc.stop()
        broker.kill()
    return results
