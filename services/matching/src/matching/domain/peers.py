"""Peer recommendations: courses chosen by students whose choices overlap the learner's
("students like you chose …"), or the most chosen while the learner has no history."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from matching.domain.columns import Item, Signals
from matching.domain.reasons import join


def peers(signals: Signals, student: str, limit: int = 10) -> dict[str, Any]:
    """What students with overlapping choices chose next; the most chosen when the
    learner has no history yet (said so in ``basis``)."""
    by_student, by_item, courses = signals.by_student, signals.by_item, signals.courses
    mine = by_student.get(student, set())
    scored: dict[Item, float] = defaultdict(float)
    via: dict[Item, set[str]] = defaultdict(set)
    shared_items: dict[Item, set[Item]] = defaultdict(set)
    for item in mine:
        for other in by_item.get(item, ()):
            if other == student:
                continue
            theirs = by_student[other]
            sim = len(mine & theirs) / math.sqrt(len(mine) * len(theirs))
            for candidate in theirs - mine:
                if other not in via[candidate]:
                    scored[candidate] += sim
                via[candidate].add(other)
                shared_items[candidate].add(item)
    basis = "peers"
    if not scored:
        basis = "popular"
        scored = {item: float(len(students)) for item, students in by_item.items() if item not in mine}
    items = []
    for item, value in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
        kind, item_id = item
        if kind != "course" or item_id not in courses or courses[item_id]["creator_id"] == student:
            continue  # retired courses and one's own are not suggested
        course = courses[item_id]
        if basis == "peers":
            n = len(via[item])
            shared = sorted(courses[i]["title"] for k, i in shared_items[item] if k == "course" and i in courses)
            s = "s" if n != 1 else ""
            why = (f"{n} student{s} who also took {join(shared)} enrolled in this") if shared \
                else f"{n} student{s} who studied with the same tutors as you enrolled in this"
        else:
            n = len(by_item.get(item, ()))
            why = f"Popular: {n} student{'s' if n != 1 else ''} enrolled"
        items.append({"kind": "course", **course, "score": round(value, 4), "why": why})
        if len(items) >= limit:
            break
    return {"basis": basis, "items": items}
