"""The read model's tables, written only by reactions to identity's, catalog's and booking's
events (each with its tracking row, in one transaction: ``apply`` is the ProjectionReaction's),
and the queries the in-memory directory is loaded from. Every write also appends to
``changes`` so each replica's directory can pick up what changed.

``tutor_signals`` holds each tutor's standing as reputation last published it
(``TutorReputationChanged``: the whole of it, applied only when its version is newer)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

from alphapeer_contracts import booking as bk
from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts import reputation as rep
from alphapeer_contracts.base import IntegrationEvent
from matching.domain.availability import Availability, UnknownZone, clock_minutes, day_number, zone
from matching.domain.columns import Signals
from servicekit.database import Cursor, Database
from servicekit.subscriber import Delivery

log = logging.getLogger(__name__)
#: What ``apply`` projects: tutors (identity), listings, courses and enrolments (catalog),
#: tutors' availability (booking's AvailabilityChanged).
TOPICS = ("identity.events", "catalog.events", "booking.events", "reputation.events")

DDL = [
    """CREATE TABLE IF NOT EXISTS tutors (
        user_id TEXT PRIMARY KEY,
        display_name TEXT,
        headline TEXT,
        avatar_url TEXT,
        approved INTEGER NOT NULL DEFAULT 0,
        suspended INTEGER NOT NULL DEFAULT 0,
        erased INTEGER NOT NULL DEFAULT 0,
        background_check TEXT NOT NULL DEFAULT 'not_started'
    )""",
    """CREATE TABLE IF NOT EXISTS listings (
        listing_id TEXT PRIMARY KEY,
        tutor_id TEXT NOT NULL,
        visible INTEGER NOT NULL,
        doc TEXT NOT NULL,
        published_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS listings_tutor ON listings (tutor_id)",
    "CREATE TABLE IF NOT EXISTS changes (id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL)",
    # Courses students can be pointed to by their peers' choices.
    """CREATE TABLE IF NOT EXISTS courses (
        course_id TEXT PRIMARY KEY,
        creator_id TEXT NOT NULL,
        title TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        level TEXT NOT NULL,
        price_credits INTEGER NOT NULL,
        active INTEGER NOT NULL
    )""",
    # Who chose what: the collaborative signal. Enrolments now; booking's confirmed
    # sessions plug in as kind 'booked' with the tutor as item.
    """CREATE TABLE IF NOT EXISTS interactions (
        student_id TEXT NOT NULL,
        item_kind TEXT NOT NULL,
        item_id TEXT NOT NULL,
        tutor_id TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (student_id, item_kind, item_id)
    )""",
    "CREATE INDEX IF NOT EXISTS interactions_item ON interactions (item_kind, item_id)",
    # Reputation and reliability per tutor, from reputation's TutorReputationChanged (a tutor
    # it has not published yet has the neutral prior). ``version``: the standing's version.
    """CREATE TABLE IF NOT EXISTS tutor_signals (
        tutor_id TEXT PRIMARY KEY,
        rating_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
        rating_count INTEGER NOT NULL DEFAULT 0,
        sessions_completed INTEGER NOT NULL DEFAULT 0,
        sessions_missed INTEGER NOT NULL DEFAULT 0
    )""",
    "ALTER TABLE tutor_signals ADD COLUMN IF NOT EXISTS version INTEGER NOT NULL DEFAULT 0",
    # Each tutor's availability as booking last published it (AvailabilityChanged: the whole
    # of it, replacing what was there): the event's time zone, weekly windows, dated
    # exceptions, buffer, notice and horizon as JSON, and its position in booking.events, so
    # an older event delivered late (a dead letter replayed) never overwrites a newer one.
    """CREATE TABLE IF NOT EXISTS tutor_availability (
        tutor_id TEXT PRIMARY KEY,
        position BIGINT NOT NULL,
        doc TEXT NOT NULL
    )""",
]
#: Tables of earlier versions, dropped by the migration (``retire``).
RETIRED = ["availability"]  # weekly windows without a time zone, written only by tests
#: What of AvailabilityChanged is kept.
_AVAILABILITY = {"time_zone", "weekly", "exceptions", "buffer_minutes", "min_notice_minutes", "horizon_days"}


