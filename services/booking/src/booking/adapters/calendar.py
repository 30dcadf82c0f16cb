"""A user's bookings as an iCalendar feed (RFC 5545, built with ``icalendar``), for a
calendar app to subscribe to at a secret URL.

One VEVENT per occurrence: its UID stays the same for its whole life (so a moved session
moves in the app, ``SEQUENCE`` rising), a request not yet confirmed is ``TENTATIVE``, a
cancelled, declined or expired one ``CANCELLED`` (apps then strike or drop it). Times are
UTC; the app shows them in its own zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from icalendar import Calendar, Event

from booking.domain.booking import Booking

PRODID = "-//Alpha Peer//Booking//EN"


def _status(booking: Booking, occurrence: dict[str, object]) -> str:
    if booking.status in ("requested", "awaiting_tutor"):
        return "TENTATIVE"
    if booking.status in ("declined", "expired", "failed", "cancelled") or occurrence["status"] == "cancelled":
        return "CANCELLED"
    return "CONFIRMED"


def feed(user_id: UUID, bookings: list[Booking], now: datetime,
         place_of: Callable[[UUID, str | None], str | None]) -> bytes:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Alpha Peer sessions")
    cal.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    for booking in bookings:
        role = "tutor" if booking.tutor_id == user_id else "student"
        for o in booking.occurrences:
            event = Event()
            event.add("uid", f"{booking.id}-{o['occurrence']}@booking.alphapeer")
            event.add("dtstamp", now.astimezone(UTC))
            event.add("dtstart", o["starts_at"].astimezone(UTC))
            event.add("dtend", o["ends_at"].astimezone(UTC))
            event.add("sequence", int(o.get("sequence", 0)))
            title = booking.title or "Tutoring session"
            event.add("summary", f"{title} ({'teaching' if role == 'tutor' else 'learning'})")
            event.add("status", _status(booking, o))
            place = place_of(booking.tutor_id, booking.place) if booking.mode == "in_person" else None
            event.add("location", place or ("Online" if booking.mode != "in_person" else "In person"))
            event.add("description", f"Booking {booking.id}, session {o['occurrence'] + 1} of "
                                     f"{len(booking.occurrences)} ({booking.kind}, {booking.mode}).")
            event.add("transp", "OPAQUE")
            cal.add_component(event)
    return cal.to_ical()
