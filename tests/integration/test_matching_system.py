"""The directory as users meet it: identity, catalog and matching as real processes on the
broker and PostgreSQL. A tutor approved in identity publishes in catalog and is found in
matching within seconds by subject, text and distance; suspended, they disappear; and
matching's database, dropped, is rebuilt from the topics with the same results."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from servicekit.testing import Broker, ServiceProcess
from tests.integration.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.integration.test_catalog_system import wait_for_standing

pytestmark = pytest.mark.integration

KINGS = {"campus": "Strand", "lat": 51.5115, "lon": -0.1160, "travel_radius_km": 1}
UCL = "51.5246,-0.1340"


def service(script: str, name: str, schema: str, postgres_url: str, kafka: Broker, jwks: str,
            tmp_path: Path) -> ServiceProcess:
    return ServiceProcess(script=script, log=tmp_path / f"{name}.log", env={
        "ALPHAPEER_SERVICE_NAME": name, "ALPHAPEER_DATABASE_URL": postgres_url, "ALPHAPEER_DATABASE_SCHEMA": schema,
        "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "ALPHAPEER_DATA_DIR": str(tmp_path / name),
        "ALPHAPEER_JWKS_URL": jwks, "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05",
        "ALPHAPEER_KAFKA_SESSION_TIMEOUT_MS": "3000", "ALPHAPEER_KAFKA_HEARTBEAT_INTERVAL_MS": "500"})


@pytest.fixture
def stack(identity_proc: ServiceProcess, postgres_url: str, kafka: Broker,
          tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    identity_proc.start()
    jwks = f"{identity_proc.url}/.well-known/jwks.json"
    base = identity_proc.env["ALPHAPEER_DATABASE_SCHEMA"]
    procs = {
        "catalog": service("alphapeer-catalog", "catalog", f"{base}_cat", postgres_url, kafka, jwks, tmp_path),
        "matching": service("alphapeer-matching", "matching", f"{base}_match", postgres_url, kafka, jwks, tmp_path),
    }
    for p in procs.values():
        p.start()
    yield procs
    for p in procs.values():
        p.stop()


def poll(fn: Any, ok: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting; last: {value}"
        time.sleep(0.2)


async def test_found_by_subject_text_and_distance_hidden_when_suspended_and_rebuilt_from_topics(
    api: Api, stack: dict[str, ServiceProcess], postgres_url: str, tmp_path: Path
) -> None:
    catalog, matching = stack["catalog"], stack["matching"]
    staff = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    tutor = api.register("mira@uni.example", "Mira")
    app_id = api.post("/v1/tutor-applications", api.login("mira@uni.example"),
                      json={"subjects": ["Physics"], "levels": ["advanced"]}).json()["application_id"]
    api.post(f"/v1/tutor-applications/{app_id}/approve", staff, json={})
    token = api.login("mira@uni.example")
    auth = {"Authorization": f"Bearer {token}"}
    wait_for_standing(catalog.url, tutor, token, want=True)
    listing = httpx.post(f"{catalog.url}/v1/listings", headers=auth, json={
        "title": "Mechanics and waves", "subjects": [{"subject_id": "sciences.physics", "level": "advanced",
                                                      "topics": ["Mechanics"]}],
        "rate": {"credits_per_hour": 15}, "session_minutes": [60], "modes": ["online", "in_person"],
        "place": KINGS, "languages": ["en"], "bio": "I explain torque with bicycles."})
    assert listing.status_code == 201, listing.text
    lid = listing.json()["listing_id"]
    assert httpx.post(f"{catalog.url}/v1/listings/{lid}/publish", headers=auth).status_code == 200

    # Searched as staff: the tutor's own token is refused once they are suspended (below).
    m = httpx.Client(base_url=matching.url, headers={"Authorization": f"Bearer {staff}"}, timeout=10)

    def found(**params: Any) -> list[str]:
        return [i["listing_id"] for i in m.get("/v1/search", params=params).json()["items"]]

    started = time.monotonic()
    poll(lambda: found(subject="sciences.physics"), lambda v: v == [lid])
    seconds_to_searchable = time.monotonic() - started
    assert seconds_to_searchable < 15
    queries = [{"subject": "sciences.physics"}, {"q": "torque bicycle"}, {"near": UCL, "within_km": 3},
               {"subject": "sciences.physics", "level": "advanced", "sort": "price"}]
    # The bio, the place and the name arrive sealed; they are searchable and shown once the
    # producers' keys for the tutor have arrived on catalog.keys and identity.keys too (topics of
    # their own, so possibly a moment after the listing).
    before = poll(lambda: [m.get("/v1/search", params=q).json() for q in queries],
                  lambda rs: all(r["items"] and r["items"][0]["listing_id"] == lid for r in rs)
                  and rs[0]["items"][0]["display_name"] == "Mira")
    assert found(near=UCL, within_km=0.5) == []  # 2.1 km away, travels 1 km
    assert before[0]["items"][0]["display_name"] == "Mira"

    # Recommended for a need in the learner's own words (the model runs in the process).
    learner = {"Authorization": f"Bearer {staff}"}
    need = {"goal": "why do spinning wheels resist tipping over", "budget_credits": 20}

    def recommended() -> dict[str, Any]:
        return m.post("/v1/recommendations", json=need, headers=learner).json()  # type: ignore[no-any-return]

    first = poll(recommended, lambda r: r["index"]["pending"] == 0 and r["items"])
    assert first["items"][0]["listing_id"] == lid and first["items"][0]["similarity"] > 0.2
    assert "15 credits/h, within your budget of 20" in first["items"][0]["why"]

    # Suspended in identity: gone from the directory.
    assert api.post(f"/v1/users/{tutor}/suspension", staff, json={"reason_code": "safety"}).status_code == 200
    poll(lambda: found(subject="sciences.physics"), lambda v: v == [])
    assert api.http.delete(f"/v1/users/{tutor}/suspension",
                           headers={"Authorization": f"Bearer {staff}"}).status_code == 200
    poll(lambda: found(subject="sciences.physics"), lambda v: v == [lid])

    # Drop matching's database and rebuild it from the topics alone.
    matching.stop()
    schema = matching.env["ALPHAPEER_DATABASE_SCHEMA"]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        # The memo of sentence vectors is not the read model: it stays, so the rebuild
        # never waits for the model to read a bio again.
        assert conn.execute(f'SELECT count(*) FROM "{schema}_memo".embedding_cache').fetchone()[0] >= 1
    matching.start()
    m = httpx.Client(base_url=matching.url, headers={"Authorization": f"Bearer {staff}"}, timeout=10)
    poll(lambda: found(subject="sciences.physics"), lambda v: v == [lid])
    after = [m.get("/v1/search", params=q).json() for q in queries]
    assert after == before
    again = poll(recommended, lambda r: r["index"]["pending"] == 0 and r["items"])
    assert again["items"] == first["items"]
