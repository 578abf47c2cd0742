"""A topic whose partitions the group's leader assigned without seeing them is consumed again within seconds, not
after aiokafka's default metadata age of five minutes (`ConsumerSettings.metadata_max_age_ms`).

Each topic of a service is a consumer of its own in the service's group (FastStream's subscribers), so the leader
assigns the partitions of topics it does not consume, from its own client's metadata. The broker-restart fault test
found certification with nothing of `enrolment.events` assigned after the broker came back (the range assignor
logged "No partition metadata for topic ...enrolment.events") and consuming nothing of it for the rest of the run:
aiokafka's leader rejoins when a metadata refresh shows a topic's partitions changed, and without a failure the
next refresh came after five minutes. Here every subscriber's client forgets the topic's partitions (what the
leader's had lost while the broker was away) and a new member joins, so the leader assigns without them.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from reliability.consumer import IdempotentConsumer
from reliability.topics import ensure_topics

from contracts import topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, publish
from tests.kit.test_kit_consumer import consumer_for

pytestmark = pytest.mark.kafka

WITHIN_S = 40
"""A metadata refresh (10 s), a rebalance and a fetch; with aiokafka's default age the event waited five minutes."""


def forget_partitions(consumer: IdempotentConsumer, topic: str) -> None:
    for subscriber in consumer.broker.subscribers:
        cluster = subscriber.consumer._client.cluster  # type: ignore[attr-defined]
        cluster._partitions.pop(topic, None)


async def wait_for(condition, task: asyncio.Task, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            assert not task.done(), task.exception()
            await asyncio.sleep(0.2)


async def test_a_topic_assigned_without_its_metadata_is_consumed_again_within_seconds(
    kafka_bootstrap, producer, tmp_path
):
    prefix = f"kitmeta{uuid.uuid4().hex[:8]}."
    consumed = [topics.ASSESSMENT_EVENTS, topics.ENROLMENT_EVENTS]
    names = [prefix + name for topic in consumed for name in (topic, topics.dead_letter_topic(topic))]
    await ensure_topics(kafka_bootstrap, names, partitions=3)
    group = f"{prefix}group"
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    consumer = consumer_for(
        kafka_bootstrap, prefix, engine, producer, group=group, name="kit-metadata", consumed=consumed
    )
    task = asyncio.create_task(consumer.run())
    before, after = cancellation("enr-before"), cancellation("enr-after")
    newcomer = AIOKafkaConsumer(
        prefix + topics.ASSESSMENT_EVENTS,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    try:
        await publish(producer, prefix, [before])
        await wait_for(lambda: before.id in applied_counts(engine), task, 30)
        forget_partitions(consumer, prefix + topics.ENROLMENT_EVENTS)
        await newcomer.start()  # a rebalance, the leader assigning from what its client knows
        await publish(producer, prefix, [after])
        await wait_for(lambda: after.id in applied_counts(engine), task, WITHIN_S)
    finally:
        await newcomer.stop()
        consumer.stop()
        await asyncio.wait_for(task, 15)
    assert applied_counts(engine) == {before.id: 1, after.id: 1}
