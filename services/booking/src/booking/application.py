"""Booking's use cases, its reactions to other services' events, and its deadlines.

Every command takes ids and command values (domain/commands.py) and is a load, a decision
in the domain and one save of everything it changed (the booking with both parties'
diaries, a promotion's redemptions): all or nothing, decided again on fresh state when
another writer saved one of them first (@retry_on_conflict). "Now" comes from the clock
port, so tests move time; deadlines (servicekit.deadlines) are set by the booking's own
stored events (``deadlines_of``) and acted on by ``fire``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts import ledger as led
from alphapeer_contracts import sessions as ses
from alphapeer_contracts.base import IntegrationEvent
from booking.domain.availability import Availability, Slot
from booking.domain.booking import Booking
from booking.domain.commands import (
    AvailabilityRules,
    BookingRequest,
    Caller,
    Cancellation,
    Decline,
    DisputeClaim,
    DisputeDecision,
    RecordedOutcome,
    Rules,
)
from booking.domain.diary import Diary
from booking.domain.errors import Forbidden, Invalid, NotFound
from booking.domain.listing import ListingTerms, share
from booking.domain.ports import Clock, Sealer
from booking.domain.promotion import PromotionUse
from servicekit import wallclock
from servicekit.deadlines import Deadline
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.subscriber import Delivery
from servicekit.vault import is_sealed

A = TypeVar("A", bound=Aggregate)
_BOOKING: Any = Booking  # event classes are made by the @event decorator, unseen by type checkers
GROUP_NAMESPACE = UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
#: How far a slots query may reach at once.
MAX_SLOT_RANGE = timedelta(days=31)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- views -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """A request checked against everything, priced, not yet saved (a quote)."""

    terms: ListingTerms
    availability: Availability
    slots: list[tuple[int, datetime, datetime]]
    prices: list[int]
    gross: int
    discount: int
    promotion: dict[str, Any] | None
    respond_by: datetime | None
    hold_until: datetime
    hold_answer_by: datetime
    group_id: UUID | None
    tutor: Diary
    student: Diary

    @property
    def total(self) -> int:
        return sum(self.prices)


@dataclass(frozen=True)
class SlotsView:
    tutor_id: UUID
    tutor_time_zone: str
    minutes: int
    instant_book: bool
    slots: list[Slot]


@dataclass
class Unit:
    """The aggregates one decision loads and changes: each loaded once, saved together."""

    app: BookingApplication
    loaded: dict[UUID, Any] = field(default_factory=dict)
    absent: set[UUID] = field(default_factory=set)

    def prefetch(self, *aggregate_ids: UUID) -> None:
        """Reads these in one round trip (a request needs five aggregates)."""
        wanted = [i for i in aggregate_ids if i not in self.loaded and i not in self.absent]
        if wanted:
            found = self.app.find_many(wanted)
            self.loaded.update(found)
            self.absent.update(i for i in wanted if i not in found)

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self.loaded:
            found = None if aggregate_id in self.absent else self.app.find(cls, aggregate_id)
            if found is None:
                return None
            self.loaded[aggregate_id] = found
        value = self.loaded[aggregate_id]
        return value if isinstance(value, cls) else None

    def diary(self, user_id: UUID) -> Diary:
        found = self.get(Diary, Diary.create_id(user_id))
        if found is None:
            found = Diary.open(user_id)
            self.loaded[found.id] = found
        return found

    def add(self, aggregate: Any) -> Any:
        self.loaded[aggregate.id] = aggregate
        return aggregate

    def changed(self) -> list[Any]:
        return [a for a in self.loaded.values() if a.pending_events]


class BookingApplication(ServiceApplication):
    name = "booking"

    def __init__(self, env: dict[str, str] | None = None, *, rules: Rules, sealer: Sealer, feed_key: bytes,
                 clock: Clock = _utcnow) -> None:
        self.rules = rules
        self.sealer = sealer
        self.feed_key = feed_key
        self.clock = clock
        super().__init__(env)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def _unit(self) -> Unit:
        return Unit(self)

    def _save(self, unit: Unit) -> None:
        changed = unit.changed()
        if changed:
            self.save(*changed)

    # -- availability --------------------------------------------------------------------------

    def availability_of(self, tutor_id: UUID) -> Availability:
        return self.load(Availability, Availability.create_id(tutor_id), "availability")

    @retry_on_conflict()
    def set_availability(self, tutor_id: UUID, rules: AvailabilityRules) -> Availability:
        current = self.find(Availability, Availability.create_id(tutor_id))
        if rules.place:  # the tutor's words (a room, perhaps their home): sealed, so erasure unsays them
            kept = current.place if current is not None and self.place_of(tutor_id, current.place) == rules.place \
                else None
            rules = replace(rules, place=kept or self.sealer.seal(tutor_id, rules.place))
        if current is None:
            current = Availability.first(tutor_id, rules)
        else:
            current.change(rules)
        if current.pending_events:
            self.save(current)
        return current

    def slots(self, tutor_id: UUID, minutes: int, start: datetime | None, end: datetime | None,
              group: bool = False, listing_id: UUID | None = None) -> SlotsView:
        """Free slots of ``minutes`` in [start, end) (default: the next 7 days)."""
        availability = self.availability_of(tutor_id)
        now = self.now()
        earliest, latest = availability.bookable_window(now)
        start = max(start or now, earliest)
        end = min(end or start + timedelta(days=7), latest)
        if end - start > MAX_SLOT_RANGE:
            raise Invalid("to", "ask for at most 31 days at a time")
        diary = self.find(Diary, Diary.create_id(tutor_id))
        if diary is not None and (diary.suspended or diary.erased):
            return SlotsView(tutor_id, availability.rules["time_zone"], minutes, availability.instant_book, [])
        capacity = availability.group_capacity
        out = []
        for s, e in availability.grid(start, end, minutes) if end > start else []:
            group_id = self.group_id(tutor_id, listing_id, s, minutes) if group and listing_id else None
            if diary is None:
                out.append(Slot(s, e, capacity if group_id else None))
                continue
            if diary.clashes(s, e, availability.buffer, group_id=group_id, capacity=capacity) is None:
                out.append(Slot(s, e, capacity - diary.seats_taken(group_id) if group_id else None))
        return SlotsView(tutor_id, availability.rules["time_zone"], minutes, availability.instant_book, out)

    @staticmethod
    def group_id(tutor_id: UUID, listing_id: UUID | None, starts_at: datetime, minutes: int) -> UUID:
        return uuid5(GROUP_NAMESPACE, f"{tutor_id}:{listing_id}:{starts_at.isoformat()}:{minutes}")

    # -- requests ---------------------------------------------------------------------------

    def terms_of(self, listing_id: UUID) -> ListingTerms:
        terms = self.find(ListingTerms, ListingTerms.create_id(listing_id))
        if terms is None:
            raise Invalid("listing_id", "no such listing")
        return terms

    def _starts(self, req: BookingRequest, availability: Availability) -> list[datetime]:
        if req.kind == "package":
            if len(req.starts_at) < 2:
                raise Invalid("starts_at", "a package has at least two sessions")
        elif len(req.starts_at) != 1:
            raise Invalid("starts_at", f"a {req.kind} booking has one start (a package has several)")
        if req.kind != "recurring" and req.weeks != 1:
            raise Invalid("weeks", "only a recurring booking repeats weekly")
        if req.kind == "recurring" and req.weeks < 2:
            raise Invalid("weeks", "a recurring booking has at least two weeks")
        starts = [wallclock.utc(s) for s in req.starts_at]
        if req.kind == "recurring":
            starts = [wallclock.same_wall_time_weeks_later(starts[0], w, availability.tz) for w in range(req.weeks)]
        if len(starts) > self.rules.max_occurrences:
            raise Invalid("weeks" if req.kind == "recurring" else "starts_at",
                          f"a booking has at most {self.rules.max_occurrences} sessions")
        return starts

    def plan(self, student_id: UUID, req: BookingRequest, unit: Unit | None = None) -> Plan:
        """Every rule a request must meet, in the order a person would want to hear them;
        refusals name the field. Nothing is saved."""
        unit = unit or self._unit()
        now = self.now()
        unit.prefetch(ListingTerms.create_id(req.listing_id), Diary.create_id(student_id))
        terms = unit.get(ListingTerms, ListingTerms.create_id(req.listing_id))
        if terms is None:
            raise Invalid("listing_id", "no such listing")
        unit.prefetch(Availability.create_id(terms.tutor_id), Diary.create_id(terms.tutor_id))
        if terms.tutor_id == student_id:
            raise Invalid("listing_id", "that is your own listing: nobody books themselves")
        trial = req.kind == "trial"
        terms.check_bookable(req.minutes, req.mode, trial)
        price = terms.price(req.minutes, req.currency, trial)
        availability = unit.get(Availability, Availability.create_id(terms.tutor_id))
        if availability is None:
            raise Invalid("listing_id", "the tutor has not opened any time for booking")
        if req.mode == "in_person" and not availability.place:
            raise Invalid("mode", "the tutor has not said where in-person sessions happen")
        group = req.kind == "group"
        if group and availability.group_capacity < 2:
            raise Invalid("kind", "the tutor does not run group sessions")
        starts = self._starts(req, availability)
        field = "weeks" if req.kind == "recurring" else "starts_at"
        length = timedelta(minutes=req.minutes)
        earliest, latest = availability.bookable_window(now)
        slots = []
        for i, s in enumerate(starts):
            where = f"{field}.{i}" if len(starts) > 1 and req.kind != "recurring" else field
            if req.kind != "recurring" and s != s.replace(second=0, microsecond=0):
                raise Invalid(where, "must be on a whole minute")
            if s <= now:
                raise Invalid(where, "is in the past")
            if s < earliest:
                raise Invalid(where, f"the tutor needs {availability.rules['min_notice_minutes']} minutes' notice")
            if s > latest:
                raise Invalid(where, f"the tutor takes bookings up to {availability.rules['horizon_days']} days ahead")
            if not availability.offers(s, req.minutes):
                raise Invalid(where, "is not one of the tutor's open slots (GET /v1/tutors/{tutor_id}/slots)")
            slots.append((i, s, s + length))
        ordered = sorted(slots, key=lambda x: x[1])
        for (_, _, prev_end), (i, s, _) in itertools.pairwise(ordered):
            if s < prev_end:
                raise Invalid(f"{field}.{i}", "overlaps another session of this booking")
        tutor, student = unit.diary(terms.tutor_id), unit.diary(student_id)
        tutor.check_in_good_standing("listing_id", "tutor")
        student.check_in_good_standing("student", "student")
        if trial and student.had_trial_with(terms.tutor_id):
            raise Invalid("kind", "you have had your trial session with this tutor")
        group_id = self.group_id(terms.tutor_id, terms.listing_id, slots[0][1], req.minutes) if group else None
        tutor.check_free(slots, availability.buffer, field, group_id=group_id, capacity=availability.group_capacity)
        student.check_free(slots, timedelta(0), field)
        promotion = terms.promotion(req.promotion_code, now) if req.promotion_code else None
        gross = [price] * len(slots)
        discount = terms.discount(promotion, sum(gross), req.currency)
        first, last_end = min(s for _, s, _ in slots), max(e for _, _, e in slots)
        respond_by = None if availability.instant_book else min(now + timedelta(hours=self.rules.respond_hours),
                                                                first)
        return Plan(terms=terms, availability=availability, slots=slots, prices=share(discount, gross),
                    gross=sum(gross), discount=discount, promotion=promotion, respond_by=respond_by,
                    hold_until=last_end + self.rules.dispute_window + timedelta(hours=self.rules.hold_grace_hours),
                    hold_answer_by=min(now + timedelta(minutes=self.rules.hold_wait_minutes), first),
                    group_id=group_id, tutor=tutor, student=student)

    @retry_on_conflict(attempts=60)
    def request_booking(self, student_id: UUID, req: BookingRequest, booking_id: UUID | None = None) -> UUID:
        """``booking_id``: derived from the request's Idempotency-Key, so a retry of a request
        whose first run committed (and then lost its answer in a crash) finds that booking."""
        unit = self._unit()
        if booking_id is not None:
            unit.prefetch(booking_id, ListingTerms.create_id(req.listing_id), Diary.create_id(student_id))
            if unit.get(Booking, booking_id) is not None:
                return booking_id
        plan = self.plan(student_id, req, unit)
        now = self.now()
        terms = plan.terms
        booking = Booking.request(
            booking_id,
            tutor_id=terms.tutor_id, student_id=student_id, payer_id=student_id, listing_id=terms.listing_id,
            kind=req.kind, mode=req.mode, currency=req.currency,
            occurrences=[{"occurrence": n, "starts_at": s, "ends_at": e, "price": p}
                         for (n, s, e), p in zip(plan.slots, plan.prices, strict=True)],
            total=plan.total, discount=plan.discount,
            promotion_id=plan.promotion["promotion_id"] if plan.promotion else None,
            respond_by=plan.respond_by, hold_until=plan.hold_until, hold_answer_by=plan.hold_answer_by,
            policy=self.rules.policy.record(), group_id=plan.group_id, instant=plan.availability.instant_book,
            place=plan.availability.place if req.mode == "in_person" else None, title=terms.title,
            note=self.sealer.seal(student_id, req.note) if req.note else None, at=now)
        unit.add(booking)
        if plan.promotion is not None:
            use = unit.get(PromotionUse, PromotionUse.create_id(plan.promotion["promotion_id"]))
            use = use or unit.add(PromotionUse.open(plan.promotion["promotion_id"]))
            use.redeem(booking.id, student_id, plan.promotion["max_redemptions"])
        plan.tutor.reserve(booking.id, "tutor", plan.slots, now, group_id=plan.group_id)
        plan.student.reserve(booking.id, "student", plan.slots, now,
                             trial_with=terms.tutor_id if req.kind == "trial" else None)
        self._save(unit)
        return booking.id

    # -- steps of a booking -----------------------------------------------------------------------

    def _booking(self, unit: Unit, booking_id: UUID) -> Booking:
        found = unit.get(Booking, booking_id)
        if found is None:
            raise NotFound("no such booking")
        return found

    def _consequences(self, unit: Unit, booking: Booking, before: set[int]) -> None:
        """What a booking's step means for the diaries, the trial and the promotion code."""
        released = sorted(before - booking.active_slots())
        trial_back = booking.kind == "trial" and booking.never_took_place
        if released or trial_back:
            unit.diary(booking.tutor_id).release(booking.id, released)
            unit.diary(booking.student_id).release(booking.id, released,
                                                   trial_with=booking.tutor_id if trial_back else None)
        if booking.never_took_place and booking.promotion_id is not None:
            use = unit.get(PromotionUse, PromotionUse.create_id(booking.promotion_id))
            if use is not None:
                use.give_back(booking.id)

    def _step(self, booking_id: UUID, decide: Callable[[Unit, Booking], None]) -> Booking:
        unit = self._unit()
        booking = self._booking(unit, booking_id)
        before = booking.active_slots()
        decide(unit, booking)
        self._consequences(unit, booking, before)
        self._save(unit)
        return booking

    @retry_on_conflict()
    def accept(self, booking_id: UUID, caller: Caller) -> Booking:
        return self._step(booking_id, lambda u, b: b.accept(b.party_of(caller.user_id, caller.staff), self.now()))

    @retry_on_conflict()
    def decline(self, booking_id: UUID, caller: Caller, decline: Decline) -> Booking:
        def decide(unit: Unit, b: Booking) -> None:
            party = b.party_of(caller.user_id, caller.staff)
            b.decline(party, decline.reason_code, self._sealed(caller.user_id, decline.note), self.now())

        return self._step(booking_id, decide)

    @retry_on_conflict()
    def cancel(self, booking_id: UUID, caller: Caller, cancellation: Cancellation) -> Booking:
        def decide(unit: Unit, b: Booking) -> None:
            party = b.party_of(caller.user_id, caller.staff)
            if party == "staff" and not caller.staff:
                raise Forbidden("this booking belongs to other people")
            count = None
            if party == "tutor" and b.status == "confirmed":
                tutor = unit.diary(b.tutor_id)
                tutor.count_tutor_cancellation(b.id)
                count = tutor.tutor_cancellations
            b.cancel(party, caller.user_id, cancellation, self._sealed(caller.user_id, cancellation.note),
                     self.now(), tutor_cancellations=count)

        return self._step(booking_id, decide)

    @retry_on_conflict()
    def record_outcome(self, booking_id: UUID, outcome: RecordedOutcome) -> Booking:
        return self._step(booking_id, lambda u, b: b.record_outcome(outcome.occurrence, outcome.outcome,
                                                                      outcome.absent, "staff", self.now()))

    @retry_on_conflict()
    def open_dispute(self, booking_id: UUID, caller: Caller, claim: DisputeClaim) -> UUID:
        dispute_id = uuid4()

        def decide(unit: Unit, b: Booking) -> None:
            party = b.party_of(caller.user_id)
            b.open_dispute(dispute_id, party, caller.user_id, claim, self.sealer.seal(caller.user_id, claim.statement),
                           self.now(), self.rules)

        self._step(booking_id, decide)
        return dispute_id

    @retry_on_conflict()
    def decide_dispute(self, booking_id: UUID, dispute_id: UUID, staff_id: UUID, decision: DisputeDecision) -> Booking:
        return self._step(booking_id, lambda u, b: b.decide_dispute(
            dispute_id, decision.refund, self.sealer.seal(staff_id, decision.note), self.now(), staff_id))

    @retry_on_conflict()
    def propose_move(self, booking_id: UUID, caller: Caller, occurrence: int, starts_at: datetime) -> Booking:
        def decide(unit: Unit, b: Booking) -> None:
            party = b.party_of(caller.user_id)
            o = b.occurrence(occurrence)
            starts_at_utc = wallclock.utc(starts_at)
            ends_at = starts_at_utc + (o["ends_at"] - o["starts_at"])
            self._check_move(unit, b, occurrence, starts_at_utc, ends_at)
            b.propose_move(party, occurrence, starts_at_utc, ends_at, self.now(), self.rules)

        return self._step(booking_id, decide)

    def _check_move(self, unit: Unit, b: Booking, n: int, starts_at: datetime, ends_at: datetime) -> None:
        now = self.now()
        availability = self.availability_of(b.tutor_id)
        earliest, latest = availability.bookable_window(now)
        minutes = int((ends_at - starts_at).total_seconds() // 60)
        if starts_at < earliest:
            raise Invalid("starts_at", "is too soon (or in the past) for the tutor's notice")
        if starts_at > latest or not availability.offers(starts_at, minutes):
            raise Invalid("starts_at", "is not one of the tutor's open slots")
        for diary, buffer in ((unit.diary(b.tutor_id), availability.buffer), (unit.diary(b.student_id), timedelta(0))):
            why = diary.clashes(starts_at, ends_at, buffer, ignore=(b.id, n))
            if why:
                raise Invalid("starts_at", why)

    @retry_on_conflict()
    def answer_move(self, booking_id: UUID, caller: Caller, occurrence: int, agree: bool) -> Booking:
        def decide(unit: Unit, b: Booking) -> None:
            party = b.party_of(caller.user_id)
            proposal = b.pending_move(party, occurrence, self.now())
            if not agree:
                b.drop_move(occurrence, self.now(), party)
                return
            self._check_move(unit, b, occurrence, proposal["starts_at"], proposal["ends_at"])
            b.move(occurrence, self.now(), self.rules, party)
            for user in (b.tutor_id, b.student_id):
                unit.diary(user).move(b.id, occurrence, proposal["starts_at"], proposal["ends_at"])

        return self._step(booking_id, decide)

    def _sealed(self, writer: UUID, words: str) -> str | None:
        return self.sealer.seal(writer, words) if words else None

    # -- reading ---------------------------------------------------------------------------------

    def booking_for(self, booking_id: UUID, caller: Caller) -> Booking:
        booking = self.find(Booking, booking_id)
        if booking is None:
            raise NotFound("no such booking")
        booking.party_of(caller.user_id, caller.staff)
        return booking

    def place_of(self, tutor_id: UUID, place: str | None) -> str | None:
        """Where in-person sessions happen, in the tutor's words (None once they are erased);
        a place stored before places were sealed is shown as it was."""
        if place and not is_sealed(place):
            return place
        return self.opened(tutor_id, place)

    def opened(self, writer: UUID | None, sealed: str | None) -> str | None:
        if not sealed or writer is None:
            return sealed if writer is None else None
        return self.sealer.open(writer, sealed)

    def bookings_of(self, user_id: UUID, role: str | None, offset: int, limit: int) -> tuple[list[Booking], bool]:
        diary = self.find(Diary, Diary.create_id(user_id))
        ids = [b for b, r in (diary.booking_ids() if diary else []) if role is None or r == role]
        page = ids[offset:offset + limit]
        return [self.load(Booking, b, "booking") for b in page], len(ids) > offset + limit

    def reliability(self, tutor_id: UUID) -> int:
        diary = self.find(Diary, Diary.create_id(tutor_id))
        return diary.tutor_cancellations if diary else 0

    # -- the calendar feed ---------------------------------------------------------------------

    def feed_secret(self, user_id: UUID, generation: int | None = None) -> str:
        if generation is None:
            diary = self.find(Diary, Diary.create_id(user_id))
            generation = diary.feed_generation if diary else 0
        mac = hmac.new(self.feed_key, f"feed:{user_id}:{generation}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    @retry_on_conflict()
    def rotate_feed(self, user_id: UUID) -> str:
        unit = self._unit()
        diary = unit.diary(user_id)
        diary.rotate_feed()
        self._save(unit)
        return self.feed_secret(user_id, diary.feed_generation)

    def feed_bookings(self, user_id: UUID, secret: str, since: timedelta = timedelta(days=90)) -> list[Booking]:
        if not hmac.compare_digest(secret.encode(), self.feed_secret(user_id).encode()):
            raise NotFound("no such calendar")
        diary = self.find(Diary, Diary.create_id(user_id))
        cutoff = self.now() - since
        out = []
        for booking_id, _ in diary.booking_ids() if diary else []:
            b = self.load(Booking, booking_id, "booking")
            if b.last_end >= cutoff:
                out.append(b)
        return out

    # -- reactions ----------------------------------------------------------------------------

    def react(self, event: IntegrationEvent, delivery: Delivery) -> list[Any]:
        """What another service's event changes here (saved by the kit with its tracking row)."""
        unit = self._unit()
        if isinstance(event, (cat.ListingPublished, cat.ListingUpdated, cat.ListingPublishedV2, cat.ListingUpdatedV2)):
            self._learn_listing(unit, event)
        elif isinstance(event, (cat.ListingPaused, cat.ListingWithdrawn)):
            terms = unit.get(ListingTerms, ListingTerms.create_id(event.listing_id))
            terms = terms or unit.add(ListingTerms.learn(event.listing_id, event.tutor_id))
            terms.update("paused" if isinstance(event, cat.ListingPaused) else "withdrawn")
        elif isinstance(event, cat.PromotionCreated):
            terms = unit.get(ListingTerms, ListingTerms.create_id(event.listing_id))
            terms = terms or unit.add(ListingTerms.learn(event.listing_id, event.tutor_id))
            terms.add_promotion(event.promotion_id, event.code, event.percent_off, event.credits_off,
                                event.max_redemptions, event.expires_at)
        elif isinstance(event, cat.PromotionEnded):
            terms = unit.get(ListingTerms, ListingTerms.create_id(event.listing_id))
            if terms is not None:
                terms.end_promotion(event.promotion_id)
        elif isinstance(event, (idc.UserSuspended, idc.UserReinstated, idc.UserErased)):
            self._standing(unit, event)
        elif isinstance(event, (led.EscrowHeld, led.EscrowHoldRejected, led.EscrowReleased, led.EscrowRefunded,
                                ses.SessionCompleted, ses.SessionNoShow)):
            self._about_a_booking(unit, event)
        return unit.changed()

    def _learn_listing(self, unit: Unit, event: Any) -> None:
        snap = event.listing
        terms = unit.get(ListingTerms, ListingTerms.create_id(event.listing_id))
        terms = terms or unit.add(ListingTerms.learn(event.listing_id, snap.tutor_id))
        terms.update("published", {"title": snap.title, "rate": snap.rate.model_dump(),
                                   "session_minutes": list(snap.session_minutes), "modes": list(snap.modes),
                                   "trial": snap.trial.model_dump() if snap.trial else None})

    def _standing(self, unit: Unit, event: Any) -> None:
        diary = unit.diary(event.user_id)
        if isinstance(event, idc.UserReinstated):
            diary.set_standing(suspended=False)
            return
        erased = isinstance(event, idc.UserErased)
        diary.set_standing(suspended=True) if not erased else diary.set_standing(erased=True)
        now = self.now()
        for booking_id, _ in diary.booking_ids():
            booking = self._booking(unit, booking_id)
            before = booking.active_slots()
            if booking.cancel_for_standing(event.user_id, "other" if erased else "suspended", now):
                self._consequences(unit, booking, before)
        if erased:
            self.sealer.forget(event.user_id)  # their words in every booking: unreadable for good

    def _about_a_booking(self, unit: Unit, event: Any) -> None:
        booking = unit.get(Booking, event.booking_id)
        if booking is None:
            return  # not one of ours (or not yet: never, since we asked first)
        now = self.now()
        before = booking.active_slots()
        if isinstance(event, led.EscrowHeld):
            booking.on_held([h.model_dump() for h in event.holds], event.expires_at, now)
        elif isinstance(event, led.EscrowHoldRejected):
            booking.on_hold_rejected(event.reason_code, now)
        elif isinstance(event, led.EscrowReleased):
            booking.on_money(event.occurrence, "released", now)
        elif isinstance(event, led.EscrowRefunded):
            if event.reason_code == "hold_expired":
                booking.on_hold_expired(event.occurrence, now)
            else:
                booking.on_money(event.occurrence, "refunded", now)
        elif isinstance(event, ses.SessionCompleted | ses.SessionNoShow) and self._reported(booking, event.occurrence):
            if isinstance(event, ses.SessionCompleted):
                booking.record_outcome(event.occurrence, "completed", None, "sessions", max(now, event.ended_at))
            else:
                at = max(now, booking.occurrence(event.occurrence)["starts_at"])
                booking.record_outcome(event.occurrence, "no_show", event.absent, "sessions", at)
        self._consequences(unit, booking, before)

    @staticmethod
    def _reported(booking: Booking, n: int) -> bool:
        """Whether a session's outcome can still be recorded (a later report changes nothing)."""
        return 0 <= n < len(booking.occurrences) and booking.occurrences[n]["status"] == "scheduled" \
            and booking.status in ("confirmed", "closed")

    # -- deadlines ----------------------------------------------------------------------------

    def deadlines_of(self, e: Any) -> Iterable[Deadline]:
        """What each of booking's stored events sets (or clears) on the deadline schedule."""
        if not isinstance(e, _BOOKING.Event):
            return []
        b = str(e.originator_id)
        kind = type(e).__name__
        rules = self.rules
        if kind == "Requested":
            out = [Deadline(f"hold:{b}", e.hold_answer_by)]
            if e.respond_by is not None:
                out.append(Deadline(f"respond:{b}", e.respond_by))
            window = timedelta(hours=e.policy.get("dispute_window_hours", 48))
            out += [Deadline(f"settle:{b}:{o['occurrence']}", o["ends_at"] + window) for o in e.occurrences]
            return out
        if kind in ("Confirmed", "Moved"):
            return self._reminders(e, b)
        if kind == "Completed":
            return [Deadline(f"follow:{b}:{e.occurrence}", e.at + timedelta(minutes=rules.follow_up_minutes))]
        if kind in ("Cancelled",):
            return [Deadline(f"remind:{b}:{n}:{m}", None) for n in e.occurrences for m in rules.reminder_minutes]
        if kind == "DisputeOpened":
            return [Deadline(f"dispute:{b}:{e.dispute_id}", e.decide_by)]
        if kind == "DisputeResolved":
            return [Deadline(f"dispute:{b}:{e.dispute_id}", None)]
        if kind == "MoveProposed":
            return [Deadline(f"move:{b}:{e.occurrence}", e.expires_at)]
        if kind == "MoveDropped":
            return [Deadline(f"move:{b}:{e.occurrence}", None)]
        if kind in ("Declined", "Expired", "Failed", "Withdrawn"):
            return [Deadline(f"respond:{b}", None), Deadline(f"hold:{b}", None)]
        if kind in ("AwaitingTutor", "Held"):
            return [Deadline(f"hold:{b}", None)]
        return []

    def _reminders(self, e: Any, b: str) -> list[Deadline]:
        """Reminders of every occurrence (Confirmed) or of the one moved, its settlement too."""
        out: list[Deadline] = []
        if type(e).__name__ == "Moved":
            booking = self.find(Booking, e.originator_id)
            window = timedelta(hours=booking.policy.get("dispute_window_hours", 48)) if booking else \
                self.rules.dispute_window
            spans = [(e.occurrence, e.starts_at, e.ends_at)]
            out.append(Deadline(f"settle:{b}:{e.occurrence}", e.ends_at + window))
        else:
            spans = [(o["occurrence"], o["starts_at"], o["ends_at"]) for o in e.occurrences]
        for n, starts_at, _ in spans:
            for minutes in self.rules.reminder_minutes:
                due = starts_at - timedelta(minutes=minutes)
                out.append(Deadline(f"remind:{b}:{n}:{minutes}", due if due >= e.at else None))
        return out

    @retry_on_conflict()
    def fire(self, key: str, due_at: datetime) -> None:
        """A deadline fell due: decide from the booking as it is now (the deadline may be stale)."""
        what, booking_id, *rest = key.split(":")
        unit = self._unit()
        booking = unit.get(Booking, UUID(booking_id))
        if booking is None:
            return
        now = self.now()
        before = booking.active_slots()
        if what == "hold":
            booking.hold_wait_over(now)
        elif what == "respond":
            booking.respond_deadline(now)
        elif what == "settle":
            booking.settle_due(int(rest[0]), now, timedelta(hours=booking.policy.get("dispute_window_hours", 48)))
        elif what == "remind":
            booking.remind(int(rest[0]), int(rest[1]), now)
        elif what == "follow":
            booking.follow_up(int(rest[0]), self.rules.follow_up_minutes, now)
        elif what == "dispute":
            booking.dispute_deadline(UUID(rest[0]), now, self.rules)
        elif what == "move":
            booking.move_deadline(int(rest[0]), now)
        self._consequences(unit, booking, before)
        self._save(unit)
