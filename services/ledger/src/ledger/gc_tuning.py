"""The ledger process's garbage collector, set for batches (run by ``ledger.main.main``)."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """The process's garbage collector, set for batches. A batch of hundreds of events
    allocates tens of thousands of objects that live until it commits; with CPython's
    default thresholds (700, 10, 10) the collector walks them some twenty times a batch,
    and every few batches walks the whole heap, startup's modules and models included —
    about a seventh of a batch of 500's time. What startup built is frozen (never walked
    again), and the youngest generation is collected every 50,000 net allocations instead
    of 700. Objects are freed when their last reference goes, as always; only reference
    cycles wait longer to be collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
