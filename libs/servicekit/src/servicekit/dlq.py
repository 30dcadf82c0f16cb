"""Dead letters, for operators: ``python -m servicekit.dlq <service> list|show|replay``.

A subscriber dead-letters a message it could not handle to ``<service>.dlq``: the original
value, key and headers, plus ``dlq_*`` headers saying where it came from (original topic,
partition, offset), why (the error and its trace) and after how many attempts. This
command reads that topic with a plain consumer (no group, nothing committed):

- ``list``: one line per dead letter: its reference (``partition:offset`` in the DLQ), when
  it was dead-lettered, the event type, where it came from, attempts, the error, and
  whether it was replayed;
- ``show [REF ...]``: everything about them, as JSON (headers, value, the error's trace);
- ``replay REF ... | --all``: once the cause is fixed (a deployed fix, a repaired row),
  publishes each original record again to its original topic (same value and key, the
  original headers without the ``dlq_*`` ones, plus ``dlq_replay_of`` naming the dead
  letter). Every subscriber of that topic sees it again; subscribers track what they
  applied, so only the one that had failed changes anything. Each replay is recorded in
  the DLQ itself (a marker record with ``dlq_marker: replayed``), so every operator and
  every later run knows it: a dead letter already replayed is skipped unless ``--force``.

``--since`` (``30m``, ``2h``, ``7d`` or an ISO date), ``--type`` (a CloudEvents type, its
event name such as ``UserSuspended``, or a glob) and ``--limit`` narrow any of them;
``--pending`` leaves out what was replayed.

A replayed event arrives after events that were published later; when the order matters to
a reaction (a listing published, then withdrawn), ``show`` what followed before replaying.
The broker is ``--bootstrap``, else ``ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS``, else ``make up``'s;
it is reached as the services reach it (``ALPHAPEER_KAFKA_*``: TLS, SASL)."""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import getpass
import json
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from servicekit import kafka
from servicekit.envelope import Headers, decode_headers
from servicekit.settings import ServiceSettings

MARKER = "dlq_marker"
REPLAY_OF = "dlq_replay_of"
DEFAULT_BOOTSTRAP = "127.0.0.1:19092"  # make up's embedded broker


