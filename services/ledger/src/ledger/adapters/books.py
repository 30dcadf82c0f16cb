"""The ledger's tables in PostgreSQL, written in the unit of work's transaction beside the
facts they come from (the event store's notification log), and read back by the gateway.

- ``accounts``: one row per account with its four totals — written once per unit of work
  whatever the number of transfers that touched it (a hot account costs one row update
  per batch, not one per transfer). The database keeps the main rule too: an account whose
  debits must not exceed its credits never has them do so. Pages are kept half empty
  (``fillfactor``), so an account's new version fits beside the old one and, no indexed
  column changing, the update is HOT: none of the table's three indexes is touched
  (likewise ``holds``, whose rows change once or twice).
- ``transfers``: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE), in the order
  decided (``seq``), each with both accounts' totals right after it; a pending transfer is
  posted or voided at most once (``pending_id`` is unique). Written with COPY (binary).
- ``holds``: the escrow, one row per held occurrence (its deadline, and what became of it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.domain.accounts import Account
from ledger.domain.book import Book
from ledger.domain.ledger import Hold, Ledger

DDL = [
    """CREATE TABLE IF NOT EXISTS accounts (
        id UUID PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('wallet', 'escrow', 'fees', 'grants')),
        currency TEXT NOT NULL,
        owner_id UUID,
        debits_pending BIGINT NOT NULL CHECK (debits_pending >= 0),
        debits_posted BIGINT NOT NULL CHECK (debits_posted >= 0),
        credits_pending BIGINT NOT NULL CHECK (credits_pending >= 0),
        credits_posted BIGINT NOT NULL CHECK (credits_posted >= 0),
        closed BOOLEAN NOT NULL DEFAULT false,
        opened_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CONSTRAINT debits_must_not_exceed_credits
            CHECK (kind = 'grants' OR debits_pending + debits_posted <= credits_posted),
        CONSTRAINT a_wallet_has_an_owner CHECK ((kind = 'wallet') = (owner_id IS NOT NULL))
    ) WITH (fillfactor = 50)""",  # room on its page for an account's next version: see the module's doc
    "CREATE INDEX IF NOT EXISTS accounts_by_owner ON accounts (owner_id) WHERE owner_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS accounts_by_currency ON accounts (currency, kind, id)",
    """CREATE TABLE IF NOT EXISTS transfers (
        seq BIGSERIAL PRIMARY KEY,
        id UUID NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void')),
        debit_account_id UUID NOT NULL REFERENCES accounts (id),
        credit_account_id UUID NOT NULL REFERENCES accounts (id),
        amount BIGINT NOT NULL CHECK (amount >= 0),
        currency TEXT NOT NULL,
        code TEXT NOT NULL,
        pending_id UUID UNIQUE,
        expires_at TIMESTAMPTZ,
        fact_id UUID NOT NULL,
        booking_id UUID,
        occurrence INTEGER,
        recorded_at TIMESTAMPTZ NOT NULL,
        debit_balance BIGINT NOT NULL,
        debit_held BIGINT NOT NULL,
        debit_incoming BIGINT NOT NULL,
        credit_balance BIGINT NOT NULL,
        credit_held BIGINT NOT NULL,
        credit_incoming BIGINT NOT NULL,
        CHECK (debit_account_id <> credit_account_id),
        CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL))
    )""",
    "CREATE INDEX IF NOT EXISTS transfers_by_debit ON transfers (debit_account_id, seq)",
    "CREATE INDEX IF NOT EXISTS transfers_by_credit ON transfers (credit_account_id, seq)",
    """CREATE OR REPLACE FUNCTION transfers_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'transfers are append-only: a correction is a new transfer';
    END $$""",
    """CREATE OR REPLACE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
        FOR EACH ROW EXECUTE FUNCTION transfers_are_append_only()""",
    """CREATE OR REPLACE TRIGGER transfers_never_truncated BEFORE TRUNCATE ON transfers
        FOR EACH STATEMENT EXECUTE FUNCTION transfers_are_append_only()""",
    """CREATE TABLE IF NOT EXISTS holds (
        transfer_id UUID PRIMARY KEY,
        booking_id UUID NOT NULL,
        occurrence INTEGER NOT NULL,
        payer_id UUID NOT NULL,
        tutor_id UUID NOT NULL,
        currency TEXT NOT NULL,
        amount BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('held', 'settled', 'expired')),
        released BIGINT NOT NULL,
        refunded BIGINT NOT NULL,
        placed_at TIMESTAMPTZ NOT NULL,
        resolved_at TIMESTAMPTZ
    ) WITH (fillfactor = 70)""",
    "CREATE INDEX IF NOT EXISTS holds_by_booking ON holds (booking_id, occurrence)",
]

ACCOUNT_COLUMNS = ("id, kind, currency, owner_id, debits_pending, debits_posted, credits_pending, credits_posted, "
                   "closed")
#: The fact that made a transfer, and the booking and occurrence it is for (if any).
Ref = tuple[UUID, UUID | None, int | None]
HOLD_COLUMNS = ("transfer_id, booking_id, occurrence, payer_id, tutor_id, currency, amount, expires_at, status, "
                "released, refunded, resolved_at")
TRANSFER_COLUMNS = ("id", "kind", "debit_account_id", "credit_account_id", "amount", "currency", "code", "pending_id",
                    "expires_at", "fact_id", "booking_id", "occurrence", "recorded_at", "debit_balance", "debit_held",
                    "debit_incoming", "credit_balance", "credit_held", "credit_incoming")
#: Their types, for COPY in binary (no text to format and parse for every uuid and time).
TRANSFER_TYPES = ("uuid", "text", "uuid", "uuid", "int8", "text", "text", "uuid", "timestamptz", "uuid", "uuid", "int4",
                  "timestamptz", "int8", "int8", "int8", "int8", "int8", "int8")


def account_of(row: Any) -> Account:
    return Account(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6]), int(row[7]), bool(row[8]))


def hold_of(row: Any) -> Hold:
    return Hold(row[0], row[1], int(row[2]), row[3], row[4], row[5], int(row[6]), row[7], row[8], int(row[9]),
                int(row[10]), row[11])


class BookStore:
    """Reads a unit of work's accounts and holds, and writes what its decisions changed, on
    the unit's cursor (one transaction with the facts)."""

    def now(self, cur: Any) -> datetime:
        """The database's clock, read under the unit's lock: transfers are timed in the order
        they are numbered, whichever process decided them."""
        cur.execute("SELECT clock_timestamp()")
        value: datetime = cur.fetchone()[0]
        return value

    def accounts(self, cur: Any, ids: Iterable[UUID]) -> dict[UUID, Account]:
        cur.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY(%b)", (list(ids),))
        return {row[0]: account_of(row) for row in cur.fetchall()}

    def wallets_of(self, cur: Any, user_id: UUID) -> list[Account]:
        cur.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE owner_id = %s ORDER BY currency", (user_id,))
        return [account_of(row) for row in cur.fetchall()]

    def holds(self, cur: Any, ids: Iterable[UUID]) -> dict[UUID, Hold]:
        cur.execute(f"SELECT {HOLD_COLUMNS} FROM holds WHERE transfer_id = ANY(%b)", (list(ids),))
        return {row[0]: hold_of(row) for row in cur.fetchall()}

    def write(self, cur: Any, ledger: Ledger, refs: dict[UUID, Ref]) -> None:
        """Everything ``ledger`` decided: accounts (one row each), transfers (in order), holds.
        ``refs`` says for each transfer id which fact made it (and for which booking and
        occurrence)."""
        book, now = ledger.book, ledger.now
        self._accounts(cur, book, now)
        self._transfers(cur, book, refs, now)
        self._holds(cur, ledger.changed_holds.values(), now)

    @staticmethod
    def _accounts(cur: Any, book: Book, now: datetime) -> None:
        changed = list(book.changed.values())
        if not changed:
            return
        cur.execute(
            "INSERT INTO accounts (id, kind, currency, owner_id, debits_pending, debits_posted, credits_pending, "
            "credits_posted, closed, opened_at, updated_at) "
            "SELECT a.*, %b, %b FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::uuid[], %b::bigint[], "
            "%b::bigint[], %b::bigint[], %b::bigint[], %b::boolean[]) AS a "
            "ON CONFLICT (id) DO UPDATE SET debits_pending = excluded.debits_pending, "
            "debits_posted = excluded.debits_posted, credits_pending = excluded.credits_pending, "
            "credits_posted = excluded.credits_posted, closed = excluded.closed, updated_at = excluded.updated_at",
            (now, now, [a.id for a in changed], [a.kind for a in changed], [a.currency for a in changed],
             [a.owner_id for a in changed], [a.debits_pending for a in changed], [a.debits_posted for a in changed],
             [a.credits_pending for a in changed], [a.credits_posted for a in changed],
             [a.closed for a in changed]))

    @staticmethod
    def _transfers(cur: Any, book: Book, refs: dict[UUID, Ref], now: datetime) -> None:
        if not book.entries:
            return
        with cur.copy(f"COPY transfers ({', '.join(TRANSFER_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(TRANSFER_TYPES)
            for entry in book.entries:
                t = entry.transfer
                copy.write_row((t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.code,
                                t.pending_id, t.expires_at, *refs[t.id], now, *entry.debit_after, *entry.credit_after))

    @staticmethod
    def _holds(cur: Any, holds: Iterable[Hold], now: datetime) -> None:
        rows = list(holds)
        if not rows:
            return
        cur.execute(
            "INSERT INTO holds (transfer_id, booking_id, occurrence, payer_id, tutor_id, currency, amount, expires_at, "
            "status, released, refunded, resolved_at, placed_at) "
            "SELECT h.*, %b FROM unnest(%b::uuid[], %b::uuid[], %b::int[], %b::uuid[], %b::uuid[], %b::text[], "
            "%b::bigint[], %b::timestamptz[], %b::text[], %b::bigint[], %b::bigint[], %b::timestamptz[]) AS h "
            "ON CONFLICT (transfer_id) DO UPDATE SET expires_at = excluded.expires_at, status = excluded.status, "
            "released = excluded.released, refunded = excluded.refunded, resolved_at = excluded.resolved_at",
            (now, [h.transfer_id for h in rows], [h.booking_id for h in rows], [h.occurrence for h in rows],
             [h.payer_id for h in rows], [h.tutor_id for h in rows], [h.currency for h in rows],
             [h.amount for h in rows], [h.expires_at for h in rows], [h.status for h in rows],
             [h.released for h in rows], [h.refunded for h in rows], [h.resolved_at for h in rows]))
