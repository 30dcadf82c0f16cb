"""What the gateway reads from the ledger's tables: accounts and their balances (now, or as of
any time), statements (a page at a time by a cursor, or all of a period), transfers, a
booking's escrow, and the reconciliation of every account with the journal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from servicekit.database import Database

#: The highest sequence number a cursor can name (PostgreSQL ``bigint``).
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class AccountView:
    account_id: UUID
    kind: str
    currency: str
    owner_id: UUID | None
    balance: int
    held: int
    incoming: int
    available: int
    closed: bool
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class BalanceView:
    account_id: UUID
    currency: str
    as_of: datetime
    balance: int
    held: int
    incoming: int
    available: int


@dataclass(frozen=True)
class Line:
    """One transfer as an account's statement shows it, with the account's totals after it."""

    seq: int
    transfer_id: UUID
    at: datetime
    kind: str
    code: str
    direction: str  # debit | credit (this account's side)
    amount: int
    counterparty_account_id: UUID
    pending_id: UUID | None
    booking_id: UUID | None
    occurrence: int | None
    balance: int
    held: int
    incoming: int


@dataclass(frozen=True)
class TransferView:
    transfer_id: UUID
    kind: str
    code: str
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    pending_id: UUID | None
    expires_at: datetime | None
    booking_id: UUID | None
    occurrence: int | None
    recorded_at: datetime


@dataclass(frozen=True)
class HoldView:
    transfer_id: UUID
    booking_id: UUID
    occurrence: int
    payer_id: UUID
    tutor_id: UUID
    currency: str
    amount: int
    expires_at: datetime
    status: str
    released: int
    refunded: int
    placed_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class CurrencyReconciliation:
    currency: str
    accounts: int
    transfers: int
    #: Every account's posted balance added up: zero when the books balance.
    sum_of_balances: int
    #: Every account's pending credits less pending debits: zero too.
    sum_of_pending: int
    issued: int
    in_wallets: int
    held_in_escrow: int
    fees: int
    #: Accounts whose totals differ from the sum of their transfers (none, ever).
    mismatched_accounts: list[UUID]

    @property
    def balanced(self) -> bool:
        return self.sum_of_balances == 0 and self.sum_of_pending == 0 and not self.mismatched_accounts


_ACCOUNT = ("id, kind, currency, owner_id, credits_posted - debits_posted, debits_pending, credits_pending, "
            "credits_posted - debits_posted - debits_pending, closed, opened_at, updated_at")
#: A statement line, seen from the debit side or the credit side of a transfer.
_LINE = {side: (f"seq, id, recorded_at, kind, code, '{side}', amount, {other}_account_id, pending_id, booking_id, "
                f"occurrence, {side}_balance, {side}_held, {side}_incoming")
         for side, other in (("debit", "credit"), ("credit", "debit"))}
_TRANSFER = ("id, kind, code, debit_account_id, credit_account_id, amount, currency, pending_id, expires_at, "
             "booking_id, occurrence, recorded_at")


def _account(row: Any) -> AccountView:
    return AccountView(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6]), int(row[7]),
                       bool(row[8]), row[9], row[10])


def _line(row: Any) -> Line:
    return Line(int(row[0]), row[1], row[2], row[3], row[4], row[5], int(row[6]), row[7], row[8], row[9], row[10],
                int(row[11]), int(row[12]), int(row[13]))


class Statements:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextlib.contextmanager
    def _read(self) -> Iterator[Any]:
        with self.db.transaction() as cur:
            yield cur

    # -- accounts ------------------------------------------------------------------------

    def account(self, account_id: UUID) -> AccountView | None:
        with self._read() as cur:
            cur.execute(f"SELECT {_ACCOUNT} FROM accounts WHERE id = %s", (account_id,))
            row = cur.fetchone()
        return _account(row) if row else None

    def wallets(self, user_id: UUID) -> list[AccountView]:
        with self._read() as cur:
            cur.execute(f"SELECT {_ACCOUNT} FROM accounts WHERE owner_id = %s ORDER BY currency", (user_id,))
            return [_account(row) for row in cur.fetchall()]

    def accounts(self, kind: str | None, currency: str | None, after: UUID | None,
                 limit: int) -> tuple[list[AccountView], UUID | None]:
        """A page of accounts in id order, and the id to continue after (None at the end)."""
        with self._read() as cur:
            cur.execute(
                f"SELECT {_ACCOUNT} FROM accounts WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) "
                "AND (%(currency)s::text IS NULL OR currency = %(currency)s) "
                "AND (%(after)s::uuid IS NULL OR id > %(after)s) ORDER BY id LIMIT %(limit)s",
                {"kind": kind, "currency": currency, "after": after, "limit": limit + 1})
            rows = [_account(row) for row in cur.fetchall()]
        return rows[:limit], (rows[limit - 1].account_id if len(rows) > limit else None)

    def balance_as_of(self, account: AccountView, as_of: datetime) -> BalanceView:
        """The account's totals right after the last transfer recorded at or before ``as_of``."""
        with self._read() as cur:
            cur.execute(
                "SELECT balance, held, incoming FROM ("
                " (SELECT seq, debit_balance AS balance, debit_held AS held, debit_incoming AS incoming"
                "  FROM transfers WHERE debit_account_id = %(a)s AND recorded_at <= %(t)s ORDER BY seq DESC LIMIT 1)"
                " UNION ALL"
                " (SELECT seq, credit_balance, credit_held, credit_incoming"
                "  FROM transfers WHERE credit_account_id = %(a)s AND recorded_at <= %(t)s ORDER BY seq DESC LIMIT 1)"
                ") AS last ORDER BY seq DESC LIMIT 1", {"a": account.account_id, "t": as_of})
            row = cur.fetchone()
        balance, held, incoming = (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
        return BalanceView(account.account_id, account.currency, as_of, balance, held, incoming, balance - held)

    # -- statements ----------------------------------------------------------------------

    def statement(self, account_id: UUID, after: int, limit: int, since: datetime | None,
                  until: datetime | None) -> tuple[list[Line], int | None]:
        """A page of the account's statement, oldest first, and the cursor of the next page."""
        with self._read() as cur:
            lines = self._lines(cur, account_id, after, limit + 1, since, until)
        return lines[:limit], (lines[limit - 1].seq if len(lines) > limit else None)

    def all_lines(self, account_id: UUID, since: datetime | None, until: datetime | None,
                  page: int = 1000) -> Iterator[Line]:
        """Every line of the period, read a page at a time (for a CSV export of any size)."""
        after = 0
        while True:
            with self._read() as cur:
                lines = self._lines(cur, account_id, after, page, since, until)
            yield from lines
            if len(lines) < page:
                return
            after = lines[-1].seq

    @staticmethod
    def _lines(cur: Any, account_id: UUID, after: int, limit: int, since: datetime | None,
               until: datetime | None) -> list[Line]:
        where = ("{side}_account_id = %(a)s AND seq > %(after)s AND (%(since)s::timestamptz IS NULL OR "
                 "recorded_at >= %(since)s) AND (%(until)s::timestamptz IS NULL OR recorded_at < %(until)s)")
        part = "(SELECT {cols} FROM transfers WHERE {where} ORDER BY seq LIMIT %(limit)s)"
        debit = part.format(cols=_LINE["debit"], where=where.format(side="debit"))
        credit = part.format(cols=_LINE["credit"], where=where.format(side="credit"))
        cur.execute(f"SELECT * FROM ({debit} UNION ALL {credit}) AS lines ORDER BY seq LIMIT %(limit)s",
                    {"a": account_id, "after": min(after, MAX_SEQ), "since": since, "until": until, "limit": limit})
        return [_line(row) for row in cur.fetchall()]

    # -- transfers and escrow ------------------------------------------------------------

    def transfer(self, transfer_id: UUID) -> TransferView | None:
        with self._read() as cur:
            cur.execute(f"SELECT {_TRANSFER} FROM transfers WHERE id = %s", (transfer_id,))
            row = cur.fetchone()
        if row is None:
            return None
        return TransferView(transfer_id=row[0], kind=row[1], code=row[2], debit_account_id=row[3],
                            credit_account_id=row[4], amount=int(row[5]), currency=row[6], pending_id=row[7],
                            expires_at=row[8], booking_id=row[9], occurrence=row[10], recorded_at=row[11])

    def owners(self, account_ids: list[UUID]) -> set[UUID]:
        with self._read() as cur:
            cur.execute("SELECT owner_id FROM accounts WHERE id = ANY(%s) AND owner_id IS NOT NULL", (account_ids,))
            return {row[0] for row in cur.fetchall()}

    def holds(self, booking_id: UUID) -> list[HoldView]:
        with self._read() as cur:
            cur.execute("SELECT transfer_id, booking_id, occurrence, payer_id, tutor_id, currency, amount, expires_at, "
                        "status, released, refunded, placed_at, resolved_at FROM holds WHERE booking_id = %s "
                        "ORDER BY occurrence", (booking_id,))
            return [HoldView(*row) for row in cur.fetchall()]

    # -- reconciliation ------------------------------------------------------------------

    def reconcile(self, currency: str | None) -> tuple[datetime, list[CurrencyReconciliation]]:
        """Per currency, in one snapshot: every account adds up to zero (each transfer takes
        from one account what it gives another), and every account's totals are the sum of
        its transfers (the table agrees with the journal line by line)."""
        with self._read() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT now()")
            as_of = cur.fetchone()[0]
            cur.execute(
                "SELECT currency, count(*), sum(credits_posted - debits_posted), sum(credits_pending - debits_pending),"
                " sum(CASE WHEN kind = 'grants' THEN debits_posted - credits_posted ELSE 0 END),"
                " sum(CASE WHEN kind = 'wallet' THEN credits_posted - debits_posted ELSE 0 END),"
                " sum(CASE WHEN kind = 'escrow' THEN credits_pending ELSE 0 END),"
                " sum(CASE WHEN kind = 'fees' THEN credits_posted - debits_posted ELSE 0 END)"
                " FROM accounts WHERE %(c)s::text IS NULL OR currency = %(c)s GROUP BY currency ORDER BY currency",
                {"c": currency})
            totals = cur.fetchall()
            cur.execute("SELECT currency, count(*) FROM transfers WHERE %(c)s::text IS NULL OR currency = %(c)s "
                        "GROUP BY currency", {"c": currency})
            transfers = {row[0]: int(row[1]) for row in cur.fetchall()}
            cur.execute(
                "WITH flows AS ("
                " SELECT t.debit_account_id AS account,"
                "  CASE WHEN t.kind IN ('single', 'post') THEN t.amount ELSE 0 END AS dpo, 0::bigint AS cpo,"
                "  CASE WHEN t.kind = 'pending' AND r.id IS NULL THEN t.amount ELSE 0 END AS dpe, 0::bigint AS cpe"
                " FROM transfers t LEFT JOIN transfers r ON r.pending_id = t.id"
                " UNION ALL"
                " SELECT t.credit_account_id, 0, CASE WHEN t.kind IN ('single', 'post') THEN t.amount ELSE 0 END,"
                "  0, CASE WHEN t.kind = 'pending' AND r.id IS NULL THEN t.amount ELSE 0 END"
                " FROM transfers t LEFT JOIN transfers r ON r.pending_id = t.id),"
                " sums AS (SELECT account, sum(dpo) AS dpo, sum(cpo) AS cpo, sum(dpe) AS dpe, sum(cpe) AS cpe"
                "  FROM flows GROUP BY account)"
                " SELECT a.currency, a.id FROM accounts a LEFT JOIN sums s ON s.account = a.id"
                " WHERE (%(c)s::text IS NULL OR a.currency = %(c)s) AND"
                " (coalesce(s.dpo, 0), coalesce(s.cpo, 0), coalesce(s.dpe, 0), coalesce(s.cpe, 0))"
                "  IS DISTINCT FROM (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)"
                " ORDER BY a.currency, a.id", {"c": currency})
            mismatched: dict[str, list[UUID]] = {}
            for cur_code, account_id in cur.fetchall():
                mismatched.setdefault(cur_code, []).append(account_id)
        return as_of, [CurrencyReconciliation(row[0], int(row[1]), transfers.get(row[0], 0), int(row[2]), int(row[3]),
                                              int(row[4]), int(row[5]), int(row[6]), int(row[7]),
                                              mismatched.get(row[0], []))
                       for row in totals]
