"""Sign-in under load and under attack, through the gateway on PostgreSQL: a storm of
concurrent logins gets answers (200, or 503 with Retry-After), never a 500, with hashing held
to its slots; failed attempts are limited per account and per client address (429 with
Retry-After), counted in PostgreSQL so that every replica shares them, and lifted when the
window ends. Time is never measured here: windows end by moving the application's clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from argon2 import PasswordHasher
from identity_gateway import PASSWORD, Identity

from identity.adapters.passwords import BoundedHasher

PROBLEM = "application/problem+json"
WRONG = "not-the-password-0"


class CountingHasher:
    """argon2id with small parameters that counts its calls running at the same moment,
    each held a little so that concurrent callers really overlap."""

    def __init__(self) -> None:
        self.inner = PasswordHasher(time_cost=1, memory_cost=4096, parallelism=1)
        self.lock = threading.Lock()
        self.now = self.most = self.calls = 0

    def _counted(self, work: Callable[[], object]) -> object:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.02)
            return work()
        finally:
            with self.lock:
                self.now -= 1

    def hash(self, password: str) -> str:
        return str(self._counted(lambda: self.inner.hash(password)))

    def verify(self, hash: str, password: str) -> bool:
        return bool(self._counted(lambda: self.inner.verify(hash, password)))

    def check_needs_rehash(self, hash: str) -> bool:
        return self.inner.check_needs_rehash(hash)


def test_a_login_storm_is_answered_503_with_retry_after_never_500_and_hashing_stays_in_its_slots(
    identity: Callable[..., Identity]
) -> None:
    idp = identity(identity_hash_slots=1, identity_hash_queue_timeout=0.05)
    hasher = idp.app.hasher
    assert isinstance(hasher, BoundedHasher) and hasher.slots == 1
    counting = CountingHasher()
    hasher.inner = counting
    emails = [f"storm{i}@uni.example" for i in range(6)]
    hasher.wait = 30  # registering is not the storm
    for email in emails:
        idp.register(email)
    hasher.wait = 0.05
    # Count the requests in their synchronous part (each holding a worker thread) at once.
    in_threads, real_login = CountingHasher(), idp.app.login
    idp.app.login = lambda *a, **kw: in_threads._counted(lambda: real_login(*a, **kw))  # type: ignore[method-assign]

    def login(i: int) -> httpx.Response:
        return idp.http.post("/v1/auth/login", json={"email": emails[i % len(emails)], "password": PASSWORD})

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(login, range(60)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 503}, statuses  # never a 500, nor anything else
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    for busy in (r for r in answers if r.status_code == 503):
        assert busy.headers["content-type"].startswith(PROBLEM)
        assert int(busy.headers["retry-after"]) >= 1 and busy.json()["status"] == 503
    assert counting.most == 1 and hasher.peak == 1  # one hash at a time, whatever the concurrency
    # The others waited on the event loop, not in worker threads other requests need.
    assert 1 <= in_threads.most <= hasher.admitted == 2
    assert hasher.refused == statuses.count(503)
    # The storm over, everyone signs in.
    hasher.wait = 30
    assert all(login(i).status_code == 200 for i in range(len(emails)))


def clock_at(idp: Identity, moment: datetime) -> None:
    idp.app.clock = lambda: moment


def test_failed_sign_ins_are_limited_per_account_shared_by_replicas_and_lifted_after_the_window(
    identity: Callable[..., Identity]
) -> None:
    limits = {"identity_login_max_failures_per_account": 3, "identity_login_window_seconds": 60}
    first, second = identity(**limits), identity(**limits)  # two replicas, one database
    first.register("ada@uni.example", "Ada")
    start = datetime.now(UTC)
    for replica in (first, second):
        clock_at(replica, start)
    for replica in (first, second, first):
        r = replica.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": WRONG})
        assert r.status_code == 401
    # The fourth attempt, on either replica, with the right password even: held off.
    for replica in (second, first):
        r = replica.http.post("/v1/auth/login", json={"email": "ADA@uni.example", "password": PASSWORD})
        assert r.status_code == 429 and r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["title"] == "Too many attempts" and r.json()["status"] == 429
        assert 1 <= int(r.headers["retry-after"]) <= 60
    clock_at(second, start + timedelta(seconds=61))
    assert second.login("ada@uni.example")  # the window ended: the owner is back
    # Success cleared the count: three more failures are allowed before the next hold.
    for _ in range(3):
        assert second.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": WRONG}) \
            .status_code == 401
    assert second.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": PASSWORD}) \
        .status_code == 429


def test_an_address_failing_across_accounts_is_held_off_behind_the_ingress(identity: Callable[..., Identity]) -> None:
    idp = identity(identity_login_max_failures_per_address=4, identity_login_window_seconds=300,
                   identity_trusted_proxy_hops=1)
    idp.register("ada@uni.example", "Ada")
    counting = CountingHasher()
    idp.app.hasher.inner = counting  # type: ignore[attr-defined]
    stuffer = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}  # the ingress appended the real address
    for i in range(4):
        r = idp.http.post("/v1/auth/login", json={"email": f"victim{i}@uni.example", "password": WRONG},
                          headers=stuffer)
        assert r.status_code == 401
    hashed = counting.calls
    r = idp.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": PASSWORD}, headers=stuffer)
    assert r.status_code == 429 and int(r.headers["retry-after"]) <= 300
    assert counting.calls == hashed  # turned away before any hashing
    # What a client writes itself to the left is not believed: the same address, still held off.
    forged = {"X-Forwarded-For": "10.9.9.9, 203.0.113.9"}
    assert idp.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": PASSWORD},
                         headers=forged).status_code == 429
    assert idp.login("ada@uni.example", **{"X-Forwarded-For": "192.0.2.44"})  # Ada from elsewhere


def test_the_openapi_document_declares_the_new_answers(identity: Callable[..., Identity]) -> None:
    paths = identity().http.get("/openapi.json").json()["paths"]
    login = paths["/v1/auth/login"]["post"]["responses"]
    assert {"401", "403", "422", "429", "503"} <= set(login)
    reset = paths["/v1/auth/password-reset"]["post"]["responses"]
    assert {"202", "422", "429"} <= set(reset)
    assert {"409", "422", "503"} <= set(paths["/v1/auth/password-reset/confirm"]["post"]["responses"])
    doc = paths["/v1/tutor-applications/{application_id}/documents/{document_id}"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(doc) and "application/pdf" in doc["200"]["content"]
    assert {"401", "404", "413", "422"} <= set(paths["/v1/background-checks/{provider}/webhooks"]["post"]["responses"])
