"""Erasing a tutor leaves nothing of their personal text readable in catalog: their media
files are deleted, the key their bio, qualifications and place were sealed under is
destroyed (every stored and published copy stays sealed for good), their listings are
withdrawn; other tutors are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alphapeer_contracts import identity as idc
from servicekit.testing import scan_database

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BIO = "Quintessential xylophone teacher from Llanfair"
QUALIFICATIONS = "Grade 8 in zither, with distinction"


def test_an_erased_tutor_leaves_no_readable_personal_text(h: Any, postgres_url: str, tmp_path: Path) -> None:
    tutor, other = uuid.uuid4(), uuid.uuid4()
    lid = h.published(tutor, bio=BIO, qualifications=QUALIFICATIONS)
    kept = h.published(other, bio="Another tutor's bio")
    auth = h.token(tutor, "tutor")
    assert h.client.post(f"/v1/listings/{lid}/media", headers=auth,
                         files={"file": ("me.png", PNG, "image/png")}).status_code == 201
    media_files = [p for p in (tmp_path / "catalog-media").rglob("*") if p.is_file()]
    assert len(media_files) == 1
    # Sealed from the start: neither the event store nor catalog.events hold the text.
    assert scan_database(postgres_url, [BIO, QUALIFICATIONS, "Main campus"]) == []
    assert h.client.get(f"/v1/listings/{lid}", headers=auth).json()["bio"] == BIO

    h.identity(idc.UserErased(user_id=tutor, occurred_at=datetime.now(UTC)))
    staff = h.token(uuid.uuid4(), "staff")
    gone = h.client.get(f"/v1/listings/{lid}", headers=staff).json()
    assert gone["status"] == "withdrawn" and gone["bio"] == "" and gone["place"] is None
    assert not any(p.is_file() for p in (tmp_path / "catalog-media").rglob("*"))  # the media file is deleted
    for event in h.public_events():
        listing = getattr(event, "listing", None)
        if listing is not None and str(listing.tutor_id) == str(tutor) and listing.bio:
            assert h.app.sealer.open(tutor, listing.bio) is None  # every copy sealed for good
    assert h.client.get(f"/v1/listings/{kept}", headers=staff).json()["bio"] == "Another tutor's bio"
    # A redelivery changes nothing and fails nothing.
    assert h.identity(idc.UserErased(user_id=tutor, occurred_at=datetime.now(UTC)), position=h.identity.positions[
        "identity.events"]) is False
