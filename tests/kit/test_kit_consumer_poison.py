"""No input stops the consumer (issue 11), on a real broker: oversized records, a DLQ send that fails, a hook that
fails, transient database errors, a systematic bug, a batch with culprits, reasons without personal data."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from contracts.limits import DEAD_LETTER_EXCERPT_BYTES, MAX_EVENT_BYTES
from reliability.consumer import ConsumerSettings, IdempotentConsumer
from reliability.tables import ParkedRecord
from reliability.topics import ensure_topics
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, select

from contracts import topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, publish, record_cancellation
from tests.kit.test_kit_consumer import FAST_RETRY, read_all, run_until

pytestmark = pytest.mark.kafka


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    prefix = f"kitp{uuid.uuid4().hex[:8]}."
    names = [topics.ENROLMENT_EVENTS, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(kafka_bootstrap, [prefix + name for name in names], partitions=3)
    return prefix


def consumer_of(bootstrap, prefix, engine, producer, handler=record_cancellation, **settings):
    base = ConsumerSettings(
        name="kit-poison",
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}group",
        topics=[topics.ENROLMENT_EVENTS],
        topic_prefix=prefix,
        retry=FAST_RETRY,
        poll_timeout_ms=100,
    )
    after_commit = settings.pop("after_commit", None)
    return IdempotentConsumer(
        replace(base, **settings), engine, {"EnrolmentCancelled": handler}, producer, after_commit=after_commit
    )


async def dead_letter_count(bootstrap: str, topic: str) -> int:
    """How many records the topic holds (its partitions' end offsets)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]  # the prefix fixture's partitions
        reader.assign(partitions)
        return sum((await reader.end_offsets(partitions)).values())
    finally:
        await reader.stop()


class RefusingDeadLetters:
    """The kit's producer, except that every send to a dead-letter topic fails (a broker refusing the DLQ)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.refused = 0

    async def send_and_wait(self, topic: str, **kwargs):
        if topic.endswith(topics.DLQ_SUFFIX):
            self.refused += 1
            raise KafkaConnectionError("dead-letter topic unreachable (test)")
        return await self.producer.send_and_wait(topic, **kwargs)


async def test_an_oversized_record_goes_to_the_dlq_as_a_bounded_envelope_and_the_next_event_is_applied(
    kafka_bootstrap, prefix, producer, tmp_path
):
    """Today: the copy with dlq-* headers is over the producer's limit, MessageSizeTooLargeError stops the consumer."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    topic = prefix + topics.ENROLMENT_EVENTS
    # Not JSON. The record fits the producer's request limit (1,048,576) and the broker's; its copy with the dlq-*
    # headers added (~250 bytes) would not.
    oversized = os.urandom(1_048_400)
    await producer.send_and_wait(topic, key=b"enr-big", value=oversized, headers=[("origin", b"test")])
    after = cancellation("enr-big")  # same key: same partition, after the oversized record
    await publish(producer, prefix, [after])

    consumer = consumer_of(kafka_bootstrap, prefix, engine, producer)
    await run_until(consumer, lambda: after.id in applied_counts(engine))

    (letter,) = await read_all(kafka_bootstrap, topics.dead_letter_topic(topic), expected=1)
    headers = dict(letter.headers)
    assert len(letter.value) == DEAD_LETTER_EXCERPT_BYTES and letter.value == oversized[:DEAD_LETTER_EXCERPT_BYTES]
    assert headers[topics.DLQ_VALUE_SHA256].decode() == hashlib.sha256(oversized).hexdigest()
    assert headers[topics.DLQ_VALUE_BYTES] == b"1048400"
    assert headers[topics.DLQ_TRUNCATED] == b"value"
    assert headers["origin"] == b"test" and letter.key == b"enr-big"
    reason = headers[topics.DLQ_REASON].decode()
    assert "1048400 bytes" in reason and str(MAX_EVENT_BYTES) in reason
    assert headers[topics.DLQ_ORIGINAL_OFFSET] == b"0"
    assert applied_counts(engine) == {after.id: 1}


async def test_a_dead_letter_that_cannot_be_sent_is_parked_and_the_partition_moves_on(
    kafka_bootstrap, prefix, producer, tmp_path
):
    """Today: the failing send stops the consumer; nothing after the poison is applied, nothing committed."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    topic = prefix + topics.ENROLMENT_EVENTS
    await producer.send_and_wait(topic, key=b"enr-p", value=b"not json", headers=[("origin", b"\xffbinary")])
    after = cancellation("enr-p")
    await publish(producer, prefix, [after])
    refusing = RefusingDeadLetters(producer)

    consumer = consumer_of(kafka_bootstrap, prefix, engine, refusing)
    committed: dict[str, int | None] = {}

    async def watch() -> None:
        while after.id not in applied_counts(engine):
            await asyncio.sleep(0.1)
        kafka = consumer._consumer
        assert kafka is not None
        partition = next(tp for tp in kafka.assignment() if kafka.highwater(tp) == 2)
        for _ in range(50):
            committed["offset"] = await kafka.committed(partition)
            if committed["offset"] == 2:
                break
            await asyncio.sleep(0.1)
        committed["health"] = await consumer.health()  # type: ignore[assignment]

    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(watch(), 30)
        assert not task.done()
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)

    assert refusing.refused == FAST_RETRY.max_attempts  # retried with backoff, then parked
    assert committed["offset"] == 2  # the poison's offset and the event after it: the partition moved on
    assert committed["health"] == "degraded: 1 consumed records parked, see mc-ops parked"
    with Session(engine) as session:
        (parked,) = session.exec(select(ParkedRecord)).all()
    assert (parked.topic, parked.offset, parked.key, parked.value) == (topic, 0, b"enr-p", b"not json")
    assert parked.headers == [["origin", "\xffbinary"]] and parked.released_at is None
    assert "not JSON" in parked.reason and "DLQ send failed" in parked.reason
    assert applied_counts(engine) == {after.id: 1}


async def test_an_after_commit_hook_that_fails_does_not_stop_the_consumer(kafka_bootstrap, prefix, producer, tmp_path):
    """Today: the hook's exception stops the consumer after the first batch."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    calls: list[int] = []

    def broken_hook() -> None:
        calls.append(1)
        raise RuntimeError("relay notification failed (test)")

    first, second = cancellation("enr-h1"), cancellation("enr-h2")
    await publish(producer, prefix, [first])
    consumer = consumer_of(kafka_bootstrap, prefix, engine, producer, after_commit=broken_hook)
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(30):
            while first.id not in applied_counts(engine) or not calls:
                await asyncio.sleep(0.1)
            await publish(producer, prefix, [second])
            while second.id not in applied_counts(engine):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)
    assert applied_counts(engine) == {first.id: 1, second.id: 1}


