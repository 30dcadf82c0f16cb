"""Suspended and erased accounts, as every gateway must know them.

An access token lives up to 15 minutes; identity refuses a suspended user at once, but the
other services only see a valid signature. So every service learns suspensions,
reinstatements and erasures from ``identity.events`` (a projection with its tracking row,
like any other), and every replica reads the table back into memory at most
``refresh_interval`` seconds late: a suspended user's token is refused everywhere within
about a second of identity's answer.

The kit wires this into every service built with :mod:`servicekit.service`; identity,
which owns the accounts, checks its own store instead.

The rules this module enforces, and the tests that guard them, are listed in
``docs/architecture.md`` ("The rules, and where the code enforces them")."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from alphapeer_contracts import identity as idc
from alphapeer_contracts.base import IntegrationEvent
from servicekit.auth import Principal
from servicekit.database import Cursor, Database
from servicekit.idempotency import IDEMPOTENCY_DDL
from servicekit.problems import Problem
from servicekit.shredding import KEYRING_DDL
from servicekit.subscriber import Delivery, ProjectionReaction

BLOCKS_DDL = [
    "CREATE SEQUENCE IF NOT EXISTS account_blocks_version",
    # One row per account identity ever suspended or erased; ``version`` rises on every
    # change, so replicas read only what changed since their last look.
    """CREATE TABLE IF NOT EXISTS account_blocks (
        user_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        version BIGINT NOT NULL DEFAULT nextval('account_blocks_version')
    )""",
    "CREATE INDEX IF NOT EXISTS account_blocks_by_version ON account_blocks (version)",
]

log = logging.getLogger(__name__)

HANDLES = {idc.UserSuspended.ce_type(), idc.UserReinstated.ce_type(), idc.UserErased.ce_type()}


class AccountBlocks:
    def __init__(self, db: Database, refresh_interval: float = 0.2, keyring: bool = False) -> None:
        self.db = db
        self.refresh_interval = refresh_interval
        self.keyring = keyring
        self.reaction = ProjectionReaction(db, self._apply, name="accounts")
        db.execute_script([*BLOCKS_DDL, *IDEMPOTENCY_DDL, *(KEYRING_DDL if keyring else [])])
        self._state: dict[str, str] = {}
        self._version = 0
        self._read_at = 0.0
        self._lock = threading.Lock()

    # -- from identity's events ---------------------------------------------------------

    def _apply(self, cur: Cursor, event: IntegrationEvent, delivery: Delivery) -> None:
        user_id = str(getattr(event, "user_id", ""))
        if isinstance(event, idc.UserSuspended):
            state = "suspended"
        elif isinstance(event, idc.UserReinstated):
            state = "active"
        elif isinstance(event, idc.UserErased):
            state = "erased"
            self._erase(cur, user_id)
        else:
            return
        # Erasure is final: nothing that arrives after it brings the account back.
        cur.execute(
            "INSERT INTO account_blocks (user_id, state) VALUES (%s, %s) ON CONFLICT (user_id) DO UPDATE"
            " SET state = excluded.state, version = nextval('account_blocks_version')"
            " WHERE account_blocks.state <> 'erased'",
            (user_id, state),
        )

    def _erase(self, cur: Cursor, user_id: str) -> None:
        """What every service holds of an erased user because the kit keeps it: the answers
        kept for their Idempotency-Keys (they may quote their name), and the keys that open
        the personal text other services sent about them (so nothing here reads it again)."""
        cur.execute("DELETE FROM idempotency_keys WHERE scope = %s", (f"user:{user_id}",))
        if self.keyring:
            cur.execute("DELETE FROM keyring WHERE subject_id = %s", (user_id,))

    # -- in every request ------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Reads what changed since the last look (at most every ``refresh_interval``)."""
        if not force and time.monotonic() - self._read_at < self.refresh_interval:
            return
        if not self._lock.acquire(blocking=force):
            return  # another request is reading; this one uses what is known
        try:
            try:
                with self.db.transaction() as cur:
                    cur.execute("SELECT user_id, state, version FROM account_blocks WHERE version > %s"
                                " ORDER BY version", (self._version,))
                    rows = cur.fetchall()
            except Exception:
                if force:
                    raise
                log.warning("cannot read account blocks; using what is known", exc_info=True)
                return
            for user_id, state, version in rows:
                if state == "active":
                    self._state.pop(user_id, None)
                else:
                    self._state[user_id] = state
                self._version = max(self._version, int(version))
            self._read_at = time.monotonic()
        finally:
            self._lock.release()

    @property
    def version(self) -> int:
        """The latest change this replica has read (``/metrics``)."""
        return self._version

    def counts(self) -> dict[str, int]:
        """How many accounts this replica refuses, by state (``/metrics``)."""
        states = list(self._state.values())
        return {state: states.count(state) for state in set(states)}

    def state_of(self, user_id: Any) -> str:
        self.refresh()
        return self._state.get(str(user_id), "active")

    def check(self, principal: Principal) -> None:
        """The gateway's principal check: a suspended account is refused (403), an erased
        one no longer exists (401), however fresh its token."""
        state = self.state_of(principal.user_id)
        if state == "erased":
            raise Problem(401, "Invalid token", "this account was erased")
        if state == "suspended":
            raise Problem(403, "Account suspended", "this account is suspended")
