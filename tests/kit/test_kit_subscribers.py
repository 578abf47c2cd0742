"""The kit's subscriber path, the same behaviour cases on FastStream's in-memory broker and on a real one.

As in FastStream's own test suite (tests/brokers/base/consume.py, run in memory and `connected`), each case is
written once against a small harness and runs twice: ``memory`` drives the consumer's FastStream subscriber
through `faststream.kafka.TestKafkaBroker` (milliseconds, no broker); ``kafka`` runs the same consumer against the
session's real Kafka (`kafka_bootstrap`).

What the in-memory broker cannot show, and only the ``kafka`` runs and tests/kit/test_kit_consumer.py,
test_kit_crash_recovery.py do: offsets (TestKafkaBroker hands the subscriber records with offset 0 and no
consumer, so the kit commits nothing there), partitions and the per-partition split of a fetch (every record
is on partition 0), consumer groups, rebalances and revoked partitions, lag, and a crash between the database
commit and the offset commit. Its records also carry FastStream's own headers (content-type, correlation_id)
and str-only header values; the real broker carries bytes as they were sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream.kafka import KafkaResponse, TestKafkaBroker
from reliability.consumer import ConsumerSettings, Handler, IdempotentConsumer, RetryPolicy
from reliability.producer import create_producer
from reliability.topics import ensure_topics
from sqlalchemy.engine import Engine

from contracts import CloudEvent, EnrolmentCancelled, topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, record_cancellation

FAST_RETRY = RetryPolicy(first_delay=0.01, multiplier=2.0, max_delay=0.05, max_attempts=3)

Message = tuple[bytes | None, bytes, dict[str, str]]  # key, value, headers


@dataclass
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


@dataclass
class RecordingProducer:
    """Stands in for the kit's producer in memory: keeps what the consumer dead-letters."""

    sent: list[DeadLetter] = field(default_factory=list)

    async def send_and_wait(self, topic: str, key: bytes | None, value: bytes, headers: Sequence[Any]) -> None:
        assert topic.endswith(".dlq")
        self.sent.append(DeadLetter(key, value, dict(headers)))


class Harness:
    """One way to deliver messages to the kit's subscriber and see what it did."""

    prefix: str
    engine: Engine

    def consumer(self, handler: Handler = record_cancellation) -> IdempotentConsumer:
        raise NotImplementedError

    async def deliver(self, consumer: IdempotentConsumer, batch: list[Message], until: Callable[[], bool]) -> None:
        """Deliver `batch` (one key: one partition, one batch where the broker allows) and wait for `until`."""
        raise NotImplementedError

    async def dead_letters(self, expected: int) -> list[DeadLetter]:
        raise NotImplementedError

    def settings(self, bootstrap: str) -> ConsumerSettings:
        return ConsumerSettings(
            name="kit-subscribers",
            bootstrap_servers=bootstrap,
            group_id=f"{self.prefix}group-{uuid.uuid4().hex[:6]}",
            topics=[topics.ENROLMENT_EVENTS],
            topic_prefix=self.prefix,
            retry=FAST_RETRY,
            poll_timeout_ms=100,
        )


class InMemory(Harness):
    def __init__(self, engine: Engine) -> None:
        self.prefix = "mem."
        self.engine = engine
        self.producer = RecordingProducer()

    def consumer(self, handler: Handler = record_cancellation) -> IdempotentConsumer:
        return IdempotentConsumer(
            self.settings("memory:9092"),
            self.engine,
            {"EnrolmentCancelled": handler},
            self.producer,  # type: ignore[arg-type]
        )

    async def deliver(self, consumer: IdempotentConsumer, batch: list[Message], until: Callable[[], bool]) -> None:
        topic = self.prefix + topics.ENROLMENT_EVENTS
        async with TestKafkaBroker(consumer.broker) as broker:
            keys = {key for key, _, _ in batch}
            if len(keys) == 1 and len(batch) > 1:  # one partition: one batch, as a real fetch would give it
                await broker.publish_batch(
                    *(KafkaResponse(value, key=key, headers=headers) for key, value, headers in batch), topic=topic
                )
            else:
                for key, value, headers in batch:
                    await broker.publish(value, topic, key=key, headers=headers)
        assert until()

    async def dead_letters(self, expected: int) -> list[DeadLetter]:
        assert len(self.producer.sent) == expected
        return self.producer.sent


