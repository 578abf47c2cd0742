"""A broker that cannot be reached while the consumer starts its subscribers is waited for, not fatal: the fault
suite saw certification die when the broker restarted between two of its subscribers' starts (`Unable to bootstrap`
out of `broker.start()`). Here the bootstrap address is a gate on the real broker, closed first, then opened."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from reliability.topics import ensure_topics
from stack.processes import free_port

from contracts import topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, publish
from tests.kit.test_kit_consumer import consumer_for

pytestmark = pytest.mark.kafka


@pytest.fixture
async def kit_topics(kafka_bootstrap: str) -> str:
    """A fresh topic prefix with the consumer's topic and its dead-letter topic."""
    prefix = f"kitstart{uuid.uuid4().hex[:8]}."
    names = [topics.ENROLMENT_EVENTS, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(kafka_bootstrap, [prefix + name for name in names], partitions=3)
    return prefix


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def open_gate(port: int, broker: str) -> asyncio.Server:
    """Listen on `port` and forward every connection to `broker` (only the bootstrap goes through it: the broker
    advertises its own address for everything after)."""
    host, broker_port = broker.rsplit(":", 1)

    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(host, int(broker_port))
        await asyncio.gather(_pipe(client_reader, broker_writer), _pipe(broker_reader, client_writer))

    return await asyncio.start_server(forward, "127.0.0.1", port)


async def test_a_consumer_started_while_kafka_is_unreachable_waits_and_then_consumes(
    kafka_bootstrap, kit_topics, producer, tmp_path
):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    event = cancellation("enr-late-broker")
    await publish(producer, kit_topics, [event])
    gate = free_port()
    consumer = consumer_for(f"127.0.0.1:{gate}", kit_topics, engine, producer)
    task = asyncio.create_task(consumer.run())
    server = None
    try:
        await asyncio.sleep(3)  # several refused bootstraps
        assert not task.done(), f"the consumer stopped while Kafka was unreachable: {task.exception()!r}"
        assert not consumer.ready.is_set()
        server = await open_gate(gate, kafka_bootstrap)
        async with asyncio.timeout(60):
            while event.id not in applied_counts(engine):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.2)
        assert consumer.ready.is_set()
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)
        if server is not None:
            server.close()
    assert applied_counts(engine) == {event.id: 1}


async def test_a_consumer_stopped_before_kafka_is_reachable_returns_cleanly(kit_topics, producer, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    consumer = consumer_for(f"127.0.0.1:{free_port()}", kit_topics, engine, producer)
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(1.5)
    consumer.stop()
    await asyncio.wait_for(task, 15)  # no exception: it was never started, so there is nothing to report
    assert not consumer.ready.is_set()