@dataclass
class DeadLetter:
    """One record of ``<service>.dlq``."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    raw_headers: Headers
    #: Replay markers that name this dead letter, oldest first.
    replays: list[dict[str, str]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def headers(self) -> dict[str, str]:
        return decode_headers(self.raw_headers)

    @property
    def is_marker(self) -> bool:
        return MARKER in self.headers

    @property
    def event_type(self) -> str:
        return self.headers.get("ce_type", "")

    @property
    def origin(self) -> tuple[str, int, int]:
        h = self.headers
        return h.get("dlq_original_topic", ""), int(h.get("dlq_original_partition", -1)), \
            int(h.get("dlq_original_offset", -1))

    def original_headers(self) -> Headers:
        """The headers the message arrived with: every ``dlq_*`` one removed."""
        return [(k, v) for k, v in self.raw_headers if not k.startswith("dlq_") and v is not None]

    def summary(self) -> dict[str, Any]:
        h = self.headers
        topic, partition, offset = self.origin
        return {
            "ref": self.ref,
            "dead_lettered_at": self.timestamp.isoformat(timespec="seconds"),
            "type": self.event_type,
            "ce_id": h.get("ce_id"),
            "key": _text(self.key),
            "original": {"topic": topic, "partition": partition, "offset": offset},
            "consumer": h.get("dlq_consumer"),
            "attempts": int(h.get("dlq_attempts", 0)),
            "error": h.get("dlq_error", ""),
            "replay_of": h.get(REPLAY_OF),
            "replayed": [{"at": m.get("dlq_replayed_at"), "to": m.get("dlq_replayed_to"),
                          "by": m.get("dlq_replayed_by")} for m in self.replays],
        }

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "headers": self.headers, "value": _value(self.value)}


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode(errors="replace")


def _value(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


# -- reading ------------------------------------------------------------------------------


async def read(settings: ServiceSettings, topic: str, *, timeout: float = 30.0, idle: float = 1.0
               ) -> list[DeadLetter]:
    """Every dead letter of ``topic`` in the order they were written, each with its replay
    markers attached (the markers themselves are not returned). Reads until fetches come
    back empty for ``idle`` seconds: end offsets are not to be trusted on every broker."""
    consumer = AIOKafkaConsumer(**kafka.client_options(settings), enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=100,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    records: list[Any] = []
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < idle:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if any(batch.values()):
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    letters = [DeadLetter(topic=r.topic, partition=r.partition, offset=r.offset,
                          timestamp=datetime.fromtimestamp(r.timestamp / 1000, UTC), key=r.key, value=r.value or b"",
                          raw_headers=list(r.headers)) for r in records]
    letters.sort(key=lambda d: (d.timestamp, d.partition, d.offset))
    by_ref = {d.ref: d for d in letters if not d.is_marker}
    for marker in (d for d in letters if d.is_marker):
        h = marker.headers
        target = by_ref.get(h.get(REPLAY_OF, ""))
        if target is not None:
            target.replays.append(h)
    return list(by_ref.values())


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``7d``, ``45s`` ago, or an ISO 8601 date/time (UTC unless it says)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def type_matches(pattern: str, ce_type: str) -> bool:
    """A full CloudEvents type, its event name alone (``UserSuspended``), or a glob."""
    parts = ce_type.split(".")
    return pattern == ce_type or fnmatch.fnmatchcase(ce_type, pattern) or (len(parts) > 2 and parts[2] == pattern)


def select(letters: Sequence[DeadLetter], *, refs: Sequence[str] = (), since: datetime | None = None,
           event_type: str | None = None, pending: bool = False, limit: int | None = None) -> list[DeadLetter]:
    chosen = [d for d in letters
              if (not refs or d.ref in refs)
              and (since is None or d.timestamp >= since)
              and (event_type is None or type_matches(event_type, d.event_type))
              and (not pending or not d.replays)]
    return chosen[:limit] if limit is not None else chosen


# -- replaying ----------------------------------------------------------------------------


@dataclass
class Replayed:
    letter: DeadLetter
    to: str | None  # "topic:partition:offset"; None when skipped or a dry run
    skipped: str | None = None


async def replay(settings: ServiceSettings, letters: Sequence[DeadLetter], *, force: bool = False,
                 dry_run: bool = False) -> list[Replayed]:
    """Publish each dead letter's original record to its original topic, then a marker in
    the DLQ. A crash between the two replays it again next time, which subscribers, tracking
    what they applied, absorb."""
    results: list[Replayed] = []
    todo: list[DeadLetter] = []
    for letter in letters:
        topic, _, _ = letter.origin
        if not topic:
            results.append(Replayed(letter, None, "no dlq_original_topic header"))
        elif letter.replays and not force:
            results.append(Replayed(letter, None, f"already replayed at {letter.replays[-1].get('dlq_replayed_at')} "
                                                  "(--force replays it again)"))
        elif dry_run:
            results.append(Replayed(letter, None, "dry run"))
        else:
            todo.append(letter)
    if not todo:
        return results
    producer = AIOKafkaProducer(**kafka.client_options(settings), acks="all", max_request_size=8 * 1024 * 1024,
                                request_timeout_ms=15000)
    await producer.start()
    try:
        who = f"{_user()}@{socket.gethostname()}"
        for letter in todo:
            topic, _, _ = letter.origin
            sent = await producer.send_and_wait(
                topic, value=letter.value, key=letter.key,
                headers=[*letter.original_headers(), (REPLAY_OF, f"{letter.topic}:{letter.ref}".encode())])
            to = f"{sent.topic}:{sent.partition}:{sent.offset}"
            marker = {MARKER: "replayed", REPLAY_OF: letter.ref, "dlq_replayed_to": to,
                      "dlq_replayed_at": datetime.now(UTC).isoformat(timespec="seconds"), "dlq_replayed_by": who}
            await producer.send_and_wait(letter.topic, value=b"", key=letter.key,
                                         headers=[(k, v.encode()) for k, v in marker.items()])
            letter.replays.append(marker)
            results.append(Replayed(letter, to))
    finally:
        await producer.stop()
    return results


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (a container's UID): a number will do
        return str(os.getuid())


# -- the command --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--since", help="dead-lettered since: 30m, 2h, 7d or an ISO date/time (UTC)")
    common.add_argument("--type", dest="event_type", help="event type: alphapeer.identity.UserSuspended.v1, "
                        "UserSuspended or a glob")
    common.add_argument("--limit", type=int, help="at most this many (the oldest first)")
    common.add_argument("--pending", action="store_true", help="only those never replayed")
    common.add_argument("--bootstrap", default=os.environ.get("ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP))
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topic for, at most")
    parser = argparse.ArgumentParser(prog="python -m servicekit.dlq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", help="whose dead letters: reads <service>.dlq")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="one line per dead letter")
    listing.add_argument("--json", action="store_true", help="a JSON object per line")
    show = commands.add_parser("show", parents=[common], help="everything about some dead letters, as JSON")
    show.add_argument("refs", nargs="*", metavar="REF", help="partition:offset in the DLQ, as list prints it")
    again = commands.add_parser("replay", parents=[common], help="publish to the original topic again")
    again.add_argument("refs", nargs="*", metavar="REF", help="partition:offset in the DLQ, as list prints it")
    again.add_argument("--all", action="store_true", help="every dead letter the filters select")
    again.add_argument("--force", action="store_true", help="replay even those already replayed")
    again.add_argument("--dry-run", action="store_true", help="say what would be replayed, publish nothing")
    return parser


async def run(argv: Sequence[str], out: TextIO | None = None) -> int:
    """The command, for the console and for tests (which run it on their own event loop)."""
    out = out or sys.stdout
    args = _parser().parse_args(list(argv))
    topic = f"{args.service}.dlq"
    refs: list[str] = list(getattr(args, "refs", []) or [])
    if args.command == "replay" and not (refs or args.all or args.since or args.event_type):
        print("replay what? name dead letters (REF ...), or select them with --all, --since or --type", file=out)
        return 2
    # Where the cluster is and how to reach it (TLS, SASL): the services' ALPHAPEER_KAFKA_* settings.
    settings = ServiceSettings(service_name=args.service, kafka_bootstrap_servers=args.bootstrap)
    letters = await read(settings, topic, timeout=args.timeout)
    unknown = [r for r in refs if r not in {d.ref for d in letters}]
    if unknown:
        print(f"no such dead letter in {topic}: {', '.join(unknown)}", file=out)
        return 2
    chosen = select(letters, refs=refs, since=parse_since(args.since) if args.since else None,
                    event_type=args.event_type, pending=args.pending, limit=args.limit)
    if args.command == "list":
        if not args.json:
            print(f"{len(chosen)} of {len(letters)} dead letters in {topic}", file=out)
        for d in chosen:
            print(json.dumps(d.summary()) if args.json else _line(d), file=out)
    elif args.command == "show":
        for d in chosen:
            print(json.dumps(d.detail(), indent=2), file=out)
    else:
        for r in await replay(settings, chosen, force=args.force, dry_run=args.dry_run):
            if r.to:
                print(f"replayed {r.letter.ref} ({r.letter.event_type}) -> {r.to}", file=out)
            else:
                print(f"skipped {r.letter.ref} ({r.letter.event_type}): {r.skipped}", file=out)
    return 0


def _line(d: DeadLetter) -> str:
    s = d.summary()
    state = f"replayed {s['replayed'][-1]['at']}" if d.replays else "pending"
    origin = s["original"]
    error = " ".join(s["error"].split())
    return (f"{s['ref']:>8}  {s['dead_lettered_at']}  {s['type'] or '-'}  from {origin['topic']}:{origin['partition']}:"
            f"{origin['offset']}  attempts={s['attempts']}  {state}  {error[:120]}")


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(asyncio.run(run(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
