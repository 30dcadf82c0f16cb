"""Personal text in the read model stays as it arrived — sealed under its subject's key
(identity's display names and headlines, catalog's bios, qualifications and places) — and
is opened only in memory, with the key ring (servicekit.shredding). So the tables hold
nothing readable about anyone, and an erased tutor's text, whose keys are gone, cannot be
read again here, nor by a rebuild from the topics. Values that arrived in the clear (events
published before sealing) are taken as they are."""

from __future__ import annotations

import json
from typing import Any

from servicekit.database import Database
from servicekit.shredding import KeyRing
from servicekit.vault import is_sealed


class Opener:
    """Opens a read-model row's sealed fields (no key ring: tests of the ranking alone)."""

    def __init__(self, ring: KeyRing | None) -> None:
        self.ring = ring

    def text(self, upstream: str, subject: str, value: Any) -> str | None:
        if not isinstance(value, str) or not is_sealed(value):
            return value  # type: ignore[no-any-return]
        return self.ring.open(upstream, subject, value) if self.ring is not None else None

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        tutor = row["tutor_id"]
        doc = dict(row["listing"])
        for field in ("bio", "qualifications"):
            doc[field] = self.text("catalog", tutor, doc.get(field)) or ""
        place = doc.get("place")
        if isinstance(place, str):
            opened = self.text("catalog", tutor, place)
            doc["place"] = json.loads(opened) if opened else None
        return {**row, "listing": doc,
                "display_name": self.text("identity", tutor, row.get("display_name")),
                "headline": self.text("identity", tutor, row.get("headline"))}


def refresh_on_key_change(ring: KeyRing, db: Database) -> None:
    """When a subject's keys arrive or leave, their listings are built again (with the text
    now readable, or without it once erased)."""

    def changed(subjects: set[str]) -> None:
        with db.transaction() as cur:
            cur.executemany("INSERT INTO changes (kind, key) VALUES ('tutor', %s)", [(s,) for s in sorted(subjects)])

    ring.on_change(changed)