async def test_a_pool_timeout_is_retried_until_it_clears_and_never_dead_lettered(
    kafka_bootstrap, prefix, producer, tmp_path
):
    """Today: sqlalchemy's TimeoutError is not the builtin one; after max_attempts the valid event is dead-lettered."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    attempts: list[int] = []

    def starved(session, event):
        attempts.append(1)
        if len(attempts) <= 2 * FAST_RETRY.max_attempts:
            raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out")
        record_cancellation(session, event)

    event = cancellation("enr-pool")
    await publish(producer, prefix, [event])
    consumer = consumer_of(kafka_bootstrap, prefix, engine, producer, handler=starved)
    await run_until(consumer, lambda: event.id in applied_counts(engine))
    assert applied_counts(engine) == {event.id: 1}
    assert len(attempts) == 2 * FAST_RETRY.max_attempts + 1
    assert await dead_letter_count(kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS)) == 0


async def test_the_same_error_on_consecutive_events_pauses_the_partition_instead_of_dead_lettering_it(
    kafka_bootstrap, prefix, producer, tmp_path, caplog
):
    """A bug after a deploy: every event fails the same way. Today: the whole backlog is dead-lettered."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    backlog = [cancellation("enr-bug") for _ in range(8)]  # one key: one partition
    await publish(producer, prefix, backlog)

    def deployed_bug(session, event):
        raise AttributeError("'NoneType' object has no attribute 'given_name' (ada.lovelace@example.org)")

    consumer = consumer_of(kafka_bootstrap, prefix, engine, producer, handler=deployed_bug, pause_after=5)
    caplog.set_level(logging.WARNING)
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(30):
            while not consumer.paused:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
        kafka = consumer._consumer
        assert kafka is not None
        (paused,) = consumer.paused
        assert kafka.paused() == {paused}
        assert await kafka.committed(paused) is None  # nothing committed: a restart reads the backlog again
        health = await consumer.health()
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)

    assert health is not None and "AttributeError" in health and "given_name" not in health
    assert not health.startswith("degraded")
    assert await dead_letter_count(kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS)) == 0
    assert any("partition paused" in record.getMessage() for record in caplog.records)
    # The operator deploys the fix and restarts: the same group applies the whole backlog.
    fixed = consumer_of(kafka_bootstrap, prefix, engine, producer)
    await run_until(fixed, lambda: len(applied_counts(engine)) == len(backlog))
    assert applied_counts(engine) == {event.id: 1 for event in backlog}


