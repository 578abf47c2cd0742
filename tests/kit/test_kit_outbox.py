"""The transactional outbox and its relay on a real broker, with one and with two relays running."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer
from reliability.outbox import OutboxRelay, RelaySettings, count_unpublished
from reliability.producer import create_producer
from reliability.topics import ensure_topics

from contracts import decode_event, topics
from tests.kit.kit_support import cancellation, make_engine, queue_in_outbox

pytestmark = pytest.mark.kafka


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> str:
    prefix = f"outbox{uuid.uuid4().hex[:8]}."
    await ensure_topics(kafka_bootstrap, [prefix + topics.ENROLMENT_EVENTS], partitions=3)
    return prefix


async def consume_ids(bootstrap: str, topic: str, expected: int, settle: float = 1.0) -> list[tuple[str, str]]:
    """(key, event id) in the order each partition holds them; waits `settle` more to catch extra records."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    seen: list[tuple[str, str]] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for batch in (await reader.getmany(timeout_ms=200)).values():
                    seen += [(r.key.decode(), decode_event(r.value).id) for r in batch]
        for batch in (await reader.getmany(timeout_ms=int(settle * 1000))).values():
            seen += [(r.key.decode(), decode_event(r.value).id) for r in batch]
    finally:
        await reader.stop()
    return seen


async def run_relays(relays: list[OutboxRelay], engine, until_empty: bool = True) -> None:
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        async with asyncio.timeout(30):
            while count_unpublished(engine) > 0:
                await asyncio.sleep(0.05)
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)


async def test_rolled_back_changes_publish_nothing_and_committed_ones_publish_in_order(
    kafka_bootstrap, topic_prefix, database_url
):
    engine = make_engine(database_url)
    rolled_back = [cancellation("enr-rollback")]
    with pytest.raises(RuntimeError):
        queue_in_outbox(engine, rolled_back, fail=True)
    committed = [cancellation(f"enr-{n % 4}") for n in range(40)]
    for chunk in range(0, 40, 10):
        queue_in_outbox(engine, committed[chunk : chunk + 10])

    producer = create_producer(kafka_bootstrap, "outbox-test")
    await producer.start()
    try:
        await run_relays(
            [OutboxRelay(engine, producer, "outbox-test", RelaySettings(topic_prefix=topic_prefix))], engine
        )
    finally:
        await producer.stop()

    seen = await consume_ids(kafka_bootstrap, topic_prefix + topics.ENROLMENT_EVENTS, expected=40)
    assert sorted(event_id for _, event_id in seen) == sorted(event.id for event in committed)
    assert rolled_back[0].id not in {event_id for _, event_id in seen}
    for key in {event.subject for event in committed}:
        assert [i for k, i in seen if k == key] == [e.id for e in committed if e.subject == key]


async def test_two_relays_on_one_database_publish_everything_in_key_order(kafka_bootstrap, topic_prefix, database_url):
    engine = make_engine(database_url)
    events = [cancellation(f"enr-{n % 5}") for n in range(100)]
    producers = [create_producer(kafka_bootstrap, f"relay-{n}") for n in range(2)]
    for producer in producers:
        await producer.start()
    relays = [
        OutboxRelay(engine, producer, "outbox-test", RelaySettings(topic_prefix=topic_prefix, batch_size=7))
        for producer in producers
    ]
    try:
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        for chunk in range(0, 100, 10):  # the state changes keep coming while both relays run
            queue_in_outbox(engine, events[chunk : chunk + 10])
            await asyncio.sleep(0.02)
        async with asyncio.timeout(30):
            while count_unpublished(engine) > 0:
                await asyncio.sleep(0.05)
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
    finally:
        for producer in producers:
            await producer.stop()

    seen = await consume_ids(kafka_bootstrap, topic_prefix + topics.ENROLMENT_EVENTS, expected=100)
    # The lease lets one relay publish at a time: no event twice, and each key's events in written order.
    assert len(seen) == 100
    by_key: dict[str, list[str]] = defaultdict(list)
    for key, event_id in seen:
        by_key[key].append(event_id)
    for key, ids in by_key.items():
        assert ids == [e.id for e in events if e.subject == key]


async def test_a_relay_that_dies_before_marking_rows_loses_nothing(kafka_bootstrap, topic_prefix, database_url):
    engine = make_engine(database_url)
    events = [cancellation(f"enr-{n}") for n in range(10)]
    queue_in_outbox(engine, events)
    producer = create_producer(kafka_bootstrap, "outbox-test")
    await producer.start()
    try:
        dying = OutboxRelay(engine, producer, "outbox-test", RelaySettings(topic_prefix=topic_prefix))

        def crash(_ids: list[int]) -> None:
            raise ConnectionError("process killed after the broker acknowledged, before the database commit")

        dying._mark_published = crash  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await dying.publish_pending()
        assert count_unpublished(engine) == 10

        await run_relays(
            [OutboxRelay(engine, producer, "outbox-test", RelaySettings(topic_prefix=topic_prefix))], engine
        )
    finally:
        await producer.stop()
    seen = await consume_ids(kafka_bootstrap, topic_prefix + topics.ENROLMENT_EVENTS, expected=20)
    # At-least-once: every event arrived, the unmarked ones twice; idempotent consumers absorb the repeat.
    assert sorted({event_id for _, event_id in seen}) == sorted(event.id for event in events)
    assert len(seen) == 20


class FlakyProducer:
    """A producer whose broker is away for the first sends, then back."""

    def __init__(self, producer, failures: int) -> None:
        self._producer = producer
        self.failures_left = failures

    async def send(self, *args, **kwargs):
        if self.failures_left:
            self.failures_left -= 1
            from aiokafka.errors import KafkaConnectionError

            raise KafkaConnectionError("broker unreachable")
        return await self._producer.send(*args, **kwargs)


async def test_the_relay_outlives_a_broker_outage_and_publishes_afterwards(kafka_bootstrap, topic_prefix, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    events = [cancellation(f"enr-{n}") for n in range(5)]
    queue_in_outbox(engine, events)
    producer = create_producer(kafka_bootstrap, "outbox-test")
    await producer.start()
    flaky = FlakyProducer(producer, failures=3)
    try:
        relay = OutboxRelay(engine, flaky, "outbox-test", RelaySettings(topic_prefix=topic_prefix))  # type: ignore[arg-type]
        await run_relays([relay], engine)
    finally:
        await producer.stop()
    assert flaky.failures_left == 0
    seen = await consume_ids(kafka_bootstrap, topic_prefix + topics.ENROLMENT_EVENTS, expected=5)
    assert sorted(event_id for _, event_id in seen) == sorted(event.id for event in events)
