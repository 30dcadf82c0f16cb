"""Words and BM25: how free text is split, and how well a listing's words answer a query."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "i", "in", "is",
    "it", "its", "my", "of", "on", "or", "so", "that", "the", "to", "we", "with", "you", "your",
    "me", "our", "can", "will",
))
K1, B = 1.2, 0.75

#: word → (rows that have it, how often each has it)
Postings = Mapping[str, tuple[np.ndarray, np.ndarray]]


def words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]  # plural → singular, enough for "quadratics" to find "quadratic"
        out.append(w)
    return out


def bm25(query: str, postings: Postings, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relevance of every row to ``query``, rows with at least one of its words)."""
    n = len(lengths)
    relevance = np.zeros(n)
    matched = np.zeros(n, dtype=bool)
    avg = float(lengths.mean()) if n else 1.0
    for w in words(query):
        posting = postings.get(w)
        if posting is None:
            continue
        ids, tf = posting
        idf = math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
        relevance[ids] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[ids] / max(avg, 1)))
        matched[ids] = True
    return relevance, matched
