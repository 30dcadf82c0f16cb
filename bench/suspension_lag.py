"""How soon another service refuses a suspended user: identity and catalog as real
processes on PostgreSQL and the embedded broker. Each sample suspends a user in identity
and polls catalog with the user's (still valid) access token until it answers 403; then
reinstates and polls until 200. The path: identity's commit → its outbox relay → Kafka →
catalog's account-blocks subscriber (tracked projection) → each replica's read-back."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from servicekit import devstack
from servicekit.testing import ServiceProcess

ADMIN = ("admin@alphapeer.bench", "admin-password-123")


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import percentile, report

    results: list[dict[str, Any]] = []
    print("suspension")
    port = devstack.free_port()
    broker = devstack.start_tansu(port)
    tmp = Path(tempfile.mkdtemp(prefix="alphapeer-bench-"))
    common = {"ALPHAPEER_DATABASE_URL": db_url, "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
              "ALPHAPEER_DATA_DIR": str(tmp), "ALPHAPEER_LOG_LEVEL": "WARNING",
              "ALPHAPEER_KAFKA_SESSION_TIMEOUT_MS": "3000", "ALPHAPEER_KAFKA_HEARTBEAT_INTERVAL_MS": "500"}
    identity = ServiceProcess("alphapeer-identity", env={
        **common, "ALPHAPEER_DATABASE_SCHEMA": "identity_susp", "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": ADMIN[0],
        "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1]}, log=tmp / "identity.log")
    catalog = ServiceProcess("alphapeer-catalog", env={**common, "ALPHAPEER_DATABASE_SCHEMA": "catalog_susp"},
                             log=tmp / "catalog.log")
    try:
        identity.start()
        catalog.start(ALPHAPEER_JWKS_URL=f"{identity.url}/.well-known/jwks.json")
        with httpx.Client(timeout=10) as http:
            registration = {"email": "suspended@uni.example", "password": "a-long-password-1", "display_name": "S"}
            user = http.post(f"{identity.url}/v1/auth/register", json=registration).json()["user_id"]

            def token(email: str, password: str) -> dict[str, str]:
                r = http.post(f"{identity.url}/v1/auth/login", json={"email": email, "password": password})
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            theirs, staff = token("suspended@uni.example", "a-long-password-1"), token(*ADMIN)
            probe = f"{catalog.url}/v1/tutors/{user}/standing"

            def until(status: int) -> float:
                start = time.perf_counter()
                while http.get(probe, headers=theirs).status_code != status:
                    if time.perf_counter() - start > 30:
                        raise TimeoutError(f"catalog never answered {status}")
                    time.sleep(0.005)
                return (time.perf_counter() - start) * 1000

            until(200)
            suspension = f"{identity.url}/v1/users/{user}/suspension"
            # The first round trip includes catalog's consumers joining their groups: not timed.
            http.post(suspension, headers=staff, json={"reason_code": "conduct"}).raise_for_status()
            until(403)
            http.delete(suspension, headers=staff).raise_for_status()
            until(200)
            refused, accepted = [], []
            for _ in range(5 if quick else 20):
                http.post(suspension, headers=staff, json={"reason_code": "conduct"}).raise_for_status()
                refused.append(until(403))
                http.delete(suspension, headers=staff).raise_for_status()
                accepted.append(until(200))
        ctx = {**context, "samples": len(refused), "note": "identity's 200 → catalog's 403 (suspended) / 200"}
        report(results, "suspension.refused_everywhere.p50", percentile(refused, 50), "ms", ctx)
        report(results, "suspension.refused_everywhere.p95", percentile(refused, 95), "ms", ctx)
        report(results, "suspension.reinstated_everywhere.p50", percentile(accepted, 50), "ms", ctx)
    finally:
        catalog.stop()
        identity.stop()
        broker.kill()
    return results
