"""The topics a service owns, shaped from configuration: ``<service>.events`` keeps
everything (``retention.ms=-1``: new subscribers replay it from the start, and the relay's
republish-on-loss must never be set off by retention), ``<service>.dlq`` keeps dead letters
for a configured time; partitions and replication factor from settings. Where topics are
declared to the cluster (Strimzi), the service creates none and names what is missing.

(Tansu accepts and reports topic configs but does not enforce them: this checks what the
kit asks for and reads back, not retention itself.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from servicekit import kafka as kit  # (`kafka` is the broker fixture here)
from servicekit.database import Database
from servicekit.eventstore import ServiceApplication
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.subscriber import _ensure_dlq
from servicekit.testing import Broker, close_later

pytestmark = pytest.mark.integration


def settings(broker: Broker, **kw: Any) -> ServiceSettings:
    return ServiceSettings(service_name="topicprobe", kafka_bootstrap_servers=broker.bootstrap, **kw)


async def shape(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = [t for t in await admin.describe_topics([topic]) if t["topic"] == topic]
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        configs = {e[0]: e[1] for a in answers for r in a.resources for e in r[4]}
        return len(described["partitions"]), configs
    finally:
        await admin.close()


def test_the_shapes_come_from_settings() -> None:
    s = ServiceSettings(service_name="booking", topic_partitions=6, topic_replication_factor=3,
                        topic_min_insync_replicas=2, topic_dlq_retention_ms=7 * 24 * 3600 * 1000)
    events, dlq = kit.event_topic(s), kit.dlq_topic(s)
    assert (events.name, events.partitions, events.replication_factor) == ("booking.events", 6, 3)
    assert events.configs == {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1",
                              "min.insync.replicas": "2"}
    assert (dlq.name, dlq.partitions, dlq.replication_factor) == ("booking.dlq", 6, 3)
    assert dlq.configs == {"cleanup.policy": "delete", "retention.ms": "604800000", "min.insync.replicas": "2"}
    assert "min.insync.replicas" not in kit.event_topic(ServiceSettings()).configs  # 0: the broker's default


async def test_the_relay_and_the_subscriber_create_their_topics_shaped(
    kafka: Broker, postgres_url: str, pg_schema: str
) -> None:
    s = settings(kafka, database_url=postgres_url, database_schema=pg_schema, topic_partitions=5,
                 topic_dlq_retention_ms=3 * 24 * 3600 * 1000)
    db = Database(s)

    class TopicProbe(ServiceApplication):
        name = "topicprobe"

    app = TopicProbe(env=db.eventsourcing_env())
    close_later(app, db)
    relay = OutboxRelay(app, db, s, lambda e: None)
    task = asyncio.create_task(relay.run())
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not relay.status.connected:
            assert asyncio.get_running_loop().time() < deadline, relay.status
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 10)
    partitions, configs = await shape(kafka.bootstrap, "topicprobe.events")
    assert partitions == 5
    assert {k: configs[k] for k in ("cleanup.policy", "retention.ms", "retention.bytes")} == \
        {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}

    await _ensure_dlq(s)  # what the subscriber does before its first dead letter
    partitions, configs = await shape(kafka.bootstrap, "topicprobe.dlq")
    assert partitions == 5 and configs["retention.ms"] == str(3 * 24 * 3600 * 1000)


async def test_an_event_topic_that_would_drop_history_is_reported(kafka: Broker,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:  # made by someone else, with the broker's usual week of retention
        await admin.create_topics([NewTopic("topicprobe.events", 3, 1,
                                            topic_configs={"retention.ms": "604800000", "cleanup.policy": "delete"})])
    finally:
        await admin.close()
    with caplog.at_level(logging.ERROR, logger="servicekit.kafka"):
        created = await kit.ensure_topics(settings(kafka), [kit.event_topic(settings(kafka))])
    assert created == []  # left as it is: the cluster's owner decides
    (record,) = [r for r in caplog.records if "keeps less than the whole stream" in r.getMessage()]
    assert record.fields["found"] == {"retention.ms": "604800000"}  # type: ignore[attr-defined]


async def test_with_declared_topics_a_missing_one_is_named_not_created(kafka: Broker) -> None:
    s = settings(kafka, kafka_create_topics=False)
    with pytest.raises(kit.TopicMissing, match=r"topicprobe\.events.*ALPHAPEER_KAFKA_CREATE_TOPICS=false"):
        await kit.ensure_topics(s, [kit.event_topic(s)])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        assert "topicprobe.events" not in await admin.list_topics()
    finally:
        await admin.close()
