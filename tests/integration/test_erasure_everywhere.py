"""Erasure reaches everywhere: identity, catalog and matching as real processes on the
broker and PostgreSQL. A tutor with a profile, a tutor application and its document, a
listing with media, and a course enrolment is erased; then every service's database, every
file store, the mail folder and every topic read from the start with a plain consumer hold
not one of their email, name, headline, bio or qualification text. Matching rebuilt from
the topics still works — and still knows nothing of them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from servicekit.testing import Broker, ServiceProcess, consume_all, scan_database, scan_files, scan_topics
from tests.integration.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.integration.test_catalog_system import wait_for_standing
from tests.integration.test_matching_system import service

pytestmark = pytest.mark.integration

EMAIL = "tessaly.quintavalle@uni.example"
NAME = "Tessaly Quintavalle"
HEADLINE = "Haruspicy and quadratic equations"
BIO = "Xylographic algebra coaching, with woodcuts"
QUALIFICATIONS = "Quincunx diploma in mathematics"
NEEDLES = [EMAIL, "Tessaly", "Quintavalle", HEADLINE, BIO, QUALIFICATIONS]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LISTING = {"title": "Algebra, carved", "subjects": [{"subject_id": "mathematics.algebra-i", "level": "introductory",
                                                   "topics": ["Quadratics"]}],
           "rate": {"credits_per_hour": 9}, "session_minutes": [60], "modes": ["online", "in_person"],
           "place": {"campus": "Quintavalle Hall", "lat": 51.52, "lon": -0.13}, "languages": ["en"]}


def keys_held(postgres_url: str, subject: str) -> list[str]:
    """Every vault and key ring table, in every schema, that still holds a key of ``subject``."""
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN"
                              " ('subject_keys', 'shared_subject_keys', 'keyring')").fetchall()
        return [f"{schema}.{table}" for schema, table in tables
                if conn.execute(f'SELECT 1 FROM "{schema}"."{table}" WHERE subject_id = %s', (subject,)).fetchone()]


def poll(fn: Any, ok: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting; last: {value}"
        time.sleep(0.2)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def a_tutor(api: Api, staff: str, catalog: str, email: str, name: str) -> tuple[str, str]:
    user = api.register(email, name)
    token = api.login(email)
    application = api.post("/v1/tutor-applications", token, json={"subjects": ["Algebra I"], "levels": ["intro"]})
    assert application.status_code == 201, application.text
    assert api.post(f"/v1/tutor-applications/{application.json()['application_id']}/approve", staff,
                    json={}).status_code == 200
    token = api.login(email)  # now with the tutor role
    wait_for_standing(catalog, user, token, want=True)
    return user, token


async def test_an_erased_tutor_is_unreadable_in_every_database_file_and_topic(
    api: Api, identity_proc: ServiceProcess, postgres_url: str, kafka: Broker, tmp_path: Path
) -> None:
    identity_proc.start()
    jwks = f"{identity_proc.url}/.well-known/jwks.json"
    base = identity_proc.env["ALPHAPEER_DATABASE_SCHEMA"]
    catalog = service("alphapeer-catalog", "catalog", f"{base}_cat", postgres_url, kafka, jwks, tmp_path).start()
    matching = service("alphapeer-matching", "matching", f"{base}_match", postgres_url, kafka, jwks, tmp_path).start()
    rebuilt: ServiceProcess | None = None
    try:
        staff = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        tess, token = a_tutor(api, staff, catalog.url, EMAIL, NAME)
        api.verify(EMAIL)  # the verification mail to her address is read, then kept in the folder
        # Her profile, with an Idempotency-Key: the answer kept for it quotes her name.
        r = api.http.patch(f"/v1/users/{tess}/profile", headers={**bearer(token), "Idempotency-Key": "p1"},
                           json={"headline": HEADLINE})
        assert r.status_code == 200, r.text
        document = api.post("/v1/users/me/documents", token,
                            files={"file": ("transcript.pdf", f"%PDF-1.4 {NAME} transcript".encode(),
                                            "application/pdf")})
        assert document.status_code == 201, document.text
        cat = httpx.Client(base_url=catalog.url, timeout=15)
        listing = cat.post("/v1/listings", headers={**bearer(token), "Idempotency-Key": "l1"},
                           json={**LISTING, "bio": BIO, "qualifications": QUALIFICATIONS})
        assert listing.status_code == 201, listing.text
        lid = listing.json()["listing_id"]
        assert cat.post(f"/v1/listings/{lid}/publish", headers=bearer(token)).status_code == 200
        assert cat.post(f"/v1/listings/{lid}/media", headers=bearer(token),
                        files={"file": ("me.png", PNG, "image/png")}).status_code == 201
        # A course by another tutor, in which she enrols as a learner.
        _, bob_token = a_tutor(api, staff, catalog.url, "bob.builder@uni.example", "Bob Builder")
        bobs = cat.post("/v1/listings", headers=bearer(bob_token), json={**LISTING, "bio": "Bob explains sums"})
        assert cat.post(f"/v1/listings/{bobs.json()['listing_id']}/publish", headers=bearer(bob_token)).is_success
        course = cat.post("/v1/courses", headers=bearer(bob_token), json={
            "title": "Sums", "subject_id": "mathematics.algebra-i", "level": "introductory",
            "modules": [{"title": "Adding", "quiz": []}]})
        assert course.status_code == 201, course.text
        cid = course.json()["course_id"]
        assert cat.post(f"/v1/courses/{cid}/publish", headers=bearer(bob_token)).status_code == 200
        assert cat.post(f"/v1/courses/{cid}/enrolments", headers=bearer(token), json={}).status_code == 201

        match = httpx.Client(base_url=matching.url, timeout=15)
        found = poll(lambda: match.get("/v1/search", params={"q": "xylographic woodcuts"},
                                       headers=bearer(staff)).json()["items"],
                     lambda items: [(i["display_name"], i["headline"], i["bio"]) for i in items] == [
                         (NAME, HEADLINE, BIO)])
        assert found[0]["listing_id"] == lid

        # Erased by an admin.
        assert api.post(f"/v1/users/{tess}/erasure", staff).status_code == 200
        poll(lambda: match.get("/v1/search", params={"q": "xylographic woodcuts"}, headers=bearer(staff)).json(),
             lambda page: all(i["listing_id"] != lid for i in page["items"]))
        poll(lambda: cat.get(f"/v1/listings/{lid}", headers=bearer(staff)).json()["status"], "withdrawn".__eq__)
        # Every service has applied the erasure (the account refused everywhere).
        poll(lambda: match.get("/v1/search", params={"q": "sums"}, headers=bearer(token)).status_code, (401).__eq__)
        poll(lambda: cat.get("/v1/subjects", headers=bearer(token)).status_code, (200).__eq__)
        time.sleep(1.0)  # the key tombstones and last reactions settle

        # Matching, rebuilt from the topics into an empty schema, works — and knows nothing of her.
        rebuilt = service("alphapeer-matching", "rebuilt", f"{base}_rebuilt", postgres_url, kafka, jwks,
                          tmp_path).start()
        rebuilt_client = httpx.Client(base_url=rebuilt.url, timeout=15)
        poll(lambda: rebuilt_client.get("/v1/search", params={"q": "sums"}, headers=bearer(staff)).json()["items"],
             lambda items: [i["display_name"] for i in items] == ["Bob Builder"])

        # What could still open the sealed copies is gone too: no vault or key ring anywhere
        # holds a key of hers, and each keys topic ends, for her, with a tombstone.
        assert keys_held(postgres_url, tess) == []
        for topic in ("identity.keys", "catalog.keys"):
            records = await consume_all(kafka.bootstrap, topic, expect=10**6, timeout=5)
            hers = [r for r in records if r.key == tess.encode()]
            assert hers and hers[-1].value is None, topic

        hits = scan_database(postgres_url, NEEDLES)
        hits += scan_files(tmp_path, NEEDLES)  # every service's data folder: mail, uploads, media
        hits += await scan_topics(kafka.bootstrap, NEEDLES)
        assert hits == [], "\n".join(hits)
    finally:
        for proc in (rebuilt, matching, catalog):
            if proc is not None:
                proc.stop()
