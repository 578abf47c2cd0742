"""The idempotent consumer on a real broker: exactly-once effects, DLQ with reasons, retries with backoff."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer
from reliability.consumer import ConsumerSettings, IdempotentConsumer, RetryPolicy
from reliability.topics import ensure_topics
from sqlalchemy.exc import OperationalError

from contracts import topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, publish, record_cancellation

pytestmark = pytest.mark.kafka

FAST_RETRY = RetryPolicy(first_delay=0.05, multiplier=2.0, max_delay=0.2, max_attempts=3)


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    prefix = f"kit{uuid.uuid4().hex[:8]}."
    names = [topics.ENROLMENT_EVENTS, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(kafka_bootstrap, [prefix + name for name in names], partitions=3)
    return prefix


def consumer_for(
    bootstrap, prefix, engine, producer, handler=record_cancellation, group=None, name="kit-test", consumed=None
):
    settings = ConsumerSettings(
        name=name,
        bootstrap_servers=bootstrap,
        group_id=group or f"{prefix}group",
        topics=consumed or [topics.ENROLMENT_EVENTS],
        topic_prefix=prefix,
        retry=FAST_RETRY,
        poll_timeout_ms=100,
    )
    return IdempotentConsumer(settings, engine, {"EnrolmentCancelled": handler}, producer)


async def run_until(consumer: IdempotentConsumer, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                if task.done():
                    task.result()
                await asyncio.sleep(0.1)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 20.0):
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    records = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                batches = await reader.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(batch)
    finally:
        await reader.stop()
    return records


async def test_redelivered_and_duplicated_events_are_applied_once(kafka_bootstrap, prefix, producer, database_url):
    engine = make_engine(database_url)
    events = [cancellation(f"enr-{n}") for n in range(5)]
    duplicate = events[2]  # same source and id: a producer retry or a replay
    await publish(producer, prefix, [*events, duplicate])

    first = consumer_for(kafka_bootstrap, prefix, engine, producer)
    await run_until(first, lambda: sum(applied_counts(engine).values()) >= 5)
    await asyncio.sleep(0.5)  # give a wrongly applied duplicate the chance to show up
    assert applied_counts(engine) == {event.id: 1 for event in events}

    # A new group re-reads the topic from offset 0: everything is redelivered, nothing changes.
    replay = consumer_for(kafka_bootstrap, prefix, engine, producer, group=f"{prefix}replay")
    await run_until(replay, lambda: replay_seen(replay), timeout=30)
    assert applied_counts(engine) == {event.id: 1 for event in events}


def replay_seen(consumer: IdempotentConsumer) -> bool:
    from reliability import metrics

    skipped = metrics.EVENTS_CONSUMED.labels(consumer.settings.name, "skipped")._value.get()
    return skipped >= 6


async def test_invalid_messages_go_to_the_dead_letter_topic_with_their_reason(
    kafka_bootstrap, prefix, producer, tmp_path
):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    topic = prefix + topics.ENROLMENT_EVENTS
    valid = cancellation("enr-ok")
    naive_time = json.loads(cancellation("enr-naive").to_kafka().value)
    naive_time["data"]["cancelled_at"] = "2026-12-01T10:00:00"
    wrong_type = json.loads(cancellation("enr-type").to_kafka().value)
    wrong_type["type"] = "TuitionInvoiced"
    poison = [
        (b"enr-a", b"this is not json"),
        (b"enr-b", json.dumps({"hello": "world"}).encode()),
        (b"enr-naive", json.dumps(naive_time).encode()),
        (b"enr-type", json.dumps(wrong_type).encode()),
        (b"enr-ok", cancellation("enr-ok", reason="reject me").to_kafka().value),
        (None, cancellation("enr-keyless").to_kafka().value),
    ]
    for key, value in poison:
        await producer.send_and_wait(topic, key=key, value=value, headers=[("origin", b"test")])
    await publish(producer, prefix, [valid])

    consumer = consumer_for(kafka_bootstrap, prefix, engine, producer)
    await run_until(consumer, lambda: valid.id in applied_counts(engine))

    dead = await read_all(kafka_bootstrap, topics.dead_letter_topic(topic), expected=len(poison))
    assert sorted(record.value for record in dead) == sorted(value for _, value in poison)  # unchanged
    reasons = {record.key: dict(record.headers)["dlq-reason"].decode() for record in dead}
    assert "not JSON" in reasons[b"enr-a"]
    assert "specversion" in reasons[b"enr-b"]
    assert "data.cancelled_at" in reasons[b"enr-naive"] and "offset" in reasons[b"enr-naive"]
    assert "unknown event type 'TuitionInvoiced'" in reasons[b"enr-type"]
    assert "test rejection" in reasons[b"enr-ok"]
    assert "no key" in reasons[None]
    for record in dead:
        headers = dict(record.headers)
        assert headers["origin"] == b"test"
        assert headers["dlq-original-topic"] == topic.encode()
        assert headers["dlq-consumer"] == b"kit-test"
        assert int(headers["dlq-original-offset"]) >= 0 and int(headers["dlq-original-partition"]) in (0, 1, 2)
        assert headers["dlq-at"]
    assert applied_counts(engine) == {valid.id: 1}


async def test_transient_failures_are_retried_until_they_clear(kafka_bootstrap, prefix, producer, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    attempts: list[float] = []

    def flaky(session, event):
        attempts.append(time.monotonic())
        if len(attempts) <= 4:  # more failures than max_attempts: infrastructure errors are never dead-lettered
            raise OperationalError("SELECT 1", {}, ConnectionError("database restarting"))
        record_cancellation(session, event)

    event = cancellation("enr-flaky")
    await publish(producer, prefix, [event])
    consumer = consumer_for(kafka_bootstrap, prefix, engine, producer, handler=flaky)
    await run_until(consumer, lambda: event.id in applied_counts(engine))
    assert applied_counts(engine) == {event.id: 1}
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09, f"delays should grow: {gaps}"


async def test_a_handler_that_keeps_failing_dead_letters_only_its_own_event(
    kafka_bootstrap, prefix, producer, tmp_path
):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    bad = cancellation("enr-same", event_id="always-fails")
    good = [cancellation("enr-same") for _ in range(3)]

    def buggy(session, event):
        if event.id == "always-fails":
            raise KeyError("course-x")
        record_cancellation(session, event)

    await publish(producer, prefix, [good[0], bad, good[1], good[2]])  # one key: one partition, one batch
    consumer = consumer_for(kafka_bootstrap, prefix, engine, producer, handler=buggy)
    await run_until(consumer, lambda: len(applied_counts(engine)) == 3)

    assert applied_counts(engine) == {event.id: 1 for event in good}
    dead = await read_all(kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS), expected=1)
    assert len(dead) == 1
    reason = dict(dead[0].headers)["dlq-reason"].decode()
    # Three attempts at the batch, then one alone while isolating it (or three alone if the fetch brought it
    # alone); the type only: KeyError's message is a value of the event.
    assert reason in (
        "handler failed alone after its batch failed 3 times: KeyError",
        "handler failed 3 times: KeyError",
    )


async def test_a_rebalance_in_the_middle_of_a_batch_leaves_the_consumer_running(
    kafka_bootstrap, prefix, producer, database_url
):
    """A second replica joins while the first is still applying a batch that spans every partition.

    The first loses partitions it has fetched records of; it must carry on (it once crashed reporting lag for a
    partition it no longer owned) and, between the two, every event is applied exactly once.
    """
    engine = make_engine(database_url)
    events = [cancellation(f"enr-{n}") for n in range(30)]  # thirty keys: every one of the three partitions
    await publish(producer, prefix, events)
    second_has_partitions = threading.Event()

    def held_until_the_second_replica_has_partitions(session, event):
        second_has_partitions.wait(timeout=30)  # handlers run in a worker thread: the event loop goes on
        record_cancellation(session, event)

    first = consumer_for(
        kafka_bootstrap, prefix, engine, producer, handler=held_until_the_second_replica_has_partitions
    )
    second = consumer_for(kafka_bootstrap, prefix, engine, producer)
    first_task = asyncio.create_task(first.run())
    second_task: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(60):
            await first.ready.wait()
            while not first._consumer or len(first._consumer.assignment()) < 3:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # let the first fetch reach the held handler
            second_task = asyncio.create_task(second.run())
            await second.ready.wait()
            while not second._consumer or not second._consumer.assignment():
                await asyncio.sleep(0.05)
            lost = {tp.partition for tp in second._consumer.assignment()}
            second_has_partitions.set()
            while sum(applied_counts(engine).values()) < len(events):
                for task in (first_task, second_task):
                    if task.done():
                        task.result()  # a replica that stopped fails the test with its own error
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # the first replica reports lag after its batch: give a crash time to show
        assert not first_task.done(), first_task.exception() if first_task.done() else None
        assert lost and lost != {0, 1, 2}
        assert applied_counts(engine) == {event.id: 1 for event in events}
    finally:
        second_has_partitions.set()
        first.stop()
        second.stop()
        await asyncio.gather(
            asyncio.wait_for(first_task, 15),
            *([asyncio.wait_for(second_task, 15)] if second_task else []),
            return_exceptions=True,
        )


def test_the_catalogue_topic_is_compacted_under_any_prefix():
    from reliability.topics import topic_config

    assert topic_config("catalogue.microcredentials")["cleanup.policy"] == "compact"
    assert topic_config("t1.catalogue.microcredentials", "t1.")["cleanup.policy"] == "compact"
    assert topic_config("t1.catalogue.microcredentials.dlq", "t1.")["cleanup.policy"] == "delete"
    assert topic_config("t1.enrolment.events", "t1.")["cleanup.policy"] == "delete"


async def test_a_redelivered_invalid_record_is_not_dead_lettered_again(kafka_bootstrap, prefix, producer, tmp_path):
    # A refused offset commit (a rebalance mid-batch) redelivers records whose dead letters were already sent; a
    # second group of the same consumer reading from offset 0 is that redelivery, on the real broker.
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    topic = prefix + topics.ENROLMENT_EVENTS
    await producer.send_and_wait(topic, key=b"enr-x", value=b"not json at all")
    valid = cancellation("enr-after")
    await publish(producer, prefix, [valid])

    first = consumer_for(kafka_bootstrap, prefix, engine, producer)
    await run_until(first, lambda: valid.id in applied_counts(engine))
    assert len(await read_all(kafka_bootstrap, topics.dead_letter_topic(topic), expected=1)) == 1

    replay = consumer_for(kafka_bootstrap, prefix, engine, producer, group=f"{prefix}replay")
    await run_until(replay, lambda: replay_seen_once(replay), timeout=30)
    await asyncio.sleep(1)  # a second dead letter would be sent before the skipped valid event is counted
    dead = await read_for(kafka_bootstrap, topics.dead_letter_topic(topic), seconds=5)
    assert [record.value for record in dead] == [b"not json at all"]


async def read_for(bootstrap: str, topic: str, seconds: float) -> list:
    """Everything on `topic` within `seconds` (not a count to wait for: the test asserts there is no second)."""
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    records = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await reader.stop()
    return records


def replay_seen_once(consumer: IdempotentConsumer) -> bool:
    from reliability import metrics

    return metrics.EVENTS_CONSUMED.labels(consumer.settings.name, "skipped")._value.get() >= 1
