"""A fetch that brings several partitions, on a real broker: applied in one transaction and committed together,
and, when that fails, partition by partition with each partition's retries and dead letters as before."""

from __future__ import annotations

import itertools

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from reliability import metrics

from contracts import CloudEvent, EnrolmentCancelled, topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, record_cancellation
from tests.kit.test_kit_consumer import consumer_for, prefix, read_all, run_until

pytestmark = pytest.mark.kafka
__all__ = ["prefix"]  # the fixture, imported for this module's tests


async def publish_to_partitions(
    producer: AIOKafkaProducer, prefix: str, events: list[CloudEvent[EnrolmentCancelled]]
) -> dict[str, int]:
    """Event id -> the partition the broker put it in (the key chooses it)."""
    partitions = {}
    for event in events:
        record = event.to_kafka()
        sent = await producer.send_and_wait(
            prefix + record.topic, key=record.key, value=record.value, headers=record.headers
        )
        partitions[event.id] = sent.partition
    return partitions


async def committed_to_the_end(bootstrap: str, topic: str, group: str) -> bool:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        ends = await reader.end_offsets(partitions)
        committed = {tp: await reader.committed(tp) or 0 for tp in partitions}
        return committed == ends
    finally:
        await reader.stop()


async def test_a_fetch_of_several_partitions_is_applied_in_one_transaction(
    kafka_bootstrap, prefix, producer, database_url
):
    engine = make_engine(database_url)
    events = [cancellation(f"enr-{n}") for n in range(12)]
    partitions = await publish_to_partitions(producer, prefix, events)  # all in before the consumer starts
    assert len(set(partitions.values())) >= 2, "twelve keys should use more than one of three partitions"
    transactions = itertools.count()
    transaction_of: dict[str, int] = {}

    def recording(session, event):
        transaction_of[event.id] = session.info.setdefault("transaction", next(transactions))
        record_cancellation(session, event)

    consumer = consumer_for(kafka_bootstrap, prefix, engine, producer, handler=recording)
    await run_until(consumer, lambda: len(applied_counts(engine)) == len(events))

    partitions_of_transaction: dict[int, set[int]] = {}
    for event_id, transaction in transaction_of.items():
        partitions_of_transaction.setdefault(transaction, set()).add(partitions[event_id])
    # The first fetch of a prefilled topic brings every partition: one transaction holds them all.
    assert max(len(parts) for parts in partitions_of_transaction.values()) == len(set(partitions.values()))
    assert applied_counts(engine) == {event.id: 1 for event in events}
    topic = prefix + topics.ENROLMENT_EVENTS
    assert await committed_to_the_end(kafka_bootstrap, topic, consumer.settings.group_id)


async def test_a_failure_in_a_fetch_of_several_partitions_is_handled_partition_by_partition(
    kafka_bootstrap, prefix, producer, tmp_path
):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    bad = cancellation("enr-bad", event_id="always-fails")
    good = [cancellation(f"enr-{n}") for n in range(12)]
    partitions = await publish_to_partitions(producer, prefix, [*good[:6], bad, *good[6:]])
    assert len(set(partitions.values())) >= 2

    def buggy(session, event):
        if event.id == "always-fails":
            raise KeyError("course-x")
        record_cancellation(session, event)

    consumer = consumer_for(kafka_bootstrap, prefix, engine, producer, handler=buggy, name=f"{prefix}fetch")
    topic = prefix + topics.ENROLMENT_EVENTS
    dead_lettered = metrics.EVENTS_CONSUMED.labels(consumer.settings.name, "dead-lettered")
    await run_until(consumer, lambda: len(applied_counts(engine)) == len(good) and dead_lettered._value.get() == 1)
    dead = await read_all(kafka_bootstrap, topics.dead_letter_topic(topic), expected=1)

    # Every other event applied once, the failing one dead-lettered alone, with the partition path's reasons.
    assert applied_counts(engine) == {event.id: 1 for event in good}
    assert [record.partition for record in dead] == [partitions["always-fails"]]
    assert dict(dead[0].headers)["dlq-reason"].decode() in (
        "handler failed alone after its batch failed 3 times: KeyError",
        "handler failed 3 times: KeyError",
    )
    assert await committed_to_the_end(kafka_bootstrap, topic, consumer.settings.group_id)
