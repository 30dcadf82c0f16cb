"""Print a topic from the beginning: ``python -m servicekit.tail identity.events``.

A plain aiokafka consumer with no group and none of our code on the read path, to show
that the streams are readable by any Kafka tool. It reaches the cluster as the services do:
``ALPHAPEER_KAFKA_*`` (bootstrap servers, TLS, SASL) from the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from servicekit.devstack import consume_all
from servicekit.settings import ServiceSettings


async def _main(topic: str, bootstrap: str, limit: int, timeout: float) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap)  # security settings from the environment
    records = await consume_all(settings, topic, expect=limit, timeout=timeout)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        headers = {k: v.decode() for k, v in r.headers}
        print(json.dumps({"partition": r.partition, "offset": r.offset, "key": (r.key or b"").decode(),
                          "headers": headers, "value": json.loads(r.value)}, indent=None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("topic")
    parser.add_argument("--bootstrap", default=os.environ.get("ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(_main(args.topic, args.bootstrap, args.limit, args.timeout))


if __name__ == "__main__":
    main()
