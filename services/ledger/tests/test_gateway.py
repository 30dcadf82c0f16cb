"""The ledger's gateway: who sees what (a user their own wallet, staff everything), grants
by staff only and once per Idempotency-Key, refusals that name the field and change no
balance, statements page by page and as CSV, balances as of a time, reconciliation."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import PersistenceError
from ledger_harness import XAP, Harness

from ledger.domain.accounts import account_id, wallet_id
from ledger.domain.commands import Grant
from ledger.domain.errors import KeyReused
from servicekit.testing import ISSUER


def test_every_route_refuses_an_anonymous_caller(h: Harness) -> None:
    document = h.client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue  # health and readiness
        for method in item:
            concrete = path.replace("{user_id}", str(uuid.uuid4())).replace("{account_id}", str(uuid.uuid4())) \
                .replace("{transfer_id}", str(uuid.uuid4())).replace("{booking_id}", str(uuid.uuid4()))
            assert h.client.request(method.upper(), concrete).status_code == 401, f"{method} {path}"


def test_a_user_sees_their_own_wallet_and_staff_see_every_account(h: Harness) -> None:
    ada, bob = h.funded(50), h.funded(70)
    own = h.client.get(f"/v1/accounts/{wallet_id(ada, XAP)}", headers=ISSUER.headers(ada, "student"))
    assert own.status_code == 200 and own.json()["balance"] == 50 and own.json()["owner_id"] == str(ada)
    assert h.client.get(f"/v1/accounts/{wallet_id(bob, XAP)}", headers=ISSUER.headers(ada, "student")
                        ).status_code == 403
    assert h.client.get(f"/v1/users/{bob}/wallets", headers=ISSUER.headers(ada, "student")).status_code == 403
    assert h.client.get(f"/v1/accounts/{account_id('fees', XAP)}", headers=ISSUER.headers(ada, "tutor")
                        ).status_code in (403, 404)
    staff = ISSUER.headers(uuid.uuid4(), "staff")
    assert h.client.get(f"/v1/accounts/{wallet_id(bob, XAP)}", headers=staff).json()["balance"] == 70
    grants = h.client.get(f"/v1/accounts/{account_id('grants', XAP)}", headers=staff).json()
    assert grants["kind"] == "grants" and grants["balance"] == -120  # the issuer: minus everything granted
    page = h.client.get("/v1/accounts", params={"kind": "wallet", "limit": 1}, headers=staff).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert h.client.get("/v1/accounts", headers=ISSUER.headers(ada, "student")).status_code == 403
    assert h.client.get(f"/v1/accounts/{uuid.uuid4()}", headers=staff).status_code == 404


def test_grants_are_for_staff_once_per_key(h: Harness) -> None:
    user = h.register()
    body = {"user_id": str(user), "currency": XAP, "amount": 40, "kind": "work_study"}
    student = {**ISSUER.headers(uuid.uuid4(), "student", "tutor"), "Idempotency-Key": "k1"}
    assert h.client.post("/v1/grants", json=body, headers=student).status_code == 403
    admin_id = uuid.uuid4()
    admin = {**ISSUER.headers(admin_id, "admin"), "Idempotency-Key": "k1"}
    first = h.client.post("/v1/grants", json=body, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["account_id"] == str(wallet_id(user, XAP)) and first.json()["kind"] == "work_study"
    assert first.headers["location"] == f"/v1/transfers/{first.json()['transfer_id']}"
    again = h.client.post("/v1/grants", json=body, headers=admin)
    assert again.json()["grant_id"] == first.json()["grant_id"]
    assert h.wallet(user)["balance"] == 40
    # The same key with another request is refused.
    other = h.client.post("/v1/grants", json={**body, "amount": 41}, headers=admin)
    assert other.status_code in (409, 422) and h.wallet(user)["balance"] == 40
    # The ledger itself remembers the key, past the gateway's window: the grant's id derives from it.
    assert h.app.grant(Grant(user, XAP, 40, "work_study", admin_id, "k1")).grant_id == UUID(first.json()["grant_id"])
    with pytest.raises(KeyReused):
        h.app.grant(Grant(user, XAP, 41, "work_study", admin_id, "k1"))
    assert h.wallet(user)["balance"] == 40
    # Another caller's key of the same name is another grant.
    assert h.client.post("/v1/grants", json=body, headers={**ISSUER.headers(uuid.uuid4(), "staff"),
                                                           "Idempotency-Key": "k1"}).status_code == 201
    assert h.wallet(user)["balance"] == 80
    missing = h.client.post("/v1/grants", json=body, headers=ISSUER.headers(uuid.uuid4(), "staff"))
    assert missing.status_code == 422 and "idempotency" in missing.json()["errors"][0]["field"].lower()
    h.assert_books_hold()


def test_bad_input_names_the_field_and_changes_no_balance(h: Harness) -> None:
    user = h.funded(30)
    before = (h.table(), h.last_notification())

    def refused(status: int, field: str, **change: Any) -> None:
        body = {"user_id": str(user), "currency": XAP, "amount": 5, "kind": "allowance", **change}
        r = h.client.post("/v1/grants", json=body, headers={**ISSUER.headers(h.staff, "staff"),
                                                            "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == field, r.json()

    refused(422, "currency", currency="EUR")  # a currency the ledger does not keep
    refused(422, "currency", currency="xap")
    refused(422, "amount", amount=-5)  # only a correction may be negative
    refused(422, "amount", amount=0)
    refused(422, "amount", amount=10**12)  # huge
    refused(422, "amount", amount=2.5)
    refused(422, "amount", amount="5")
    refused(422, "kind", kind="gift")
    refused(404, "user_id", user_id=str(uuid.uuid4()))  # a user the ledger does not know
    refused(409, "amount", amount=-31, kind="correction")  # more than the wallet has
    assert (h.table(), h.last_notification()) == before
    taken = h.grant(user, -30, kind="correction")
    assert taken.status_code == 201 and h.wallet(user)["balance"] == 0
    h.assert_books_hold()


def test_a_statement_pages_by_cursor_and_exports_as_csv(h: Harness) -> None:
    user = h.funded(100)
    for _ in range(4):
        h.grant(user, 10)
    request = h.requested(user, [50])
    h.feed(request)
    h.feed(h.settled(request, refund=2000))
    me = ISSUER.headers(user, "student")
    url = f"/v1/accounts/{wallet_id(user, XAP)}/statement"
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = h.client.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=me).json()
        lines += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [(x["kind"], x["code"], x["direction"], x["amount"]) for x in lines] == [
        ("single", "grant:allowance", "credit", 100), *[("single", "grant:allowance", "credit", 10)] * 4,
        ("pending", "hold", "debit", 50), ("post", "settlement", "debit", 40)]
    assert [(x["balance"], x["held"]) for x in lines][-3:] == [(140, 0), (140, 50), (100, 0)]
    assert lines[-1]["booking_id"] == str(request.booking_id) and lines[-1]["occurrence"] == 0

    exported = h.client.get(url + ".csv", headers=me)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["kind"], int(r["amount"]), int(r["balance"])) for r in rows] == [
        (x["kind"], x["amount"], x["balance"]) for x in lines]
    stranger = ISSUER.headers(uuid.uuid4(), "student")
    assert h.client.get(url + ".csv", headers=stranger).status_code == 403
    assert h.client.get(url, params={"cursor": "x1"}, headers=me).status_code == 422


def test_a_balance_as_of_a_time(h: Harness) -> None:
    user = h.funded(100)
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    h.grant(user, 25)
    url = f"/v1/accounts/{wallet_id(user, XAP)}/balance"
    me = ISSUER.headers(user, "student")
    assert h.client.get(url, params={"as_of": middle.isoformat()}, headers=me).json()["balance"] == 100
    assert h.client.get(url, headers=me).json()["balance"] == 125
    assert h.client.get(url, params={"as_of": "2000-01-01T00:00:00Z"}, headers=me).json()["balance"] == 0
    bad = h.client.get(url, params={"as_of": "yesterday"}, headers=me)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.as_of"


def test_reconciliation_and_the_escrow_of_a_booking(h: Harness) -> None:
    payer = h.funded(200)
    request = h.requested(payer, [60, 40])
    h.feed(request)
    h.feed(h.settled(request, 0))
    report = h.reconciliation()
    (xap,) = report["currencies"]
    assert report["balanced"] and xap["sum_of_balances"] == 0 and xap["sum_of_pending"] == 0
    assert (xap["issued"], xap["held_in_escrow"], xap["fees"], xap["in_wallets"]) == (200, 40, 6, 200 - 60 + 54)
    assert h.client.get("/v1/reconciliation", headers=ISSUER.headers(payer, "student")).status_code == 403

    escrow = h.client.get(f"/v1/bookings/{request.booking_id}/escrow", headers=ISSUER.headers(payer, "student"))
    assert [(x["status"], x["released"], x["amount"]) for x in escrow.json()["holds"]] == [
        ("settled", 60, 60), ("held", 0, 40)]
    assert h.client.get(f"/v1/bookings/{request.booking_id}/escrow",
                        headers=ISSUER.headers(uuid.uuid4(), "student")).status_code == 403
    released = h.public_events()[-1]
    transfer = h.client.get(f"/v1/transfers/{released.transfer_id}", headers=ISSUER.headers(payer, "student"))
    assert transfer.status_code == 200 and transfer.json()["kind"] == "post"
    assert h.client.get(f"/v1/transfers/{released.transfer_id}",
                        headers=ISSUER.headers(uuid.uuid4(), "student")).status_code == 403


def test_transfers_are_append_only(h: Harness) -> None:
    h.funded(10)
    for statement in ("UPDATE transfers SET amount = amount + 1", "DELETE FROM transfers", "TRUNCATE transfers"):
        with pytest.raises(PersistenceError, match="append-only"), h.app.unit_of_work() as unit:
            unit.cursor.execute(statement)
    h.assert_books_hold()
