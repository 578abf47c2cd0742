"""What FastStream's batch subscriber gives, on a real broker: why the kit commits beneath it on aiokafka.

The kit needs each partition's batch in its own transaction and that partition's offsets committed right after
it. FastStream 0.7.8's batch subscriber hands the handler one tuple flattened over every partition of a
``getmany`` (faststream/kafka/subscriber/usecase.py:489-498), and its manual ``ack()`` commits without offsets
(faststream/kafka/message.py:70-73): every partition the consumer fetched, not the one just applied. These
tests pin both, so a FastStream that changes either is noticed (and the kit could then ack through it).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.middlewares import AckPolicy
from reliability.topics import ensure_topics

from contracts import topics
from tests.kit.kit_support import cancellation, publish

pytestmark = pytest.mark.kafka


async def test_a_batch_spans_partitions_and_ack_commits_every_partition_of_it(kafka_bootstrap, producer) -> None:
    prefix = f"fslimits{uuid.uuid4().hex[:8]}."
    topic = prefix + topics.ENROLMENT_EVENTS
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    events = [cancellation(f"enr-{n}") for n in range(30)]  # thirty keys: every partition
    await publish(producer, prefix, events)

    broker = KafkaBroker(kafka_bootstrap, apply_types=False, consumer_only=True)
    subscriber = broker.subscriber(
        topic,
        batch=True,
        group_id=f"{prefix}group",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        max_records=500,
        decoder=_the_message,
    )
    seen: list[set[int]] = []
    committed_after_ack: dict[int, int] = {}
    done = asyncio.Event()

    @subscriber
    async def handle(message: Any) -> None:
        assert isinstance(message, KafkaMessage)
        records = message.raw_message
        partitions = {record.partition for record in records}
        seen.append(partitions)
        if len(partitions) > 1 and not committed_after_ack:
            first = records[0].partition  # "apply" only the first partition's records, then ack
            await message.ack()
            consumer = subscriber.consumer
            assert consumer is not None
            for partition in partitions:
                committed_after_ack[partition] = await consumer.committed(TopicPartition(topic, partition)) or 0
            committed_after_ack[-1] = first
        if committed_after_ack:
            done.set()

    async with broker:
        await broker.start()
        async with asyncio.timeout(30):
            await done.wait()

    assert any(len(partitions) > 1 for partitions in seen), f"every batch was of one partition: {seen}"
    first = committed_after_ack.pop(-1)
    others = {partition: offset for partition, offset in committed_after_ack.items() if partition != first}
    assert others and all(offset > 0 for offset in others.values()), (
        f"ack() committed only the applied partition {first}: {committed_after_ack}"
    )


async def _the_message(message: KafkaMessage) -> KafkaMessage:
    return message
