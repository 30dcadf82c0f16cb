"""Identity and catalog as real processes on PostgreSQL and the broker: catalog learns
who is an approved tutor from identity's events and publishes listings to Kafka."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from servicekit import envelope
from servicekit.testing import Broker, ServiceProcess, consume_all
from tests.integration.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api

pytestmark = pytest.mark.integration

LISTING = {
    "title": "Quadratics, finally",
    "subjects": [{"subject_id": "mathematics.algebra-i", "level": "introductory", "topics": ["Quadratics"]}],
    "rate": {"credits_per_hour": 8},
    "session_minutes": [60],
    "modes": ["online"],
    "languages": ["en"],
}


def wait_for_standing(catalog: str, tutor: str, token: str, want: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{catalog}/v1/tutors/{tutor}/standing", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200 and r.json()["may_publish"] is want:
            return
        time.sleep(0.2)
    raise AssertionError(f"catalog never learned may_publish={want} for {tutor}")


async def test_an_approved_tutor_publishes_and_a_suspended_one_cannot(
    api: Api, catalog_proc: ServiceProcess, kafka: Broker
) -> None:
    catalog_proc.start()
    cat = httpx.Client(base_url=catalog_proc.url, timeout=15)
    tutor = api.register("tess@uni.example", "Tess")
    app_id = api.post("/v1/tutor-applications", api.login("tess@uni.example"),
                      json={"subjects": ["Algebra I"], "levels": ["introductory"]}).json()["application_id"]
    staff = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert api.post(f"/v1/tutor-applications/{app_id}/approve", staff, json={}).status_code == 200
    token = api.login("tess@uni.example")  # now carries the tutor role
    auth = {"Authorization": f"Bearer {token}"}
    wait_for_standing(catalog_proc.url, tutor, token, want=True)

    listing = cat.post("/v1/listings", json=LISTING, headers=auth)
    assert listing.status_code == 201, listing.text
    lid = listing.json()["listing_id"]
    assert cat.post(f"/v1/listings/{lid}/publish", headers=auth).status_code == 200

    records = await consume_all(kafka.bootstrap, "catalog.events", expect=1, timeout=20)
    assert len(records) == 1
    h = envelope.decode_headers(records[0].headers)
    assert h["ce_type"] == "alphapeer.catalog.ListingPublished.v2" and h["ce_subject"] == lid
    body = json.loads(records[0].value)
    assert body["listing"]["tutor_id"] == tutor and body["listing"]["subjects"][0]["name"] == "Algebra I"

    # Staff suspend Tess in identity; catalog learns it from the event and refuses to publish.
    second = cat.post("/v1/listings", json={**LISTING, "title": "Linear equations"}, headers=auth).json()
    assert api.post(f"/v1/users/{tutor}/suspension", staff,
                    json={"reason_code": "conduct"}).status_code == 200
    wait_for_standing(catalog_proc.url, tutor, staff, want=False)
    refused = cat.post(f"/v1/listings/{second['listing_id']}/publish", headers=auth)
    assert refused.status_code == 403 and "suspended" in refused.json()["detail"]
