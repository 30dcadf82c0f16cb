"""docs/adding-a-service.md, followed on a copy of the repository: its scaffold command as
written (with a throw-away name), the contracts' schema export, the new service's own
tests, its wiring into the deployment files, and then the service as a real process on the
real broker and PostgreSQL — it publishes an event and reacts to one. If the page or the
templates drift from the kit, this fails."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from alphapeer_contracts import identity as idc
from servicekit import envelope
from servicekit.testing import ISSUER, Broker, ServiceProcess, consume_all, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "adding-a-service.md"
EXAMPLE = "booking"  # the name the page uses
NAME = "scaffoldprobe"  # the name this test uses instead


def page_commands() -> list[str]:
    """Every command in the page's ```sh blocks, in order."""
    text = PAGE.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def page_files() -> list[str]:
    """The files the page says step 1 writes."""
    return re.findall(r"^\| `([^`]+)` \|", PAGE.read_text(), re.M)


def copy_repository(into: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not name.startswith(("data/", "bench/results/")):
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


async def test_the_page_adds_a_service_that_publishes_and_reacts(
    tmp_path: Path, postgres_url: str, pg_schema: str, kafka: Broker, jwks_url: str
) -> None:
    repo = tmp_path / "repo"
    copy_repository(repo)
    commands = page_commands()
    scaffold = [c for c in commands if "scripts/new_service.py" in c]
    assert len(scaffold) == 1, commands
    assert "make install" in commands and "make schemas" in commands
    argv = shlex.split(scaffold[0].replace(EXAMPLE, NAME))
    assert argv[0].endswith("python"), argv
    made = subprocess.run([sys.executable, *argv[1:]], cwd=repo, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    for listed in page_files():
        assert (repo / listed.replace(EXAMPLE, NAME)).exists(), f"the page promises {listed}"

    # `make install` makes the new package importable; here, without a new environment:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "contracts/src"),
                                                        str(repo / f"services/{NAME}/src")])}
    schemas = subprocess.run([sys.executable, "-m", "alphapeer_contracts.schemas"], cwd=repo, env=env,
                             capture_output=True, text=True, timeout=120)  # what `make schemas` runs
    assert schemas.returncode == 0, schemas.stdout + schemas.stderr
    assert (repo / f"contracts/schemas/{NAME}/ItemCreated.v1.json").exists()
    # Its tests use the server this suite runs on (its maintenance database).
    server = postgres_url.rsplit("/", 1)[0] + "/postgres"
    own_tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"services/{NAME}"],
                               cwd=repo, env={**env, "ALPHAPEER_TEST_POSTGRES": server},
                               capture_output=True, text=True, timeout=300)
    assert own_tests.returncode == 0, own_tests.stdout[-3000:] + own_tests.stderr[-3000:]

    # Wired where nothing can discover it: the deployment checks and the shape checks, run
    # on the copy, hold for the new service as for every other.
    compose = yaml.safe_load((repo / "docker-compose.yml").read_text())
    assert compose["services"][NAME]["build"]["dockerfile"] == f"services/{NAME}/Dockerfile"
    deploy = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/deploy",
                             "tests/contract/test_service_shape.py"],
                            cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
    assert NAME in (repo / "deploy/k8s/overlays/prod/hpa.yaml").read_text()

    # The service as a real process: it publishes an event and reacts to one.
    proc = ServiceProcess(
        script=NAME, argv=[sys.executable, "-m", NAME], log=tmp_path / f"{NAME}.log",
        env={**env, "ALPHAPEER_DATABASE_URL": postgres_url, "ALPHAPEER_DATABASE_SCHEMA": pg_schema,
             "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ALPHAPEER_JWKS_URL": jwks_url,
             "ALPHAPEER_DATA_DIR": str(tmp_path / "data"), "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05",
             "ALPHAPEER_KAFKA_SESSION_TIMEOUT_MS": "3000", "ALPHAPEER_KAFKA_HEARTBEAT_INTERVAL_MS": "500"})
    proc.start()
    try:
        owner = uuid.uuid4()
        created = httpx.post(f"{proc.url}/v1/items", json={"title": "Hello"}, headers=ISSUER.headers(owner, "student"))
        assert created.status_code == 201, created.text
        published = await consume_all(kafka.bootstrap, f"{NAME}.events", expect=1, timeout=30)
        assert [envelope.decode_headers(r.headers)["ce_type"] for r in published] == \
            [f"alphapeer.{NAME}.ItemCreated.v1"]

        user = uuid.uuid4()
        registered = idc.UserRegistered(user_id=user, display_name="Ada", roles=["student"],
                                        occurred_at=datetime.now(UTC))
        key, value, headers = envelope.wrap(registered, source="/alphapeer/identity", sequence=1, ce_id="reg-1")
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("identity.events", value=value, key=key, headers=headers)
        finally:
            await producer.stop()
        member = await asyncio.to_thread(wait_until, lambda: httpx.get(
            f"{proc.url}/v1/members/{user}", headers=ISSUER.headers(user, "student")).status_code == 200,
            60.0, 0.2, "the new service to react to identity.events")
        assert member
    finally:
        proc.stop()