async def test_isolating_a_batch_gives_each_record_one_attempt_and_commits_it_all(
    kafka_bootstrap, prefix, producer, tmp_path
):
    """Today each culprit runs the whole retry schedule again alone (~1.5 s each with the default policy), which
    can outlast max.poll.interval.ms; now: max_attempts for the batch, then one attempt per record."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    events = [cancellation("enr-iso") for _ in range(60)]  # one key: one partition, one batch
    culprits = {events[n].id: (KeyError, ValueError)[k % 2] for k, n in enumerate(range(5, 60, 10))}
    attempts: Counter[str] = Counter()

    def buggy(session, event):
        attempts[event.id] += 1
        if event.id in culprits:
            raise culprits[event.id]("a value of the event")
        record_cancellation(session, event)

    await publish(producer, prefix, events)
    consumer = consumer_of(kafka_bootstrap, prefix, engine, producer, handler=buggy)
    committed: list[int | None] = []

    def done() -> bool:
        return len(applied_counts(engine)) == len(events) - len(culprits)

    await run_until(consumer, done)
    dead = await read_all(kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS), len(culprits))
    checker = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=f"{prefix}group")
    await checker.start()
    try:
        partition = TopicPartition(prefix + topics.ENROLMENT_EVENTS, dead[0].partition)
        committed.append(await checker.committed(partition))
    finally:
        await checker.stop()

    # The batch failed max_attempts times at its first culprit (5 events before it), then every record once alone.
    first, *later = culprits
    assert attempts[first] == FAST_RETRY.max_attempts + 1 and {attempts[event_id] for event_id in later} == {1}
    assert sum(attempts.values()) == FAST_RETRY.max_attempts * 6 + len(events)
    assert committed == [len(events)]
    assert sorted(dict(letter.headers)["dlq-reason"].decode() for letter in dead) == sorted(
        f"handler failed alone after its batch failed {FAST_RETRY.max_attempts} times: {error.__name__}"
        for error in culprits.values()
    )
    assert not consumer.paused


async def test_isolation_that_outlasts_its_budget_redelivers_the_rest_without_duplicates(
    kafka_bootstrap, prefix, producer, tmp_path, caplog
):
    """A slow handler and a culprit first: isolation stops at its budget (a third of max.poll.interval.ms), the
    records not reached come in the next fetch, nothing is applied or dead-lettered twice."""
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    culprit, *rest = [cancellation("enr-slow") for _ in range(8)]

    def slow(session, event):
        if event.id == culprit.id:
            raise LookupError("a value of the event")
        time.sleep(0.5)  # in the worker thread: the event loop (and the group's heartbeat) goes on
        record_cancellation(session, event)

    await publish(producer, prefix, [culprit, *rest])
    consumer = consumer_of(
        kafka_bootstrap, prefix, engine, producer, handler=slow, max_poll_interval_ms=6000, session_timeout_ms=6000
    )
    caplog.set_level(logging.WARNING)
    await run_until(consumer, lambda: len(applied_counts(engine)) == len(rest), timeout=60)
    await asyncio.sleep(1.0)  # give a duplicate the chance to show
    dlq = topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS)
    assert await dead_letter_count(kafka_bootstrap, dlq) == 1
    assert applied_counts(engine) == {event.id: 1 for event in rest}
    assert any("ran out of time" in record.getMessage() for record in caplog.records)


async def test_dead_letter_reasons_and_logs_carry_no_personal_data(
    kafka_bootstrap, prefix, producer, database_url, caplog
):
    """A unique e-mail violated: SQLAlchemy's message carries the parameters, PostgreSQL's DETAIL the row."""
    engine = make_engine(database_url)
    learners = Table("kit_test_learner", MetaData(), Column("email", String(200), unique=True))
    learners.metadata.create_all(engine)
    email = "ada.lovelace@example.org"

    def enrol_learner(session, event):
        session.execute(insert(learners), {"email": email})  # the second event violates the unique e-mail
        record_cancellation(session, event)

    first, second = cancellation("enr-pii"), cancellation("enr-pii")
    await publish(producer, prefix, [first, second])
    caplog.set_level(logging.DEBUG)
    consumer = consumer_of(kafka_bootstrap, prefix, engine, producer, handler=enrol_learner)
    await run_until(consumer, lambda: first.id in applied_counts(engine))
    (letter,) = await read_all(kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS), 1)

    reason = dict(letter.headers)["dlq-reason"].decode()
    assert reason.startswith("handler failed") and "IntegrityError" in reason
    assert email not in reason and "lovelace" not in reason
    logged = [str(value) for record in caplog.records for value in record.__dict__.values()]
    assert not [line for line in logged if "lovelace" in line]
