"""Recommendation quality on a labelled synthetic set: tutors over the real taxonomy (four
per topic, two generalists per subject), 55 learning needs in students' words with graded
labels (3 teaches the topic, 1 the subject, 0 neither). NDCG@10 for the ranking with words
only (BM25), sentence vectors only, and the configured blend — so a change to the model,
the text or the weights shows up as a number."""

from __future__ import annotations

import contextlib
import math
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts.vocabulary import LEVELS
from bench.tutoring_texts import NEEDS, bio, check_needs_cover_taxonomy, relevance, subjects
from servicekit.testing import Feed

K = 10


def ndcg(ranked: list[int], labels: list[int], k: int = K) -> float:
    gain = sum((2 ** rel - 1) / math.log2(i + 2) for i, rel in enumerate(ranked[:k]))
    ideal = sum((2 ** rel - 1) / math.log2(i + 2) for i, rel in enumerate(sorted(labels, reverse=True)[:k]))
    return gain / ideal if ideal else 0.0


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A database of its own on the bench's server, dropped afterwards (``make bench`` gives
    the other benchmarks one; this one is also run on its own)."""
    import psycopg

    from bench.__main__ import ADMIN_URL

    name = f"alphapeer_quality_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rpartition("/")[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_directory(tmp: Path, db_url: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    from matching.main import build
    from matching.settings import MatchingSettings

    settings = MatchingSettings(database_url=db_url, data_dir=tmp, subscribers_enabled=False,
                                kafka_bootstrap_servers="127.0.0.1:1", log_level="WARNING")
    app = build(settings)
    rnd = random.Random(11)
    send = Feed(app.state.reactions["main"])  # as the subscriber would deliver them
    long_ago = datetime.now(UTC) - timedelta(days=365)  # nobody is new: exposure measured apart

    tutors: dict[str, dict[str, Any]] = {}

    def tutor(subject: tuple[str, str, str, list[str]], topic: str | None, text: str) -> None:
        uid = uuid.UUID(int=rnd.getrandbits(128))
        send(idc.UserRegistered(user_id=uid, display_name=f"T{len(tutors)}", roles=["student"], occurred_at=long_ago))
        send(idc.TutorApproved(application_id=uuid.uuid4(), user_id=uid, subjects=[], levels=[], approved_by=uid,
                               occurred_at=long_ago))
        snapshot = cat.ListingSnapshot(
            tutor_id=uid, title=f"{subject[1]} tutoring",
            subjects=[cat.SubjectTaught(subject_id=subject[0], name=subject[1], area=subject[2],
                                        level=rnd.choice(LEVELS),
                                        topics=[topic] if topic else [])],
            rate=cat.Rate(credits_per_hour=rnd.choice([5, 10, 15])), session_minutes=[60], modes=["online"],
            languages=["en"], bio=text)
        lid = uuid.UUID(int=rnd.getrandbits(128))
        send(cat.ListingPublished(listing_id=lid, listing=snapshot, occurred_at=long_ago))
        tutors[str(lid)] = {"subject": subject[0], "topic": topic}

    for subject in subjects():
        for topic in subject[3]:
            for _ in range(4):
                tutor(subject, topic, bio(rnd, subject[1], topic))
        for _ in range(2):
            tutor(subject, None, f"Friendly {subject[1]} tutor for all levels: homework help and exam revision.")
    return app, tutors


def run(context: dict[str, Any], db_url: str | None = None) -> list[dict[str, Any]]:
    from bench.__main__ import report
    from matching.application import MatchingApplication
    from matching.domain.query import Need
    from matching.domain.recommendation import COMPONENTS, DEFAULT_WEIGHTS, Tuning

    check_needs_cover_taxonomy()
    results: list[dict[str, Any]] = []
    print(f"recommendation quality ({len(NEEDS)} labelled needs)")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="alphapeer-eval-"))
        app, tutors = build_directory(Path(tmp), db_url or stack.enter_context(throwaway_database()))
        matching = app.state.matching
        directory = matching.directory
        started = time.perf_counter()
        directory.settle()
        indexing = time.perf_counter() - started
        with directory.vectors.memo.transaction() as cur:
            cur.execute("SELECT count(*) FROM embedding_cache")
            texts = int(cur.fetchone()[0])  # bios and topic names
        report(results, "matching.embedding.throughput", texts / indexing, "texts/s",
               {**context, "texts": texts, "threads": 1, "note": "all-MiniLM-L6-v2 fp32 on ONNX Runtime"})
        rankers = {
            "words_only": {k: (1.0 if k == "text" else 0.0) for k in COMPONENTS},
            "vectors_only": {k: (1.0 if k == "semantic" else 0.0) for k in COMPONENTS},
            "blend": dict(DEFAULT_WEIGHTS),
        }
        for name, weights in rankers.items():
            tuning = Tuning(weights=weights, exposure_positions=())
            rec = MatchingApplication(directory, matching.embedder, tuning=tuning)
            for style in ("own_words", "names_topic"):
                scores = []
                for (subject, topic), goal in NEEDS.items():
                    if style == "names_topic":  # the easy case for word matching
                        goal = f"I need help with {topic.lower()} for my exam"
                    found = rec.recommend(Need(goal=goal, limit=K))
                    ranked = [relevance((subject, topic), tutors[i["listing_id"]]) for i in found["items"]]
                    labels = [relevance((subject, topic), t) for t in tutors.values()]
                    scores.append(ndcg(ranked, labels))
                report(results, f"matching.recommend.ndcg@10.{style}.{name}", sum(scores) / len(scores), "",
                       {**context, "needs": len(NEEDS), "tutors": len(tutors), "weights": weights,
                        "labels": "3 topic, 1 subject, 0 other"})
        directory.db.close()
        directory.vectors.memo.close()
    return results
