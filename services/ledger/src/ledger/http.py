"""Ledger's HTTP gateway. Every route names who may call it: a user sees their own wallets
and statements, staff see every account, grant credits and reconcile the books. The routes
parse, call the application or the statements, and shape the answer."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from ledger.adapters.statements import AccountView, Line, Statements
from ledger.application import LedgerApplication
from ledger.domain.commands import Grant
from ledger.domain.errors import UnknownAccount
from ledger.schemas import (
    AccountKind,
    AccountOut,
    AccountsPage,
    BalanceOut,
    Escrow,
    GrantIn,
    GrantOut,
    HoldOut,
    ReconciliationOut,
    StatementPage,
    TransferOut,
    Wallets,
)
from servicekit.auth import Principal, current_principal, require_roles, require_self_or_roles
from servicekit.bodies import Timestamp, Uuid
from servicekit.errors import NotFound
from servicekit.gateway import provided
from servicekit.problems import Problem

AnyUser = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]


App = Annotated[LedgerApplication, Depends(provided("ledger"))]
Reads = Annotated[Statements, Depends(provided("statements"))]

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]
Since = Annotated[Timestamp | None, Query(description="Only transfers recorded at or after this time")]
Until = Annotated[Timestamp | None, Query(description="Only transfers recorded before this time")]
CurrencyQuery = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="A currency code, e.g. XAP")]
SeqCursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$", description="`next_cursor` of the previous page")]

users = APIRouter(prefix="/v1/users", tags=["wallets"])
accounts = APIRouter(prefix="/v1/accounts", tags=["accounts"])
transfers = APIRouter(prefix="/v1/transfers", tags=["accounts"])
bookings = APIRouter(prefix="/v1/bookings", tags=["escrow"])
grants = APIRouter(prefix="/v1/grants", tags=["grants"])
reconciliation = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"])


def visible_account(account_id: UUID, principal: Principal, reads: Statements) -> AccountView:
    """The account, if the caller may see it: their own wallet, or anything for staff."""
    account = reads.account(account_id)
    if account is None:
        raise UnknownAccount()
    if account.owner_id != principal.user_id and not principal.is_staff:
        raise Problem(403, "Forbidden", "this account belongs to another user" if account.owner_id
                      else "the institution's accounts are for staff")
    return account


# -- wallets and accounts -------------------------------------------------------------------------

@users.get("/{user_id}/wallets", response_model=Wallets, summary="A user's wallets, one per currency (the user, staff)")
def user_wallets(user_id: UUID, principal: AnyUser, reads: Reads) -> Any:
    require_self_or_roles(user_id, principal)
    return {"items": reads.wallets(user_id)}


@accounts.get("", response_model=AccountsPage, summary="Every account, in pages (staff)",
              description="Besides the schema: `cursor` is a `next_cursor` this API returned (any account id "
                          "continues after that id).")
def list_accounts(_: Staff, reads: Reads, kind: Annotated[AccountKind | None, Query()] = None,
                  currency: CurrencyQuery = None,
                  cursor: Annotated[Uuid | None, Query(description="`next_cursor` of the previous page")] = None,
                  limit: Limit = 100) -> Any:
    items, after = reads.accounts(kind, currency, cursor, limit)
    return {"items": items, "next_cursor": str(after) if after else None}


@accounts.get("/{account_id}", response_model=AccountOut, summary="An account and its balances (its owner, staff)")
def get_account(account_id: UUID, principal: AnyUser, reads: Reads) -> Any:
    return visible_account(account_id, principal, reads)


@accounts.get("/{account_id}/balance", response_model=BalanceOut,
              summary="An account's balances as of a time (its owner, staff)",
              description="The totals right after the last transfer recorded at or before `as_of` (default: now).")
def balance(account_id: UUID, principal: AnyUser, reads: Reads,
            as_of: Annotated[Timestamp | None, Query(description="default: now")] = None) -> Any:
    account = visible_account(account_id, principal, reads)
    return reads.balance_as_of(account, as_of or datetime.now(UTC))


@accounts.get("/{account_id}/statement", response_model=StatementPage,
              summary="An account's statement, oldest first, a page at a time (its owner, staff)")
def statement(account_id: UUID, principal: AnyUser, reads: Reads, cursor: SeqCursor = None, limit: Limit = 100,
              since: Since = None, until: Until = None) -> Any:
    account = visible_account(account_id, principal, reads)
    lines, after = reads.statement(account.account_id, int(cursor or 0), limit, since, until)
    return {"account_id": account.account_id, "currency": account.currency, "items": lines,
            "next_cursor": str(after) if after is not None else None}


CSV_COLUMNS = ["at", "transfer_id", "kind", "code", "direction", "amount", "counterparty_account_id", "pending_id",
               "booking_id", "occurrence", "balance", "held", "incoming"]


def _csv(lines: Iterator[Line]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, line in enumerate(lines, 1):
        writer.writerow(["" if v is None else (v.isoformat() if isinstance(v, datetime) else v)
                         for v in (getattr(line, c) for c in CSV_COLUMNS)])
        if n % 500 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


@accounts.get("/{account_id}/statement.csv", response_class=StreamingResponse,
              summary="An account's statement as CSV, all of a period (its owner, staff)",
              responses={200: {"description": "RFC 4180 CSV with a header row: " + ", ".join(CSV_COLUMNS),
                               "content": {"text/csv": {"schema": {"type": "string"}}}}})
def statement_csv(account_id: UUID, principal: AnyUser, reads: Reads, since: Since = None,
                  until: Until = None) -> StreamingResponse:
    account = visible_account(account_id, principal, reads)
    name = f"statement-{account.account_id}.csv"
    return StreamingResponse(_csv(reads.all_lines(account.account_id, since, until)), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@transfers.get("/{transfer_id}", response_model=TransferOut,
               summary="A transfer (staff, or the owner of either account)")
def get_transfer(transfer_id: UUID, principal: AnyUser, reads: Reads) -> Any:
    transfer = reads.transfer(transfer_id)
    if transfer is None:
        raise NotFound("no such transfer")
    if not principal.is_staff and principal.user_id not in reads.owners(
            [transfer.debit_account_id, transfer.credit_account_id]):
        raise Problem(403, "Forbidden", "this transfer is between other accounts")
    return transfer


@bookings.get("/{booking_id}/escrow", response_model=Escrow,
              summary="What is held for a booking, occurrence by occurrence (the payer, the tutor, staff)")
def escrow(booking_id: UUID, principal: AnyUser, reads: Reads) -> Any:
    holds = reads.holds(booking_id)
    if not holds:
        raise NotFound("nothing was held for this booking")
    if not principal.is_staff and principal.user_id not in {holds[0].payer_id, holds[0].tutor_id}:
        raise Problem(403, "Forbidden", "this booking is between other users")
    return {"booking_id": booking_id, "holds": [HoldOut.model_validate(h) for h in holds]}


# -- grants (staff) ------------------------------------------------------------------------------

@grants.post("", status_code=status.HTTP_201_CREATED, response_model=GrantOut,
             summary="Grant credits to a user: an allowance, work-study, a reward, a correction (staff, admin)",
             description="Idempotent by `Idempotency-Key` (required): the same key again answers the same grant "
                         "and grants nothing more; with another request it is refused (409). Besides the schema: "
                         "`currency` must be one the ledger keeps (422 naming `currency`); `user_id` a user the "
                         "ledger knows (404 naming `user_id`); a negative correction at most the wallet's available "
                         "balance, and the wallet open (409 naming the field). A refusal changes no balance.")
def grant(body: GrantIn, principal: Staff, app: App, response: Response,
          idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                                 description="Names this grant: retrying with it never grants "
                                                             "twice")]) -> Any:
    view = app.grant(Grant(user_id=body.user_id, currency=body.currency, amount=body.amount, kind=body.kind,
                           granted_by=principal.user_id, idempotency_key=idempotency_key))
    response.headers["Location"] = f"/v1/transfers/{view.transfer_id}"
    return view


# -- reconciliation (staff) ---------------------------------------------------------------------

@reconciliation.get("", response_model=ReconciliationOut,
                    summary="Do the books balance? Every currency's accounts add up to zero, and every account "
                            "agrees with its transfers (staff)")
def reconcile(_: Staff, reads: Reads, currency: CurrencyQuery = None) -> Any:
    as_of, currencies = reads.reconcile(currency)
    out = [{**vars(c), "balanced": c.balanced} for c in currencies]
    return {"as_of": as_of, "balanced": all(c.balanced for c in currencies), "currencies": out}


ROUTERS = [users, accounts, transfers, bookings, grants, reconciliation]
