"""The ledger's rules without a database, over many generated cases: a settlement's parts
always add up to what was held (refund rounded up, fee rounded down, the tutor the rest);
a total is shared out to the last unit; a linked chain of transfers is applied whole or
not at all, and no account that must not go negative ever does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.accounts import Account
from ledger.domain.book import Book, Transfer
from ledger.domain.money import MAX_AMOUNT, WHOLE, allocate, split_settlement

amounts = st.integers(min_value=0, max_value=10**12)
rates = st.integers(min_value=0, max_value=WHOLE)


@given(held=amounts, refund=rates, fee=rates)
@settings(max_examples=500, derandomize=True)
def test_a_settlement_loses_nothing_and_rounds_as_stated(held: int, refund: int, fee: int) -> None:
    split = split_settlement(held, refund, fee)
    assert split.refund + split.tutor + split.fee == held
    assert min(split.refund, split.tutor, split.fee) >= 0
    assert split.refund * WHOLE >= held * refund > (split.refund - 1) * WHOLE  # rounded up
    released = held - split.refund
    assert split.fee * WHOLE <= released * fee < (split.fee + 1) * WHOLE  # rounded down


def test_the_stated_examples() -> None:
    assert split_settlement(99, 5000, 1000) == split_settlement(99, 5000, 1000)
    assert (split_settlement(99, 5000, 1000).refund, split_settlement(99, 5000, 1000).fee) == (50, 4)
    assert split_settlement(120, 0, 1000).tutor == 108
    assert split_settlement(1, 1, 0).refund == 1  # any refund of a held unit gives the unit back
    assert split_settlement(9, 0, 9999).fee == 8  # the fee never takes the last unit from the tutor by rounding


@given(total=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
@settings(max_examples=500, derandomize=True)
def test_a_total_is_shared_out_exactly(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total and len(parts) == len(weights) and min(parts) >= 0
    if sum(weights) == total:
        assert parts == weights
    elif sum(weights):
        for part, weight in zip(parts, weights, strict=True):  # within one unit of the exact share
            assert abs(part * sum(weights) - total * weight) < sum(weights)


def _book(*accounts: Account) -> Book:
    book = Book(load=lambda ids: {})
    for a in accounts:
        book.open(a.kind, a.currency, a.owner_id)
        found = book.find(a.id)
        assert found is not None
        found.restore(a.totals())
    return book


def _t(debit: Account, credit: Account, amount: int, kind: str = "single", pending: Transfer | None = None
       ) -> Transfer:
    return Transfer(uuid.uuid4(), kind, debit.id, credit.id, amount, debit.currency, "test",  # type: ignore[arg-type]
                    pending_id=pending.id if pending else None,
                    expires_at=datetime.now(UTC) if kind == "pending" else None)


def test_pending_then_posted_in_part_or_voided() -> None:
    wallet, escrow = Account.open("wallet", "XAP", uuid.uuid4()), Account.open("escrow", "XAP")
    wallet.credits_posted = 100
    book = _book(wallet, escrow)
    w, e = book.find(wallet.id), book.find(escrow.id)
    assert w is not None and e is not None
    hold = _t(w, e, 80, "pending")
    assert book.execute([hold]) is None
    assert (w.held, w.available, e.incoming) == (80, 20, 80)
    too_much = _t(w, e, 30, "pending")
    refusal = book.execute([too_much])
    assert refusal is not None and refusal.code == "exceeds_credits" and w.held == 80
    assert book.execute([_t(w, e, 81, "post", hold)]).code == "exceeds_pending_amount"  # type: ignore[union-attr]
    assert book.execute([_t(w, e, 50, "post", hold)]) is None  # in part: 30 goes back
    assert (w.balance, w.held, w.available, e.balance, e.incoming) == (50, 0, 50, 50, 0)
    refusal = book.execute([_t(w, e, 0, "void", hold)])  # resolved once
    assert refusal is not None and refusal.code == "pending_transfer_not_found"


def test_a_linked_chain_is_all_or_nothing() -> None:
    a, b, c = (Account.open("wallet", "XAP", uuid.uuid4()) for _ in range(3))
    a.credits_posted = 10
    book = _book(a, b, c)
    before = {x.id: book.find(x.id).totals() for x in (a, b, c)}  # type: ignore[union-attr]
    refusal = book.execute([_t(a, b, 10), _t(b, c, 4), _t(b, c, 7)])  # the third would overdraw b
    assert refusal is not None and refusal.code == "exceeds_credits"
    assert {x.id: book.find(x.id).totals() for x in (a, b, c)} == before  # type: ignore[union-attr]
    assert book.entries == [] and book.execute([_t(a, b, 10), _t(b, c, 4), _t(b, c, 6)]) is None
    assert len(book.entries) == 3


def test_overflow_is_refused() -> None:
    grants, wallet = Account.open("grants", "XAP"), Account.open("wallet", "XAP", uuid.uuid4())
    wallet.credits_posted = MAX_AMOUNT - 5
    book = _book(grants, wallet)
    g, w = book.find(grants.id), book.find(wallet.id)
    assert g is not None and w is not None
    assert book.execute([_t(g, w, 6)]).code == "overflows"  # type: ignore[union-attr]
    assert book.execute([_t(g, w, 5)]) is None


@st.composite
def chains(draw: st.DrawFn) -> list[tuple[int, int, int, str]]:
    return draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 200),
                                   st.sampled_from(["single", "pending", "post", "void"])), min_size=1, max_size=5))


@given(st.lists(chains(), min_size=1, max_size=30))
@settings(max_examples=300, derandomize=True)
def test_no_sequence_of_chains_breaks_the_rules(sequence: list[list[tuple[int, int, int, str]]]) -> None:
    issuer = Account.open("grants", "XAP")
    wallets = [Account.open("wallet", "XAP", uuid.uuid4()) for _ in range(3)]
    book = _book(issuer, *wallets)
    accounts = [book.find(issuer.id), *(book.find(w.id) for w in wallets)]
    open_pending: list[Transfer] = []
    for chain in sequence:
        transfers = []
        for debit, credit, amount, kind in chain:
            pending = open_pending[amount % len(open_pending)] if kind in ("post", "void") and open_pending else None
            if pending is not None:
                transfers.append(Transfer(uuid.uuid4(), kind, pending.debit_account_id,  # type: ignore[arg-type]
                                          pending.credit_account_id, min(amount, pending.amount), "XAP", "test",
                                          pending_id=pending.id))
            else:
                d, c = accounts[debit], accounts[credit]
                assert d is not None and c is not None
                transfers.append(_t(d, c, amount, "pending" if kind == "pending" else "single"))
        before = [a.totals() for a in accounts if a is not None]
        refusal = book.execute(transfers)
        if refusal is not None:
            assert [a.totals() for a in accounts if a is not None] == before
            continue
        for t in transfers:
            if t.kind == "pending":
                open_pending.append(t)
            if t.pending_id is not None:
                open_pending = [p for p in open_pending if p.id != t.pending_id]
        for a in accounts:
            assert a is not None
            assert min(a.totals()) >= 0
            if a.debits_must_not_exceed_credits:
                assert a.debits_pending + a.debits_posted <= a.credits_posted
        # Double entry: every posted and pending unit is on both sides.
        assert sum(a.debits_posted for a in accounts if a) == sum(a.credits_posted for a in accounts if a)
        assert sum(a.debits_pending for a in accounts if a) == sum(a.credits_pending for a in accounts if a)
