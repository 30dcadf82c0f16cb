"""`make bench`: benchmarks that print their figures and write them to
bench/results/latest.json as a list of {name, value, unit, context}.

Runs on the embedded broker (Tansu) and the PostgreSQL named by ALPHAPEER_TEST_POSTGRES, or
else a local one from the pinned wheel (durable settings, as `make up` runs it: the raw
ceilings below are measured on the same server), in a throw-away database."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import (
    booking_saga,
    identity_latency,
    ledger_transfers,
    login_storm,
    matching_search,
    queue_live,
    recommend_quality,
    relay_lag,
    suspension_lag,
    tutoring_loop,
)
from servicekit.pgserver import LocalPostgres

ROOT = Path(__file__).resolve().parent
#: The server's admin URL, for figures that make their own database (read when a bench
#: module imports it, after main() has started the server and named it here).
ADMIN_URL = os.environ.get("ALPHAPEER_TEST_POSTGRES", "")

def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["relay", "identity", "login", "suspension", "matching", "quality",
                                             "ledger", "saga", "loop", "queue"],
                        default=None)
    parser.add_argument("--quick", action="store_true", help="smaller samples (CI smoke)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        admin_url = os.environ.get("ALPHAPEER_TEST_POSTGRES")
        if not admin_url:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="alphapeer-bench-pg-"))
            server = stack.enter_context(LocalPostgres())  # stopped before its folder goes
            admin_url = server.start(Path(folder) / "data")
            os.environ["ALPHAPEER_TEST_POSTGRES"] = admin_url
        return _run(args, admin_url)


def _run(args: argparse.Namespace, admin_url: str) -> int:
    name = f"alphapeer_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = admin_url.rpartition("/")[0] + "/" + name
    results: list[dict[str, Any]] = []
    context = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "python": platform.python_version(),
               "broker": "tansu (memory)", "database": "postgresql"}
    try:
        if args.only in (None, "relay"):
            results += relay_lag.run(db_url, context, quick=args.quick)
        if args.only in (None, "identity"):
            results += identity_latency.run(db_url, context, quick=args.quick)
        if args.only in (None, "login"):
            results += login_storm.run(db_url, context, quick=args.quick)
        if args.only in (None, "suspension"):
            results += suspension_lag.run(db_url, context, quick=args.quick)
        if args.only in (None, "quality"):
            results += recommend_quality.run(context, db_url)
        if args.only in (None, "matching"):
            results += matching_search.run(db_url, context, quick=args.quick)
        if args.only in (None, "ledger"):
            results += ledger_transfers.run(db_url, context, quick=args.quick)
        if args.only in (None, "saga"):
            results += booking_saga.run(db_url, context, quick=args.quick)
        if args.only in (None, "loop"):
            results += tutoring_loop.run(db_url, context, quick=args.quick)
        if args.only in (None, "queue"):
            results += queue_live.run(db_url, context, quick=args.quick)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = ROOT / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {len(results)} figures to {out.relative_to(ROOT.parent)}")
    return 0


def report(results: list[dict[str, Any]], name: str, value: float, unit: str, context: dict[str, Any]) -> None:
    results.append({"name": name, "value": round(value, 3), "unit": unit, "context": context})
    print(f"  {name:<48} {value:>12.3f} {unit}", flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def now() -> float:
    return time.perf_counter()


if __name__ == "__main__":
    sys.exit(main())
