"""`make up`: the whole platform on this machine, each service its own process.

Starts the embedded Kafka-API broker (Tansu, memory storage) and every service, waits
until each is ready, prints where they are, and stops everything on Ctrl-C. Data lives in
./data (SQLite) unless ALPHAPEER_DATABASE_URL points at PostgreSQL; a later `make up`
finds it again, and each service's outbox relay notices the empty broker and publishes
its history again, so every subscriber still sees every event.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from servicekit import devstack

ROOT = Path(__file__).resolve().parent.parent

#: name → (console script, port). A new service adds one line.
SERVICES: dict[str, tuple[str, int]] = {
    "identity": ("alphapeer-identity", 8001),
    "catalog": ("alphapeer-catalog", 8002),
    "matching": ("alphapeer-matching", 8003),
}


def port_of(name: str) -> int:
    """A service's port: ALPHAPEER_<NAME>_PORT overrides the default."""
    return int(os.environ.get(f"ALPHAPEER_{name.upper()}_PORT", SERVICES[name][1]))


def main() -> int:
    data = Path(os.environ.get("ALPHAPEER_DATA_DIR", ROOT / "data")).resolve()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    kafka_port = int(os.environ.get("ALPHAPEER_KAFKA_PORT", "19092"))
    external_kafka = os.environ.get("ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS")
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    if external_kafka:
        bootstrap = external_kafka
        print(f"broker     external Kafka at {bootstrap}")
    else:
        bootstrap = f"127.0.0.1:{kafka_port}"
        procs.append(("broker", devstack.start_tansu(kafka_port, logs / "broker.log")))
        print(f"broker     Tansu (embedded, memory) at {bootstrap}")
    db_url = os.environ.get("ALPHAPEER_DATABASE_URL", "")
    print(f"storage    {'PostgreSQL ' + db_url.split('@')[-1] if db_url else 'SQLite files in ' + str(data)}")
    base_env = {
        **os.environ,
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ALPHAPEER_DATA_DIR": str(data),
        "ALPHAPEER_JWKS_URL": f"http://127.0.0.1:{port_of('identity')}/.well-known/jwks.json",
        "ALPHAPEER_IDENTITY_PUBLIC_URL": f"http://127.0.0.1:{port_of('identity')}",
        "ALPHAPEER_CATALOG_PUBLIC_URL": f"http://127.0.0.1:{port_of('catalog')}",
        "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": os.environ.get(
            "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL", "admin@alphapeer.local"),
        "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": os.environ.get(
            "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD", "change-me-admin-pw"),
    }
    bindir = Path(sys.executable).parent
    for name, (script, _) in SERVICES.items():
        env = {**base_env, "ALPHAPEER_SERVICE_NAME": name, "ALPHAPEER_HTTP_PORT": str(port_of(name))}
        log_file = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        procs.append((name, subprocess.Popen([str(bindir / script)], env=env, stdout=log_file,
                                             stderr=subprocess.STDOUT)))

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
        print("stopped.")

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for name in SERVICES:
            port = port_of(name)
            wait_ready(name, port, procs, logs)
            print(f"{name:<10} http://127.0.0.1:{port}   docs http://127.0.0.1:{port}/docs")
        print(f"\nlogs in {logs}; mail in {data / 'mail'}. Ctrl-C stops everything.")
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


def wait_ready(name: str, port: int, procs: list[tuple[str, subprocess.Popen[bytes]]], logs: Path,
               timeout: float = 60.0) -> None:
    def dead() -> str | None:
        for pname, proc in procs:
            if proc.poll() is not None:
                return f"{pname} exited with {proc.returncode}; see {logs / (pname + '.log')}"
        return None

    devstack.wait_http_ready(f"http://127.0.0.1:{port}", dead, timeout)


if __name__ == "__main__":
    sys.exit(main())