class RealKafka(Harness):
    def __init__(self, engine: Engine, bootstrap: str, producer: Any) -> None:
        self.prefix = f"sub{uuid.uuid4().hex[:8]}."
        self.engine = engine
        self.bootstrap = bootstrap
        self.producer = producer

    def consumer(self, handler: Handler = record_cancellation) -> IdempotentConsumer:
        return IdempotentConsumer(
            self.settings(self.bootstrap), self.engine, {"EnrolmentCancelled": handler}, self.producer
        )

    async def deliver(self, consumer: IdempotentConsumer, batch: list[Message], until: Callable[[], bool]) -> None:
        topic = self.prefix + topics.ENROLMENT_EVENTS
        for key, value, headers in batch:
            encoded = [(name, text.encode()) for name, text in headers.items()]
            await self.producer.send_and_wait(topic, key=key, value=value, headers=encoded)
        task = asyncio.create_task(consumer.run())
        try:
            async with asyncio.timeout(30):
                while not until():
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.05)
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 15)

    async def dead_letters(self, expected: int) -> list[DeadLetter]:
        from tests.kit.test_kit_consumer import read_all

        topic = topics.dead_letter_topic(self.prefix + topics.ENROLMENT_EVENTS)
        records = await read_all(self.bootstrap, topic, expected=expected)
        await asyncio.sleep(0.3)
        assert len(records) == expected
        return [DeadLetter(record.key, record.value, dict(record.headers)) for record in records]


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def harness(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Harness]:
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    if request.param == "memory":
        yield InMemory(engine)
        return
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    producer = create_producer(bootstrap, "kit-subscribers-test")
    await producer.start()
    real = RealKafka(engine, bootstrap, producer)
    names = [topics.ENROLMENT_EVENTS, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(bootstrap, [real.prefix + name for name in names], partitions=3)
    try:
        yield real
    finally:
        await producer.stop()


def message(event: CloudEvent[EnrolmentCancelled]) -> Message:
    record = event.to_kafka()
    return record.key, record.value, {"origin": "test"}


async def test_every_event_is_applied_once(harness: Harness) -> None:
    events = [cancellation("enr-once", event_id=f"once-{n}") for n in range(4)]
    consumer = harness.consumer()
    await harness.deliver(consumer, [message(e) for e in events], lambda: len(applied_counts(harness.engine)) == 4)
    assert applied_counts(harness.engine) == {event.id: 1 for event in events}


async def test_a_redelivered_event_changes_nothing(harness: Harness) -> None:
    event = cancellation("enr-again")
    first = harness.consumer()
    await harness.deliver(first, [message(event)], lambda: event.id in applied_counts(harness.engine))
    again = harness.consumer()  # a new group: the broker hands it everything again
    later = cancellation("enr-again")
    await harness.deliver(again, [message(event), message(later)], lambda: later.id in applied_counts(harness.engine))
    assert applied_counts(harness.engine) == {event.id: 1, later.id: 1}


async def test_an_invalid_message_is_dead_lettered_unchanged_with_its_reason(harness: Harness) -> None:
    valid = cancellation("enr-valid")
    naive = json.loads(cancellation("enr-naive").to_kafka().value)
    naive["data"]["cancelled_at"] = "2026-12-01T10:00:00"
    poison = [(b"enr-json", b"this is not json", {"origin": "test"}), (b"enr-naive", json.dumps(naive).encode(), {})]
    consumer = harness.consumer()
    await harness.deliver(consumer, [*poison, message(valid)], lambda: valid.id in applied_counts(harness.engine))

    dead = {letter.key: letter for letter in await harness.dead_letters(expected=2)}
    assert dead[b"enr-json"].value == b"this is not json"
    assert dead[b"enr-json"].headers["origin"] == b"test"
    assert "not JSON" in dead[b"enr-json"].headers[topics.DLQ_REASON].decode()
    assert "data.cancelled_at" in dead[b"enr-naive"].headers[topics.DLQ_REASON].decode()
    for letter in dead.values():
        assert letter.headers[topics.DLQ_ORIGINAL_TOPIC] == (harness.prefix + topics.ENROLMENT_EVENTS).encode()
        assert letter.headers[topics.DLQ_CONSUMER] == b"kit-subscribers"
        assert int(letter.headers[topics.DLQ_ORIGINAL_OFFSET]) >= 0
        assert letter.headers[topics.DLQ_AT]
    assert applied_counts(harness.engine) == {valid.id: 1}


async def test_a_rejected_event_dead_letters_only_itself(harness: Harness) -> None:
    good = [cancellation("enr-same") for _ in range(3)]
    rejected = cancellation("enr-same", reason="reject me")
    batch = [message(good[0]), message(rejected), message(good[1]), message(good[2])]  # one key: one batch
    consumer = harness.consumer()
    await harness.deliver(consumer, batch, lambda: len(applied_counts(harness.engine)) == 3)

    (dead,) = await harness.dead_letters(expected=1)
    assert dead.value == rejected.to_kafka().value
    assert "test rejection" in dead.headers[topics.DLQ_REASON].decode()
    assert applied_counts(harness.engine) == {event.id: 1 for event in good}
