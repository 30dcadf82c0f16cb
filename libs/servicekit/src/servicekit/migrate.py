"""Migrate services' databases without serving them: ``python -m servicekit.migrate SERVICE...``
(or ``--all``; each service's own ``alphapeer-<service> migrate`` does the same for one).

For each service (found by its ``alphapeer.services`` entry point) it builds the service
as a replica would, with its settings from the environment, but applying rather than
checking: the schema, the event store's tables, the kit's tables (outbox position, relay
lease, tracking, idempotency keys, account blocks...), the service's own tables and its
seed data (catalog's taxonomy, identity's first admin). Everything is idempotent, and runs
under a lock per schema, so running it twice, or beside a replica that migrates at start,
is safe. Replicas started with ``ALPHAPEER_MIGRATE_ON_START=false`` wait for it, then only
check. Exit status 0 when every service was migrated.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points
from typing import Any

from servicekit import runtime
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)


def installed() -> dict[str, Any]:
    """Every service installed in this environment, by name."""
    return {ep.name: ep.load() for ep in entry_points(group="alphapeer.services")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", nargs="*", help="service names, e.g. identity catalog")
    parser.add_argument("--all", action="store_true", help="every installed service")
    args = parser.parse_args(argv)
    found = installed()
    names = sorted(found) if args.all else args.services
    if not names:
        parser.error("name the services to migrate, or --all")
    unknown = [n for n in names if n not in found]
    if unknown:
        parser.error(f"not installed: {', '.join(unknown)} (installed: {', '.join(sorted(found)) or 'none'})")
    runtime.configure(ServiceSettings())
    for name in names:
        service = found[name]
        # One process, several services: each gets its own name and schema, whatever
        # ALPHAPEER_SERVICE_NAME / _DATABASE_SCHEMA say (they are per service).
        overrides: dict[str, Any] = {"service_name": name}
        if len(names) > 1:
            overrides["database_schema"] = ""
        try:
            service.migrate(service.settings_class(**overrides))
        except Exception:
            log.exception("migration failed", extra={"fields": {"service": name}})
            return 1
        print(f"{name}: migrated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