def retire(db: Database) -> None:
    """Drops the tables earlier versions had and this one does not (a migration step: run by
    the migration, never by replicas that only check the schema)."""
    db.execute_script([f"DROP TABLE IF EXISTS {name}" for name in RETIRED])


def _tutor(cur: Cursor, user_id: str, **fields: Any) -> None:
    cur.execute("INSERT INTO tutors (user_id) VALUES (%s) ON CONFLICT (user_id) DO NOTHING", (user_id,))
    sets = ", ".join(f"{k} = %s" for k in fields)
    cur.execute(f"UPDATE tutors SET {sets} WHERE user_id = %s", (*fields.values(), user_id))
    cur.execute("INSERT INTO changes (kind, key) VALUES ('tutor', %s)", (user_id,))


def apply(cur: Cursor, event: IntegrationEvent, delivery: Delivery) -> None:
    """One upstream event into the tables (the kit records its tracking row in the same transaction)."""
    # Personal text is stored as it arrived: sealed (v2), opened in memory (adapters/personal.py).
    if isinstance(event, idc.UserRegistered | idc.UserRegisteredV2):
        _tutor(cur, str(event.user_id), display_name=event.display_name)
    elif isinstance(event, idc.PublicProfileUpdated | idc.PublicProfileUpdatedV2):
        _tutor(cur, str(event.user_id), display_name=event.display_name, headline=event.headline,
               avatar_url=event.avatar_url)
    elif isinstance(event, idc.TutorApproved) or (isinstance(event, idc.RoleGranted) and event.role == "tutor"):
        _tutor(cur, str(event.user_id), approved=1)
    elif isinstance(event, idc.RoleRevoked) and event.role == "tutor":
        _tutor(cur, str(event.user_id), approved=0)
    elif isinstance(event, idc.UserSuspended):
        _tutor(cur, str(event.user_id), suspended=1)
    elif isinstance(event, idc.UserReinstated):
        _tutor(cur, str(event.user_id), suspended=0)
    elif isinstance(event, idc.BackgroundCheckUpdated):
        _tutor(cur, str(event.user_id), background_check=event.status)
    elif isinstance(event, idc.UserErased):
        _tutor(cur, str(event.user_id), erased=1, display_name="Erased user", headline=None, avatar_url=None)
        # Whatever of theirs arrived in the clear (published before sealing) goes too.
        cur.execute("UPDATE listings SET doc = (doc::jsonb || '{\"bio\": null, \"qualifications\": null,"
                    " \"place\": null}'::jsonb)::text WHERE tutor_id = %s", (str(event.user_id),))
    elif isinstance(event, cat.ListingPublished | cat.ListingUpdated | cat.ListingPublishedV2 | cat.ListingUpdatedV2):
        doc = event.listing.model_dump_json()
        cur.execute(
            "INSERT INTO listings (listing_id, tutor_id, visible, doc, published_at) VALUES (%s, %s, 1, %s, %s) "
            "ON CONFLICT (listing_id) DO UPDATE SET visible = 1, doc = excluded.doc",
            (str(event.listing_id), str(event.listing.tutor_id), doc, event.occurred_at.isoformat()),
        )
        cur.execute("INSERT INTO changes (kind, key) VALUES ('listing', %s)", (str(event.listing_id),))
    elif isinstance(event, cat.ListingPaused | cat.ListingWithdrawn):
        cur.execute("UPDATE listings SET visible = 0 WHERE listing_id = %s", (str(event.listing_id),))
        cur.execute("INSERT INTO changes (kind, key) VALUES ('listing', %s)", (str(event.listing_id),))
    elif isinstance(event, cat.CoursePublished):
        cur.execute(
            "INSERT INTO courses (course_id, creator_id, title, subject_id, level, price_credits, active)"
            " VALUES (%s, %s, %s, %s, %s, %s, 1) ON CONFLICT (course_id) DO UPDATE SET title = excluded.title,"
            " subject_id = excluded.subject_id, level = excluded.level, price_credits = excluded.price_credits,"
            " active = 1",
            (str(event.course_id), str(event.creator_id), event.title, event.subject_id, event.level,
             event.price_credits))
    elif isinstance(event, cat.CourseRetired):
        cur.execute("UPDATE courses SET active = 0 WHERE course_id = %s", (str(event.course_id),))
    elif isinstance(event, cat.EnrolmentCreated):
        cur.execute(
            "INSERT INTO interactions (student_id, item_kind, item_id, tutor_id, at) VALUES (%s, 'course', %s,"
            " (SELECT creator_id FROM courses WHERE course_id = %s), %s) ON CONFLICT DO NOTHING",
            (str(event.student_id), str(event.course_id), str(event.course_id), event.occurred_at.isoformat()))
        cur.execute("INSERT INTO changes (kind, key) VALUES ('interaction', %s)", (str(event.student_id),))
    elif isinstance(event, bk.BookingCompleted):
        # A session that took place is a choice of that tutor: students who studied with the
        # same tutors are peers (for course suggestions and the collaborative score).
        cur.execute(
            "INSERT INTO interactions (student_id, item_kind, item_id, tutor_id, at) VALUES (%s, 'tutor', %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (str(event.student_id), str(event.tutor_id), str(event.tutor_id), event.occurred_at.isoformat()))
        cur.execute("INSERT INTO changes (kind, key) VALUES ('interaction', %s)", (str(event.student_id),))
    elif isinstance(event, rep.TutorReputationChanged):
        tutor = str(event.tutor_id)
        cur.execute(
            "INSERT INTO tutor_signals (tutor_id, rating_sum, rating_count, sessions_completed, sessions_missed,"
            " version) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tutor_id) DO UPDATE SET"
            " rating_sum = excluded.rating_sum, rating_count = excluded.rating_count,"
            " sessions_completed = excluded.sessions_completed, sessions_missed = excluded.sessions_missed,"
            " version = excluded.version WHERE tutor_signals.version < excluded.version",
            (tutor, event.rating_sum, event.rating_count, event.sessions_completed,
             event.sessions_missed + event.cancellations, event.standing_version))
        if cur.rowcount:
            cur.execute("INSERT INTO changes (kind, key) VALUES ('signal', %s)", (tutor,))
    elif isinstance(event, bk.AvailabilityChanged):
        tutor = str(event.tutor_id)
        cur.execute(
            "INSERT INTO tutor_availability (tutor_id, position, doc) VALUES (%s, %s, %s) ON CONFLICT (tutor_id)"
            " DO UPDATE SET position = excluded.position, doc = excluded.doc"
            " WHERE tutor_availability.position < excluded.position",
            (tutor, delivery.position, event.model_dump_json(include=_AVAILABILITY)))
        if cur.rowcount:
            cur.execute("INSERT INTO changes (kind, key) VALUES ('availability', %s)", (tutor,))


_LISTINGS = ("SELECT l.listing_id, l.tutor_id, l.visible, l.doc, l.published_at, t.display_name, t.headline,"
             " t.approved, t.suspended, t.erased, t.background_check"
             " FROM listings l LEFT JOIN tutors t ON t.user_id = l.tutor_id")


def _listing(r: Any) -> dict[str, Any]:
    return {"listing_id": r[0], "tutor_id": r[1], "visible": bool(r[2]), "listing": json.loads(r[3]),
            "published_at": r[4], "display_name": r[5], "headline": r[6], "approved": bool(r[7] or 0),
            "suspended": bool(r[8] or 0), "erased": bool(r[9] or 0), "background_check": r[10] or "not_started",
            "tutor_known": r[5] is not None or r[7] is not None}


def load_listings(db: Database, keys: list[str]) -> list[dict[str, Any]]:
    """The given listings joined with their tutor."""
    rows: list[Any] = []
    with db.transaction() as cur:
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            cur.execute(_LISTINGS + " WHERE l.listing_id = ANY(%s)", (chunk,))
            rows += cur.fetchall()
    return [_listing(r) for r in rows]


def all_listings(db: Database, page: int = 2000) -> Iterator[list[dict[str, Any]]]:
    """Every listing, a page at a time (keyset order by id): a start-up load never holds
    all parsed documents at once, which left the allocator's high-water mark at ~1 GB
    for 50,000 listings."""
    after = ""
    while True:
        with db.transaction() as cur:
            cur.execute(_LISTINGS + " WHERE l.listing_id > %s ORDER BY l.listing_id LIMIT %s", (after, page))
            rows = cur.fetchall()
        if not rows:
            return
        yield [_listing(r) for r in rows]
        after = rows[-1][0]


def changes_since(db: Database, last: int) -> tuple[int, dict[str, set[str]]]:
    """(new last id, changed keys by kind: listing, tutor, interaction, signal, availability)."""
    with db.transaction() as cur:
        cur.execute("SELECT id, kind, key FROM changes WHERE id > %s ORDER BY id LIMIT 100000", (last,))
        rows = cur.fetchall()
    kinds: dict[str, set[str]] = {"listing": set(), "tutor": set(), "interaction": set(), "signal": set(),
                                  "availability": set()}
    for _, kind, key in rows:
        kinds.setdefault(kind, set()).add(key)
    return (int(rows[-1][0]) if rows else last), kinds


def listings_of_tutors(db: Database, tutor_ids: set[str]) -> list[str]:
    if not tutor_ids:
        return []
    ids = sorted(tutor_ids)
    out: list[str] = []
    with db.transaction() as cur:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            cur.execute("SELECT listing_id FROM listings WHERE tutor_id = ANY(%s)", (chunk,))
            out += [r[0] for r in cur.fetchall()]
    return out


def tutor_signals(db: Database) -> dict[str, tuple[float, int, int, int]]:
    """tutor id → (rating sum, rating count, sessions completed, sessions missed)."""
    with db.transaction() as cur:
        cur.execute("SELECT tutor_id, rating_sum, rating_count, sessions_completed, sessions_missed FROM tutor_signals")
        return {r[0]: (float(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in cur.fetchall()}


def availability(db: Database, tutors: set[str] | None = None) -> dict[str, Availability | None]:
    """tutor id → their availability (every tutor's, or those of ``tutors``). None for one
    whose time zone this process does not know (its tz database is older than booking's):
    treated as not published, and read again at the next start."""
    with db.transaction() as cur:
        if tutors is None:
            cur.execute("SELECT tutor_id, doc FROM tutor_availability")
        else:
            cur.execute("SELECT tutor_id, doc FROM tutor_availability WHERE tutor_id = ANY(%s)", (sorted(tutors),))
        rows = cur.fetchall()
    return {tutor: availability_of(tutor, doc) for tutor, doc in rows}


def availability_of(tutor: str, doc: str) -> Availability | None:
    """The stored part of an AvailabilityChanged as the domain's value."""
    d = json.loads(doc)
    try:
        zone(d["time_zone"])
    except UnknownZone:
        log.warning("availability in an unknown time zone is ignored", extra={"fields": {
            "tutor_id": tutor, "time_zone": d["time_zone"]}})
        return None

    def span(w: dict[str, str]) -> tuple[int, int]:
        return clock_minutes(w["start"]), clock_minutes(w["end"])

    return Availability(
        time_zone=d["time_zone"],
        weekly=tuple((w["weekday"], *span(w)) for w in d["weekly"] if span(w)[0] < span(w)[1]),
        exceptions=tuple((day_number(date.fromisoformat(x["date"])),
                          tuple(span(w) for w in x["windows"] if span(w)[0] < span(w)[1])) for x in d["exceptions"]),
        min_notice_minutes=d["min_notice_minutes"], horizon_days=d["horizon_days"],
        buffer_minutes=d["buffer_minutes"])


def interactions(db: Database) -> list[tuple[str, str, str, str | None]]:
    """(student, item kind, item id, tutor) for every recorded choice."""
    with db.transaction() as cur:
        cur.execute("SELECT student_id, item_kind, item_id, tutor_id FROM interactions")
        return [(r[0], r[1], r[2], r[3]) for r in cur.fetchall()]


def courses(db: Database) -> dict[str, dict[str, Any]]:
    with db.transaction() as cur:
        cur.execute("SELECT course_id, creator_id, title, subject_id, level, price_credits FROM courses"
                    " WHERE active = 1")
        return {r[0]: {"course_id": r[0], "creator_id": r[1], "title": r[2], "subject_id": r[3], "level": r[4],
                       "price_credits": int(r[5])} for r in cur.fetchall()}


def signals(db: Database, published: dict[str, Availability] | None = None) -> Signals:
    """The per-tutor and per-student tables the recommendations read (with ``published`` as
    the tutors' availability, when it is known already)."""
    if published is None:
        published = {t: av for t, av in availability(db).items() if av is not None}
    return Signals.of(tutor_signals(db), published, courses(db), interactions(db))
