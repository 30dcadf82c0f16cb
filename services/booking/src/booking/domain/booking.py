"""A booking: one learner's claim on a tutor's time, from the request to the settlement of
every occurrence's money. The state machine (who may take each step, and its deadline):

==================  ==========================  ==================  ==========================  ======================
from                step                        to                  who                         deadline
==================  ==========================  ==================  ==========================  ======================
(none)              request                     requested           student                     —
requested           credits held, instant book  confirmed           ledger (EscrowHeld)         hold_answer_by
requested           credits held, request       awaiting_tutor      ledger (EscrowHeld)         hold_answer_by
requested           hold refused                failed              ledger (EscrowHoldRejected) —
requested           no answer from the ledger   failed              system                      hold_answer_by
requested/awaiting  accept                      confirmed*          tutor                       respond_by
requested/awaiting  decline                     declined            tutor                       respond_by
requested/awaiting  nobody answered             expired             system                      respond_by
requested/awaiting  withdraw (cancel)           cancelled           student, staff              —
confirmed           cancel occurrences          cancelled**         student (policy), tutor,    the start
                                                                    staff (full refund)
confirmed           move an occurrence          confirmed           one side asks, other agrees notice before start
occurrence          took place                  completed           sessions, staff             after the start
occurrence          no-show                     no_show             sessions, staff             after the start
occurrence          dispute                     disputed            student, tutor              end + dispute window
disputed            rule or staff decision      settled             rule, staff                 decide_by
occurrence          window closed, no dispute   settled             system                      end + dispute window
any, unsettled      ledger voided the hold      failed/cancelled    ledger (hold_expired)       —
any                 a party suspended/erased    cancelled           identity                    —
==================  ==========================  ==================  ==========================  ======================

\\* once the credits are held (a tutor may accept before the ledger answers).
\\*\\* the booking is cancelled once no occurrence is left; otherwise it stays confirmed.

Money: every occurrence whose price was held ends with exactly one ``Settled`` (refund in
basis points and outcome); an occurrence whose hold arrives after the booking ended is
settled at once with a full refund. The booking is ``closed`` when every occurrence is over
and settled."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from alphapeer_contracts.vocabulary import Mode
from booking.domain.commands import (
    ALL,
    Absent,
    Cancellation,
    DisputeClaim,
    Kind,
    Party,
    Policy,
    Rules,
)
from booking.domain.errors import Conflict, Invalid, NotFound, NotParty, TooLate

PENDING = ("requested", "awaiting_tutor")
LIVE = (*PENDING, "confirmed")
#: How each ending of a booking that never took place is settled when a hold arrives late.
LATE_HOLD_OUTCOME = {"declined": "declined", "expired": "expired", "failed": "expired"}


def _cancel_outcome(party: str, reason_code: str) -> str:
    if reason_code == "suspended" or party == "system":  # the system cancels only for a party's standing
        return "suspended"
    return {"student": "cancelled_by_student", "tutor": "cancelled_by_tutor"}.get(party, "cancelled_by_staff")


class Booking(Aggregate):
    @classmethod
    def request(cls, booking_id: UUID | None, **fields: Any) -> Booking:
        """A new booking, under ``booking_id`` when given (one derived from the request's
        Idempotency-Key, so a retried request finds it), else a new random id."""
        if booking_id is None:
            return cls(**fields)
        return cls._create(cls.Requested, id=booking_id, **fields)  # type: ignore[attr-defined]  # by @event

    @event("Requested")
    def __init__(self, tutor_id: UUID, student_id: UUID, payer_id: UUID, listing_id: UUID, kind: Kind, mode: Mode,
                 currency: str, occurrences: list[dict[str, Any]], total: int, discount: int,
                 promotion_id: UUID | None, respond_by: datetime | None, hold_until: datetime,
                 hold_answer_by: datetime, policy: dict[str, Any], group_id: UUID | None, instant: bool,
                 place: str | None, title: str, note: str | None, at: datetime) -> None:
        self.tutor_id = tutor_id
        self.student_id = student_id
        self.payer_id = payer_id
        self.listing_id = listing_id
        self.kind = kind
        self.mode = mode
        self.currency = currency
        self.occurrences = [{**o, "status": "scheduled", "absent": None, "settled": None, "money": None,
                             "proposal": None, "reminded": [], "followed": False, "sequence": 0}
                            for o in occurrences]
        self.total = total
        self.discount = discount
        self.promotion_id = promotion_id
        self.respond_by = respond_by
        self.hold_until = hold_until
        self.hold_answer_by = hold_answer_by
        self.policy = policy
        self.group_id = group_id
        self.instant = instant
        self.place = place
        self.title = title
        self.note = note  # the learner's words to the tutor, sealed
        self.status = "requested"
        self.accepted = False
        self.held = False
        self.confirmed_once = False
        self.ended_by: str | None = None  # who ended a booking (or its last sessions), and why
        self.ended_reason: str | None = None
        self.failure: str | None = None
        self.disputes: dict[str, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []  # reasons in words, sealed under their writer's key
        self.timeline: list[dict[str, Any]] = [{"at": at, "what": "requested", "by": "student"}]

    # -- reading ----------------------------------------------------------------------------

    def occurrence(self, n: int, field: str = "occurrence") -> dict[str, Any]:
        if not 0 <= n < len(self.occurrences):
            raise NotFound(f"the booking has no occurrence {n}")
        return self.occurrences[n]

    def party_of(self, user_id: UUID, staff: bool = False) -> Party:
        if user_id == self.student_id:
            return "student"
        if user_id == self.tutor_id:
            return "tutor"
        if staff:
            return "staff"
        raise NotParty("this booking belongs to other people")

    def active_slots(self) -> set[int]:
        """Occurrences still holding time in the parties' diaries."""
        if self.status not in LIVE:
            return set()
        return {o["occurrence"] for o in self.occurrences if o["status"] == "scheduled"}

    @property
    def never_took_place(self) -> bool:
        """Ended before it was confirmed, or cancelled by the tutor's side: a trial and a
        promotion code are given back."""
        if self.status in ("declined", "expired", "failed"):
            return True
        return self.status == "cancelled" and (not self.confirmed_once or self.ended_by not in (None, "student"))

    def open_dispute_on(self, n: int) -> dict[str, Any] | None:
        return next((d for d in self.disputes.values() if d["occurrence"] == n and d["status"] == "open"), None)

    @property
    def last_end(self) -> datetime:
        return max(o["ends_at"] for o in self.occurrences)

    def _log(self, at: datetime, what: str, by: str, **detail: Any) -> None:
        self.timeline.append({"at": at, "what": what, "by": by, **detail})

    def _after_change(self) -> None:
        if self.status == "confirmed" and all(o["status"] != "scheduled" for o in self.occurrences):
            if all(o["status"] == "cancelled" for o in self.occurrences):
                self.status = "cancelled"
            elif all(o["settled"] is not None or o["money"] == "voided" or
                     (o["status"] == "cancelled" and not self.held) for o in self.occurrences):
                self.status = "closed"

    # -- the ledger's answers -----------------------------------------------------------------

    def on_held(self, holds: list[dict[str, Any]], expires_at: datetime, now: datetime) -> None:
        if self.held:
            return
        self._held(holds, expires_at, now)
        if self.status == "requested":
            if self.respond_by is not None and now >= self.respond_by and not self.accepted:
                self._expired(now)
            elif self.instant or self.accepted:
                self._confirmed(self._spans(), now, "ledger")
            else:
                self._awaiting(now)
        elif self.status in ("declined", "expired", "failed", "cancelled"):
            outcome = LATE_HOLD_OUTCOME.get(self.status) or _cancel_outcome(self.ended_by or "staff",
                                                                            self.ended_reason or "other")
            self._settle_all(ALL, outcome, now)

    @event("Held")
    def _held(self, holds: list[dict[str, Any]], expires_at: datetime, at: datetime) -> None:
        self.held = True
        self._log(at, "credits_held", "ledger", expires_at=expires_at)

    @event("AwaitingTutor")
    def _awaiting(self, at: datetime) -> None:
        self.status = "awaiting_tutor"
        self._log(at, "awaiting_tutor", "system", respond_by=self.respond_by)

    def _spans(self) -> list[dict[str, Any]]:
        return [{k: o[k] for k in ("occurrence", "starts_at", "ends_at", "price")} for o in self.occurrences]

    @event("Confirmed")
    def _confirmed(self, occurrences: list[dict[str, Any]], at: datetime, by: str) -> None:
        self.status = "confirmed"
        self.confirmed_once = True
        self._log(at, "confirmed", by)

    def on_hold_rejected(self, reason_code: str, now: datetime) -> None:
        if self.status == "requested":
            self._failed(reason_code, now)

    @event("Failed")
    def _failed(self, reason_code: str, at: datetime) -> None:
        self.status = "failed"
        self.failure = reason_code
        self._log(at, "failed", "ledger" if reason_code != "no_answer" else "system", reason_code=reason_code)

    def hold_wait_over(self, now: datetime) -> None:
        """The ledger did not answer by ``hold_answer_by``: the request fails (a hold arriving
        later is settled at once with a full refund)."""
        if self.status == "requested" and now >= self.hold_answer_by:
            self._failed("hold_expired", now)

    def on_hold_expired(self, n: int, now: datetime) -> None:
        """The ledger voided an occurrence's hold at its deadline: its money went back."""
        o = self.occurrence(n)
        if o["settled"] is not None or o["money"] == "voided":
            return
        self._voided(n, now)
        if self.status in PENDING:
            self._failed("hold_expired", now)
        elif self.status == "confirmed" and o["status"] == "scheduled":
            self._cancelled([n], "system", "other", ALL, "hold_expired", None, None, now)

    @event("Voided")
    def _voided(self, occurrence: int, at: datetime) -> None:
        self.occurrences[occurrence]["money"] = "voided"
        self._log(at, "hold_expired", "ledger", occurrence=occurrence)
        self._after_change()

    def on_money(self, n: int, how: str, now: datetime) -> None:
        o = self.occurrence(n)
        if o["money"] is None:
            self._money(n, how, now)

    @event("MoneyMoved")
    def _money(self, occurrence: int, how: str, at: datetime) -> None:
        self.occurrences[occurrence]["money"] = how
        self._log(at, f"credits_{how}", "ledger", occurrence=occurrence)

    # -- the tutor's answer --------------------------------------------------------------------

    def _check_answerable(self, now: datetime) -> None:
        if self.status not in PENDING:
            raise Conflict(f"the booking is {self.status}, not waiting for an answer")
        if self.instant:
            raise Conflict("this booking was booked instantly: nothing to answer")
        if self.respond_by is not None and now >= self.respond_by:
            raise TooLate("the request has expired")

    def accept(self, party: Party, now: datetime) -> None:
        if party != "tutor":
            raise NotParty("only the tutor answers a request")
        self._check_answerable(now)
        if self.accepted:
            raise Conflict("already accepted")
        if self.held:
            self._confirmed(self._spans(), now, "tutor")
        else:
            self._accepted(now)

    @event("Accepted")
    def _accepted(self, at: datetime) -> None:
        self.accepted = True
        self._log(at, "accepted", "tutor")

    def decline(self, party: Party, reason_code: str, note: str | None, now: datetime) -> None:
        if party != "tutor":
            raise NotParty("only the tutor answers a request")
        self._check_answerable(now)
        self._declined(reason_code, note, now)
        if self.held:
            self._settle_all(ALL, "declined", now)

    @event("Declined")
    def _declined(self, reason_code: str, note: str | None, at: datetime) -> None:
        self.status = "declined"
        self.ended_by = "tutor"
        if note:
            self.notes.append({"at": at, "by": "tutor", "writer": self.tutor_id, "text": note})
        self._log(at, "declined", "tutor", reason_code=reason_code)

    def respond_deadline(self, now: datetime) -> None:
        if self.status in PENDING and not self.instant and self.respond_by is not None and now >= self.respond_by:
            if self.accepted and self.status == "requested":
                return  # accepted; waiting for the ledger (hold_answer_by bounds that)
            self._expired(now)
            if self.held:
                self._settle_all(ALL, "expired", now)

    @event("Expired")
    def _expired(self, at: datetime) -> None:
        self.status = "expired"
        self._log(at, "expired", "system")

    # -- cancellation -------------------------------------------------------------------------

    def cancel(self, party: Party, writer: UUID | None, c: Cancellation, note: str | None, now: datetime,
               tutor_cancellations: int | None = None) -> None:
        """Everything still to come (or the occurrences named). A learner gets back what the
        policy gives for each occurrence; a tutor's, staff's or the system's cancellation
        refunds in full."""
        if self.status in PENDING:
            if party == "tutor":
                raise Conflict("decline the request instead of cancelling it")
            if c.occurrences is not None and set(c.occurrences) != set(range(len(self.occurrences))):
                raise Invalid("occurrences", "a request not yet confirmed is withdrawn as a whole")
            self._withdrawn(party, c.reason_code, writer, note, now)
            if self.held:
                self._settle_all(ALL, _cancel_outcome(party, c.reason_code), now)
            return
        if self.status != "confirmed":
            raise Conflict(f"the booking is {self.status}")
        chosen = c.occurrences if c.occurrences is not None else [
            o["occurrence"] for o in self.occurrences if o["status"] == "scheduled" and o["starts_at"] > now]
        if not chosen:
            raise Conflict("no occurrence of this booking is still to come")
        for i, n in enumerate(chosen):
            if not 0 <= n < len(self.occurrences):
                raise Invalid(f"occurrences.{i}", f"the booking has no occurrence {n}")
            o = self.occurrences[n]
            if o["status"] != "scheduled":
                raise Conflict(f"occurrence {n} is {o['status']}", field=f"occurrences.{i}")
            if o["starts_at"] <= now:
                raise TooLate(f"occurrence {n} has started: record what happened, or dispute it",
                              field=f"occurrences.{i}")
        groups: dict[int, list[int]] = {}
        for n in sorted(set(chosen)):
            refund = self.policy_refund(n, now) if party == "student" else ALL
            groups.setdefault(refund, []).append(n)
        for refund, ns in sorted(groups.items(), reverse=True):
            self._cancelled(ns, party, c.reason_code, refund, note, writer, tutor_cancellations, now)
            for n in ns:
                self._settle(n, refund, _cancel_outcome(party, c.reason_code), now)

    def policy_refund(self, n: int, now: datetime) -> int:
        return Policy.of(self.policy).refund_for(self.occurrences[n]["starts_at"], now)

    @event("Withdrawn")
    def _withdrawn(self, party: str, reason_code: str, writer: UUID | None, note: str | None, at: datetime) -> None:
        self.status = "cancelled"
        self.ended_by, self.ended_reason = party, reason_code
        for o in self.occurrences:
            o["status"] = "cancelled"
        if note:
            self.notes.append({"at": at, "by": party, "writer": writer, "text": note})
        self._log(at, "withdrawn" if party == "student" else "cancelled", party, reason_code=reason_code)

    @event("Cancelled")
    def _cancelled(self, occurrences: list[int], party: str, reason_code: str, refund: int, note: str | None,
                   writer: UUID | None, tutor_cancellations: int | None, at: datetime) -> None:
        for n in occurrences:
            self.occurrences[n]["status"] = "cancelled"
        if note:
            self.notes.append({"at": at, "by": party, "writer": writer, "text": note})
        self.ended_by, self.ended_reason = party, reason_code
        self._log(at, "cancelled", party, occurrences=list(occurrences), reason_code=reason_code, refund=refund)
        self._after_change()

    def cancel_for_standing(self, user_id: UUID, reason_code: str, now: datetime) -> bool:
        """A party was suspended or erased: what is pending, and every occurrence still to
        come, is cancelled by the system with a full refund."""
        if self.status in PENDING:
            self._withdrawn("system", reason_code, None, None, now)
            if self.held:
                self._settle_all(ALL, "suspended", now)
            return True
        if self.status != "confirmed":
            return False
        future = [o["occurrence"] for o in self.occurrences if o["status"] == "scheduled" and o["starts_at"] > now]
        if not future:
            return False
        self._cancelled(future, "system", reason_code, ALL, None, None, None, now)
        for n in future:
            self._settle(n, ALL, "suspended", now)
        return True

    # -- what happened -------------------------------------------------------------------------

    def record_outcome(self, n: int, outcome: str, absent: Absent | None, by: str, now: datetime) -> None:
        o = self.occurrence(n)
        if self.status not in ("confirmed", "closed"):
            raise Conflict(f"the booking is {self.status}")
        if o["status"] not in ("scheduled",):
            if (o["status"], o["absent"]) == (outcome if outcome == "completed" else "no_show", absent):
                return  # the same fact again
            raise Conflict(f"occurrence {n} is already {o['status']}")
        if now < o["starts_at"]:
            raise TooLate(f"occurrence {n} has not started yet", field="occurrence")
        if o["settled"] is not None:
            raise Conflict(f"occurrence {n} is settled")
        if outcome == "completed":
            self._completed(n, by, now)
        else:
            if absent is None:
                raise Invalid("absent", "say who was absent")
            self._no_show(n, absent, by, now)
        dispute = self.open_dispute_on(n)
        if dispute is not None:
            self._apply_rules(dispute, now)

    @event("Completed")
    def _completed(self, occurrence: int, by: str, at: datetime) -> None:
        self.occurrences[occurrence]["status"] = "completed"
        self.occurrences[occurrence]["completed_at"] = at
        self._log(at, "completed", by, occurrence=occurrence)

    @event("NoShow")
    def _no_show(self, occurrence: int, absent: str, by: str, at: datetime) -> None:
        self.occurrences[occurrence]["status"] = "no_show"
        self.occurrences[occurrence]["absent"] = absent
        self._log(at, "no_show", by, occurrence=occurrence, absent=absent)

    # -- settlement ------------------------------------------------------------------------------

    def settle_due(self, n: int, now: datetime, window: timedelta) -> None:
        """The dispute window of an occurrence closed: settle it unless a dispute is open."""
        o = self.occurrence(n)
        if self.status not in ("confirmed", "closed") or o["settled"] is not None or o["status"] == "cancelled":
            return
        if o["money"] == "voided" or not self.held or now < o["ends_at"] + window or self.open_dispute_on(n):
            return
        if o["status"] == "scheduled":
            self._completed(n, "system", now)  # nobody said otherwise: it took place
        if o["status"] == "completed":
            self._settle(n, 0, "completed", now)
        elif o["absent"] == "student":
            self._settle(n, 0, "student_no_show", now)
        else:
            self._settle(n, ALL, "tutor_no_show", now)

    def _settle(self, n: int, refund: int, outcome: str, now: datetime) -> None:
        o = self.occurrences[n]
        if self.held and o["settled"] is None and o["money"] != "voided":
            self._settled(n, refund, outcome, now)

    def _settle_all(self, refund: int, outcome: str, now: datetime) -> None:
        for o in self.occurrences:
            self._settle(o["occurrence"], refund, outcome, now)

    @event("Settled")
    def _settled(self, occurrence: int, refund: int, outcome: str, at: datetime) -> None:
        self.occurrences[occurrence]["settled"] = {"refund": refund, "outcome": outcome, "at": at}
        self._log(at, "settled", "system", occurrence=occurrence, refund=refund, outcome=outcome)
        self._after_change()

    # -- disputes ------------------------------------------------------------------------------

    def open_dispute(self, dispute_id: UUID, party: Party, writer: UUID, claim: DisputeClaim, statement: str,
                     now: datetime, rules: Rules) -> None:
        if party not in ("student", "tutor"):
            raise NotParty("a dispute is opened by the learner or the tutor")
        o = self.occurrence(claim.occurrence)
        if self.status not in ("confirmed", "closed") or o["status"] == "cancelled":
            raise Conflict("only an occurrence that was due to take place can be disputed", field="occurrence")
        if now < o["ends_at"]:
            raise TooLate("an occurrence can be disputed once it has ended", field="occurrence")
        if now >= o["ends_at"] + rules.dispute_window or o["settled"] is not None:
            raise TooLate("the dispute window of this occurrence has closed", field="occurrence")
        if self.open_dispute_on(claim.occurrence):
            raise Conflict("a dispute about this occurrence is already open", field="occurrence")
        decide_by = min(now + timedelta(hours=rules.dispute_decision_hours), self.hold_until - timedelta(hours=1))
        self._dispute_opened(dispute_id, claim.occurrence, party, writer, claim.reason_code, statement,
                             list(claim.evidence), decide_by, now)
        self._apply_rules(self.disputes[str(dispute_id)], now)

    @event("DisputeOpened")
    def _dispute_opened(self, dispute_id: UUID, occurrence: int, opened_by: str, writer: UUID, reason_code: str,
                        statement: str, evidence: list[str], decide_by: datetime, at: datetime) -> None:
        self.disputes[str(dispute_id)] = {
            "dispute_id": dispute_id, "occurrence": occurrence, "opened_by": opened_by, "writer": writer,
            "reason_code": reason_code, "statement": statement, "evidence": list(evidence), "opened_at": at,
            "decide_by": decide_by, "status": "open", "decided_by": None, "refund": None, "decision": None,
            "decided_at": None}
        self._log(at, "dispute_opened", opened_by, occurrence=occurrence, reason_code=reason_code)

    def _apply_rules(self, dispute: dict[str, Any], now: datetime) -> None:
        """Automatic rules before staff: attendance confirms the claim."""
        absent = self.occurrences[dispute["occurrence"]]["absent"]
        if dispute["reason_code"] == "tutor_absent" and absent in ("tutor", "both"):
            self._resolve(dispute, "rule", ALL, None, now)
        elif dispute["reason_code"] == "student_absent" and absent == "student":
            self._resolve(dispute, "rule", 0, None, now)

    def decide_dispute(self, dispute_id: UUID, refund: int, note: str, now: datetime, decider: UUID) -> None:
        dispute = self.disputes.get(str(dispute_id))
        if dispute is None:
            raise NotFound("no such dispute")
        if dispute["status"] != "open":
            raise Conflict("the dispute was already decided")
        self._resolve(dispute, "staff", refund, note, now, decider)

    def dispute_deadline(self, dispute_id: UUID, now: datetime, rules: Rules) -> None:
        dispute = self.disputes.get(str(dispute_id))
        if dispute is not None and dispute["status"] == "open" and now >= dispute["decide_by"]:
            self._resolve(dispute, "rule", rules.dispute_default_refund, None, now)

    def _resolve(self, dispute: dict[str, Any], by: str, refund: int, note: str | None, now: datetime,
                 decider: UUID | None = None) -> None:
        n = dispute["occurrence"]
        self._dispute_resolved(dispute["dispute_id"], n, by, refund, note, decider, now)
        o = self.occurrences[n]
        if o["status"] == "scheduled":
            self._completed(n, "system", now)
        self._settle(n, refund, "dispute_resolved", now)

    @event("DisputeResolved")
    def _dispute_resolved(self, dispute_id: UUID, occurrence: int, decided_by: str, refund: int, note: str | None,
                          decider: UUID | None, at: datetime) -> None:
        d = self.disputes[str(dispute_id)]
        d.update(status="resolved", decided_by=decided_by, refund=refund, decision=note, decider=decider,
                 decided_at=at)
        self._log(at, "dispute_resolved", decided_by, occurrence=occurrence, refund=refund)

    # -- reminders and follow-ups -------------------------------------------------------------

    def remind(self, n: int, minutes: int, now: datetime) -> None:
        o = self.occurrence(n)
        mark = f"{minutes}@{o['starts_at'].isoformat()}"
        if self.status != "confirmed" or o["status"] != "scheduled" or now >= o["starts_at"] or mark in o["reminded"]:
            return
        self._reminder_due(n, minutes, o["starts_at"], mark, now)

    @event("ReminderDue")
    def _reminder_due(self, occurrence: int, minutes_before: int, starts_at: datetime, mark: str,
                      at: datetime) -> None:
        self.occurrences[occurrence]["reminded"].append(mark)

    def follow_up(self, n: int, minutes: int, now: datetime) -> None:
        o = self.occurrence(n)
        if o["status"] == "completed" and not o["followed"]:
            self._follow_up_due(n, minutes, now)

    @event("FollowUpDue")
    def _follow_up_due(self, occurrence: int, minutes_after: int, at: datetime) -> None:
        self.occurrences[occurrence]["followed"] = True

    # -- moving an occurrence ---------------------------------------------------------------------

    def propose_move(self, party: Party, n: int, starts_at: datetime, ends_at: datetime, now: datetime,
                     rules: Rules) -> None:
        if party not in ("student", "tutor"):
            raise NotParty("a move is agreed between the learner and the tutor")
        o = self.occurrence(n)
        if self.status != "confirmed" or o["status"] != "scheduled":
            raise Conflict("only a confirmed occurrence still to come can be moved")
        notice = timedelta(hours=rules.reschedule_notice_hours)
        if o["starts_at"] - now < notice:
            raise TooLate(f"a move must be agreed at least {rules.reschedule_notice_hours} hours before the start; "
                          "cancel instead")
        if starts_at == o["starts_at"]:
            raise Invalid("starts_at", "that is when it already is")
        expires_at = min(now + timedelta(hours=rules.respond_hours), o["starts_at"] - notice)
        self._move_proposed(n, party, starts_at, ends_at, expires_at, now)

    @event("MoveProposed")
    def _move_proposed(self, occurrence: int, by: str, starts_at: datetime, ends_at: datetime,
                       expires_at: datetime, at: datetime) -> None:
        self.occurrences[occurrence]["proposal"] = {"by": by, "starts_at": starts_at, "ends_at": ends_at,
                                                    "expires_at": expires_at}
        self._log(at, "move_proposed", by, occurrence=occurrence, starts_at=starts_at)

    def pending_move(self, party: Party, n: int, now: datetime) -> dict[str, Any]:
        o = self.occurrence(n)
        proposal = o["proposal"]
        if proposal is None or now >= proposal["expires_at"]:
            raise NotFound(f"no move of occurrence {n} is waiting for an answer")
        if party == proposal["by"] or party not in ("student", "tutor"):
            raise NotParty("the other side answers a proposed move")
        return dict(proposal)

    def move(self, n: int, now: datetime, rules: Rules, by: str) -> None:
        o = self.occurrences[n]
        proposal = o["proposal"]
        assert proposal is not None
        ends = [p["ends_at"] if p["occurrence"] != n else proposal["ends_at"] for p in self.occurrences]
        hold_until = max(self.hold_until, max(ends) + rules.dispute_window + timedelta(hours=rules.hold_grace_hours))
        self._moved(n, proposal["starts_at"], proposal["ends_at"], o["starts_at"], hold_until, by, now)

    @event("Moved")
    def _moved(self, occurrence: int, starts_at: datetime, ends_at: datetime, previous_starts_at: datetime,
               hold_until: datetime, by: str, at: datetime) -> None:
        o = self.occurrences[occurrence]
        o.update(starts_at=starts_at, ends_at=ends_at, proposal=None, sequence=o["sequence"] + 1)
        self.hold_until = hold_until
        self._log(at, "moved", by, occurrence=occurrence, starts_at=starts_at, previous_starts_at=previous_starts_at)

    def drop_move(self, n: int, now: datetime, by: str) -> None:
        o = self.occurrence(n)
        if o["proposal"] is not None:
            self._move_dropped(n, by, now)

    def move_deadline(self, n: int, now: datetime) -> None:
        o = self.occurrence(n)
        if o["proposal"] is not None and now >= o["proposal"]["expires_at"]:
            self._move_dropped(n, "system", now)

    @event("MoveDropped")
    def _move_dropped(self, occurrence: int, by: str, at: datetime) -> None:
        self.occurrences[occurrence]["proposal"] = None
        self._log(at, "move_dropped", by, occurrence=occurrence)
