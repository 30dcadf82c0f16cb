"""The marketplace as real processes: identity, catalog, booking and ledger (and, when asked,
sessions, reputation and matching) on one broker and one PostgreSQL, with a driver that acts
as its users do over HTTP (staff, tutors, learners).
Used by the booking system tests, the crash tests and the saga benchmark (`bench/booking_saga.py`).

The saga's hops are Kafka consumers; on the local broker a fetch is held for its whole
``fetch_max_wait_ms`` (FIELD-NOTES), so booking and ledger run with ``SAGA_FETCH_WAIT_MS``,
chosen by measurement (bench/booking_saga.py prints the latency at several)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from servicekit import devstack
from servicekit.testing import Broker, ServiceProcess

ADMIN_EMAIL = "admin@alphapeer.test"
ADMIN_PASSWORD = "admin-password-123"
PASSWORD = "a-long-password-1"
#: How long booking's and ledger's fetches may wait on the local broker (ms).
SAGA_FETCH_WAIT_MS = 10
#: Every day, all day, in UTC: any slot a test picks is open.
ALWAYS = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]
FINAL = {"closed", "cancelled", "declined", "expired", "failed"}

_names = itertools.count(1)


class Stack:
    """The four services as OS processes; ``restart`` and ``kill`` for the crash tests."""

    def __init__(self, postgres_url: str, bootstrap: str, workdir: Path, schema: str | None = None,
                 fetch_wait_ms: int = SAGA_FETCH_WAIT_MS, extra: dict[str, dict[str, str]] | None = None,
                 more: tuple[str, ...] = ()) -> None:
        base = schema or f"mkt_{uuid.uuid4().hex[:8]}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        common = {"ALPHAPEER_DATABASE_URL": postgres_url, "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                  "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05", "ALPHAPEER_KAFKA_SESSION_TIMEOUT_MS": "3000",
                  "ALPHAPEER_KAFKA_HEARTBEAT_INTERVAL_MS": "500", "ALPHAPEER_DEADLINE_POLL_SECONDS": "0.2",
                  "ALPHAPEER_LOG_LEVEL": "INFO"}
        own = {
            "identity": {"ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
                         "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                         # Every user here registers from 127.0.0.1.
                         "ALPHAPEER_IDENTITY_MAIL_MAX_PER_ADDRESS": "100000"},
            "catalog": {},
            "booking": {"ALPHAPEER_KAFKA_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)},
            "ledger": {"ALPHAPEER_KAFKA_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)},
        }
        for name in more:  # e.g. sessions, reputation, matching: the whole loop
            own[name] = {"ALPHAPEER_KAFKA_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)}
        self.procs: dict[str, ServiceProcess] = {}
        for name, env in own.items():
            self.procs[name] = ServiceProcess(
                script=f"alphapeer-{name}", log=workdir / f"{name}.log",
                env={**common, "ALPHAPEER_SERVICE_NAME": name, "ALPHAPEER_DATABASE_SCHEMA": f"{base}_{name}",
                     "ALPHAPEER_DATA_DIR": str(workdir / name), **env, **(extra or {}).get(name, {})})

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.procs[name]

    def start(self) -> Stack:
        identity = self.procs["identity"].start()
        jwks = f"{identity.url}/.well-known/jwks.json"
        others = [name for name in self.procs if name != "identity"]
        for name in others:
            self.procs[name].env["ALPHAPEER_JWKS_URL"] = jwks
            self.procs[name].start(wait=False)
        for name in others:
            self.procs[name].wait_ready()
        return self

    def restart(self, name: str, **env: str) -> None:
        """Stop (or after a SIGKILL, just start) ``name`` with ``env`` added to its settings."""
        proc = self.procs[name]
        proc.stop()
        proc.env.update(env)
        proc.start()

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


@contextmanager
def running(postgres_url: str, workdir: Path, **options: Any) -> Iterator[Market]:
    """A broker of its own and the services on it (``options``: Stack's), driven as
    their users would."""
    broker = Broker(port=devstack.free_port(), log=workdir / "broker.log")
    broker.start()
    stack = Stack(postgres_url, broker.bootstrap, workdir, **options)
    try:
        stack.start()
        yield Market(stack)
    finally:
        stack.stop()
        broker.stop()


def wait_for(fn: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            last = f"{value} {value.text}" if isinstance(value, httpx.Response) else value
            raise AssertionError(f"gave up waiting for {what or 'a condition'}; last: {last}")
        time.sleep(0.05)


class User:
    def __init__(self, market: Market, user_id: str, email: str) -> None:
        self.market = market
        self.id = user_id
        self.email = email
        self.token = market.login(email)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def relogin(self) -> None:
        self.token = self.market.login(self.email)

    def call(self, service: str, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {**self.auth, **kw.pop("headers", {})}
        if method in ("POST", "PUT", "PATCH", "DELETE") and "Idempotency-Key" not in headers:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return self.market.http.request(method, f"{self.market.stack[service].url}{path}", json=body,
                                        headers=headers, **kw)


class Tutor(User):
    listing_id: str


class Market:
    """The stack's users, driven over HTTP as a frontend would."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(timeout=30)
        token = self.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        me = self.http.get(f"{stack['identity'].url}/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        staff = User.__new__(User)
        staff.market, staff.id, staff.email, staff.token = self, str(me.json()["user_id"]), ADMIN_EMAIL, token
        self.staff = staff

    def login(self, email: str, password: str = PASSWORD) -> str:
        r = self.http.post(f"{self.stack['identity'].url}/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def register(self, name: str) -> tuple[str, str]:
        email = f"{name.lower()}-{next(_names)}-{uuid.uuid4().hex[:6]}@uni.example"
        r = self.http.post(f"{self.stack['identity'].url}/v1/auth/register",
                           json={"email": email, "password": PASSWORD, "display_name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["user_id"]), email

    # -- people ------------------------------------------------------------------------------

    def learner(self, name: str, credits: int = 0) -> User:
        user_id, email = self.register(name)
        user = User(self, user_id, email)
        if credits:
            self.grant(user, credits)
        return user

    def grant(self, user: User, amount: int, kind: str = "allowance") -> None:
        """Staff grant credits, once the ledger has opened the user's wallet (from identity)."""
        body = {"user_id": user.id, "currency": "XAP", "amount": amount, "kind": kind}
        r = wait_for(lambda: self.staff.call("ledger", "POST", "/v1/grants", body),
                     lambda r: r.status_code != 404, what=f"the ledger to know {user.email}")
        assert r.status_code == 201, r.text

    def tutor(self, name: str, *, rate: int = 20, instant_book: bool = True, minutes: Iterable[int] = (60,),
              weekly: list[dict[str, Any]] | None = None, min_notice_minutes: int = 0) -> Tutor:
        """A learner who applied, was approved, published a listing and opened their diary."""
        user_id, email = self.register(name)
        applicant = User(self, user_id, email)
        r = applicant.call("identity", "POST", "/v1/tutor-applications",
                           {"subjects": ["Physics"], "levels": ["advanced"]})
        assert r.status_code in (200, 201), r.text
        r = self.staff.call("identity", "POST", f"/v1/tutor-applications/{r.json()['application_id']}/approve", {})
        assert r.status_code == 200, r.text
        tutor = Tutor(self, user_id, email)  # signs in again: the token now says tutor
        wait_for(lambda: tutor.call("catalog", "GET", f"/v1/tutors/{user_id}/standing"),
                 lambda r: r.status_code == 200 and r.json()["may_publish"], what="catalog to learn the approval")
        r = tutor.call("catalog", "POST", "/v1/listings", {
            "title": f"Mechanics with {name}", "subjects": [{"subject_id": "sciences.physics", "level": "advanced",
                                                            "topics": ["Mechanics"]}],
            "rate": {"credits_per_hour": rate}, "session_minutes": list(minutes), "modes": ["online"],
            "languages": ["en"], "bio": "Torque, with bicycles."})
        assert r.status_code == 201, r.text
        tutor.listing_id = r.json()["listing_id"]
        r = tutor.call("catalog", "POST", f"/v1/listings/{tutor.listing_id}/publish")
        assert r.status_code == 200, r.text
        r = tutor.call("booking", "PUT", "/v1/tutors/me/availability", {
            "time_zone": "UTC", "weekly": weekly or ALWAYS, "instant_book": instant_book,
            "min_notice_minutes": min_notice_minutes, "horizon_days": 60, "slot_step_minutes": 30})
        assert r.status_code == 200, r.text
        return tutor

    # -- booking -------------------------------------------------------------------------------

    def bookable(self, tutor: Tutor, learner: User) -> None:
        """Wait until booking has the tutor's listing (from catalog's events)."""
        wait_for(lambda: learner.call("booking", "POST", "/v1/quotes", {
            "listing_id": tutor.listing_id, "minutes": 60, "starts_at": [iso(slot(days=30))]}),
            lambda r: r.status_code == 200, what="booking to learn the listing")

    def book(self, learner: User, tutor: Tutor, starts_at: datetime, **more: Any) -> httpx.Response:
        return learner.call("booking", "POST", "/v1/bookings", {
            "listing_id": tutor.listing_id, "minutes": 60, "starts_at": [iso(starts_at)], **more})

    def booking(self, user: User, booking_id: str) -> dict[str, Any]:
        r = user.call("booking", "GET", f"/v1/bookings/{booking_id}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def wait_status(self, user: User, booking_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for(lambda: self.booking(user, booking_id), lambda b: b["status"] in statuses, timeout,
                        what=f"booking {booking_id} to be {'/'.join(statuses)}")  # type: ignore[no-any-return]

    def wait_money(self, user: User, booking_id: str, *money: str | None, timeout: float = 30.0) -> dict[str, Any]:
        """Until every session's money is one of ``money`` (held, released, refunded, …)."""
        return wait_for(lambda: self.booking(user, booking_id),  # type: ignore[no-any-return]
                        lambda b: all(o["money"] in money for o in b["occurrences"]), timeout,
                        what=f"booking {booking_id}'s money to be {money}")

    # -- ledger --------------------------------------------------------------------------------

    def wallet(self, user: User) -> dict[str, Any]:
        r = user.call("ledger", "GET", f"/v1/users/{user.id}/wallets")
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return next((w for w in items if w["currency"] == "XAP"), {"balance": 0, "held": 0, "available": 0})

    def escrow(self, booking_id: str) -> dict[str, Any]:
        r = self.staff.call("ledger", "GET", f"/v1/bookings/{booking_id}/escrow")
        return r.json() if r.status_code == 200 else {"holds": [], "status_code": r.status_code}  # type: ignore[no-any-return]

    def reconciliation(self) -> dict[str, Any]:
        r = self.staff.call("ledger", "GET", "/v1/reconciliation")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


def slot(days: float = 0, hours: float = 0, now: datetime | None = None) -> datetime:
    """A half-hour boundary ``days`` and ``hours`` from now (slots start on the half hour)."""
    t = (now or datetime.now(UTC)) + timedelta(days=days, hours=hours)
    t = t.replace(second=0, microsecond=0)
    return t + timedelta(minutes=(30 - t.minute % 30) % 30)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
