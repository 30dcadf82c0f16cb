"""A listing as the directory holds it: who may be found, what can be filtered on (facets),
the words it is found by, and the expertise text its sentence vector is computed from."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from matching.domain.text import words

#: What a search result shows of the listing document.
PUBLIC = ("title", "subjects", "rate", "session_minutes", "modes", "place", "languages", "teaching_styles",
          "communication", "bio", "trial", "media")


@dataclass(slots=True)
class Entry:
    """One searchable listing, kept compact: the public document as JSON text (parsed only
    for the page returned), and just the values the indexes are built from."""

    listing_id: str
    tutor_id: str
    doc_json: str
    display_name: str
    headline: str | None
    verified: bool
    published: float
    credits: float
    lat: float
    lon: float
    radius: float
    facets: tuple[str, ...]
    terms: tuple[tuple[str, int], ...] = ()
    length: int = 0
    text_key: str = ""  # digest of the expertise text its sentence vector is computed from


def visible(row: dict[str, Any]) -> bool:
    """A listing is found only once its tutor is known and approved, and while neither
    suspended nor erased (events from the two topics may arrive in any order)."""
    return bool(row["visible"] and row["tutor_known"] and row["approved"] and not row["suspended"]
                and not row["erased"])


def entry_of(row: dict[str, Any], text_key: str) -> Entry:
    """The entry for a read-model row (a listing joined with its tutor)."""
    doc = row["listing"]
    text = " ".join([doc.get("title", ""), doc.get("bio", ""), doc.get("qualifications", ""),
                     row.get("headline") or "",
                     *[f"{s['name']} {s['area']} {' '.join(s.get('topics', []))}" for s in doc["subjects"]]])
    terms: dict[str, int] = defaultdict(int)
    tokens = words(text)
    for w in tokens:
        terms[w] += 1
    verified = row["background_check"] == "clear"
    facets = {f"mode:{m}" for m in doc["modes"]} | {f"lang:{x.split('-')[0]}" for x in doc["languages"]}
    facets |= {f"style:{x}" for x in doc.get("teaching_styles", [])}
    facets |= {f"comm:{x}" for x in doc.get("communication", [])}
    for subj in doc["subjects"]:
        sid = subj["subject_id"]
        facets |= {f"subject:{sid}", f"level:{sid}:{subj['level']}", f"anylevel:{subj['level']}"}
    if verified:
        facets.add("verified")
    place = doc.get("place") or {}
    credits = doc["rate"].get("credits_per_hour")
    # Interned: 50,000 entries share a few hundred facet and word strings.
    return Entry(
        listing_id=row["listing_id"], tutor_id=row["tutor_id"], doc_json=json.dumps({k: doc.get(k) for k in PUBLIC}),
        display_name=row.get("display_name") or "", headline=row.get("headline"), verified=verified,
        published=datetime.fromisoformat(row["published_at"]).timestamp(),
        credits=float(credits) if credits is not None else math.nan,
        lat=place["lat"] if place.get("lat") is not None else math.nan,
        lon=place["lon"] if place.get("lon") is not None else math.nan,
        radius=float(place.get("travel_radius_km") or 0),
        facets=tuple(sorted(sys.intern(f) for f in facets)),
        terms=tuple((sys.intern(w), tf) for w, tf in terms.items()), length=len(tokens), text_key=text_key)


def expertise_text(doc: dict[str, Any]) -> str:
    """What a tutor's sentence vector is computed from: what they teach, at which level,
    then in their own words (the model reads the first 256 tokens)."""
    teaches = "; ".join(f"{s['name']} ({s['level'].replace('_', ' ')}): {', '.join(s.get('topics', []))}"
                        for s in doc["subjects"])
    return ". ".join(x for x in (doc.get("title", ""), teaches, doc.get("bio", ""), doc.get("qualifications", ""))
                     if x)


def topics_of(doc: dict[str, Any]) -> set[str]:
    """Topic names get sentence vectors too, so the reasons can name the topic a goal means."""
    return {t for subj in doc["subjects"] for t in subj.get("topics", [])}


def digest(text: str) -> str:
    """The key a text's sentence vector is stored under."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
