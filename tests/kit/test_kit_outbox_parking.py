"""A row the broker refuses for good is parked with the later rows of its key; every other key keeps flowing."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from contracts.limits import BROKER_MAX_MESSAGE_BYTES
from prometheus_client import REGISTRY
from reliability import outbox_parking
from reliability.http import service_app
from reliability.outbox import OutboxRelay, RelaySettings, count_unpublished
from reliability.producer import create_producer
from reliability.runtime import ServiceRuntime
from reliability.settings import ServiceSettings
from reliability.tables import OutboxMessage
from sqlalchemy import insert, select, update
from sqlmodel import Session

from contracts import topics
from tests.kit.kit_support import cancellation, make_engine

pytestmark = pytest.mark.kafka


def insert_rows(engine, rows: list[tuple[str, str, bytes]]) -> list[int]:
    """(topic, key, value) rows straight into the table, past the insert-time size check; their ids in order."""
    ids = []
    with Session(engine) as session, session.begin():
        for topic, key, value in rows:
            statement = insert(OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)  # type: ignore[attr-defined]
            values = {"event_id": str(uuid.uuid4()), "topic": topic, "key": key.encode(), "value": value}
            ids.append(
                session.execute(statement, {**values, "headers": [], "created_at": datetime.now(UTC)}).scalar_one()
            )
    return ids


def valid(key: str) -> bytes:
    return cancellation(key).to_kafka().value


def state(engine, row_id: int) -> tuple[bool, str | None]:
    with Session(engine) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row.published_at is not None, row.parked_reason


async def read_values(bootstrap: str, topic: str, expected: int) -> dict[str, list[bytes]]:
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    by_key: dict[str, list[bytes]] = defaultdict(list)
    seen = 0
    try:
        async with asyncio.timeout(30):
            while seen < expected:
                for batch in (await reader.getmany(timeout_ms=200)).values():
                    for record in batch:
                        by_key[record.key.decode()].append(record.value)
                        seen += 1
        for batch in (await reader.getmany(timeout_ms=1000)).values():  # nothing more may come
            for record in batch:
                by_key[record.key.decode()].append(record.value)
    finally:
        await reader.stop()
    return by_key


async def drain(relay: OutboxRelay, engine) -> None:
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(30):
            while count_unpublished(engine) > 0:
                await asyncio.sleep(0.05)
    finally:
        relay.stop()
        await task


def metric(name: str, service: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service, **labels}) or 0.0


def scenario(topic: str, bad_value: bytes) -> list[tuple[str, str, bytes]]:
    """Four keys interleaved; the third row of `enr-b` is `bad_value`, two more rows of `enr-b` follow it."""
    rows = []
    for round_ in range(5):
        for key in ("enr-a", "enr-b", "enr-c", "enr-d"):
            rows.append((topic, key, bad_value if (key, round_) == ("enr-b", 2) else valid(key)))
    return rows


async def test_a_row_over_the_broker_limit_is_parked_with_its_key_and_every_other_key_flows(
    kafka_bootstrap, database_url
):
    prefix = f"park{uuid.uuid4().hex[:8]}."
    await ensure_topic(kafka_bootstrap, prefix + topics.ENROLMENT_EVENTS)
    engine = make_engine(database_url)
    service = f"park-{uuid.uuid4().hex[:6]}"
    rows = scenario(topics.ENROLMENT_EVENTS, b"x" * (BROKER_MAX_MESSAGE_BYTES + 1000))
    ids = insert_rows(engine, rows)
    bad = ids[9]
    producer = create_producer(kafka_bootstrap, "parking-test")
    await producer.start()
    try:
        await drain(OutboxRelay(engine, producer, service, RelaySettings(topic_prefix=prefix, batch_size=7)), engine)
        # A row of the parked key written after the parking waits too, whatever batch it comes in.
        (late,) = insert_rows(engine, [(topics.ENROLMENT_EVENTS, "enr-b", valid("enr-b"))])
        await drain(OutboxRelay(engine, producer, service, RelaySettings(topic_prefix=prefix)), engine)
        await assert_degraded_health(engine, producer, service, parked=4)
    finally:
        await producer.stop()

    published = await read_values(kafka_bootstrap, prefix + topics.ENROLMENT_EVENTS, expected=17)
    for key in ("enr-a", "enr-c", "enr-d"):
        assert published[key] == [value for _, k, value in rows if k == key]  # all of them, in written order
    assert published["enr-b"] == [rows[1][2], rows[5][2]]  # the two before the refused row, nothing after it
    assert state(engine, bad)[1].startswith("refused by the broker for good: MessageSizeTooLargeError")
    for waiting in (ids[13], ids[17], late):
        assert state(engine, waiting) == (False, f"waiting behind parked row {bad}")
    assert outbox_parking.count_parked(engine) == 4
    assert metric("outbox_parked_rows", service) == 4
    assert metric("outbox_rows_refused_total", service, error="MessageSizeTooLargeError") == 1


async def assert_degraded_health(engine, producer: AIOKafkaProducer, service: str, parked: int) -> None:
    runtime = ServiceRuntime(service=service, settings=ServiceSettings(), engine=engine)
    runtime.producer = producer
    runtime.relay = OutboxRelay(engine, producer, service)
    app = service_app(service, "health with parked rows", engine, runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/health")
    assert response.status_code == 200  # degraded but working: not taken out of service
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["outbox"].startswith(f"degraded: {parked} outbox row(s) parked")
    assert body["checks"]["kafka"] == "ok"


async def ensure_topic(bootstrap: str, name: str, configs: dict[str, str] | None = None, partitions: int = 3) -> None:
    from localkafka import ensure_topics

    await ensure_topics(bootstrap, [name], partitions, topic_configs={name: configs or {}})


async def test_a_batch_the_broker_refuses_is_parked_and_the_renewed_producer_sends_the_rest(
    kafka_bootstrap, database_url
):
    # A topic configured smaller than the platform's limit: the row passes the producer and the broker refuses it,
    # which breaks the idempotent producer's numbering for the partition; one partition puts every key behind it.
    topic = f"small-{uuid.uuid4().hex[:8]}"
    await ensure_topic(kafka_bootstrap, topic, {"max.message.bytes": "65536"}, partitions=1)
    engine = make_engine(database_url)
    rows = scenario(topic, b"y" * 100_000)
    ids = insert_rows(engine, rows)
    producers: list[AIOKafkaProducer] = []

    async def renew() -> AIOKafkaProducer:
        producer = create_producer(kafka_bootstrap, f"parking-test-{len(producers)}")
        await producer.start()
        producers.append(producer)
        return producer

    relay = OutboxRelay(
        engine, await renew(), "parking-test", RelaySettings(max_retry_delay_seconds=0.5), renew_producer=renew
    )
    try:
        await drain(relay, engine)
    finally:
        await relay.producer.stop()
    assert len(producers) >= 2  # renewed after the refusal
    published = await read_values(kafka_bootstrap, topic, expected=17)
    for key in ("enr-a", "enr-c", "enr-d"):
        assert published[key] == [value for _, k, value in rows if k == key]
    assert published["enr-b"] == [rows[1][2], rows[5][2]]
    assert state(engine, ids[9])[1].startswith("refused by the broker for good: MessageSizeTooLargeError")
    assert [state(engine, i)[1] for i in (ids[13], ids[17])] == [f"waiting behind parked row {ids[9]}"] * 2


async def test_an_operator_releases_or_discards_the_parked_row_and_its_key_flows_again(kafka_bootstrap, database_url):
    prefix = f"park{uuid.uuid4().hex[:8]}."
    await ensure_topic(kafka_bootstrap, prefix + topics.ENROLMENT_EVENTS)
    engine = make_engine(database_url)
    rows = scenario(topics.ENROLMENT_EVENTS, b"x" * (BROKER_MAX_MESSAGE_BYTES + 1000))
    ids = insert_rows(engine, rows)
    bad = ids[9]
    producer = create_producer(kafka_bootstrap, "parking-test")
    await producer.start()
    try:
        relay = OutboxRelay(engine, producer, "parking-test", RelaySettings(topic_prefix=prefix))
        await drain(relay, engine)
        assert outbox_parking.release(engine, bad) == 3  # still too large: parked again, its key behind it
        await drain(OutboxRelay(engine, producer, "parking-test", RelaySettings(topic_prefix=prefix)), engine)
        assert outbox_parking.count_parked(engine) == 3
        with pytest.raises(ValueError):
            outbox_parking.discard(engine, bad, "  ")
        assert outbox_parking.discard(engine, bad, "the credential was re-issued in parts") == 2
        with pytest.raises(outbox_parking.NotParked):
            outbox_parking.release(engine, bad)
        await drain(OutboxRelay(engine, producer, "parking-test", RelaySettings(topic_prefix=prefix)), engine)
    finally:
        await producer.stop()
    published = await read_values(kafka_bootstrap, prefix + topics.ENROLMENT_EVENTS, expected=19)
    assert published["enr-b"] == [
        value for i, (_, k, value) in zip(ids, rows, strict=True) if k == "enr-b" and i != bad
    ]
    assert outbox_parking.count_parked(engine) == 0
    with Session(engine) as session:
        reason = session.scalar(select(OutboxMessage.parked_reason).where(OutboxMessage.id == bad))
    assert reason.startswith("discarded: the credential was re-issued in parts (was: refused by the broker")
    assert [row.id for row in outbox_parking.list_parked(engine, include_discarded=True)] == [bad]


def park_by_hand(engine, head: int, waiting: list[int]) -> None:
    """As an earlier relay round left them: `head` refused for good, `waiting` parked behind it."""
    rows = OutboxMessage.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    refused = "refused by the broker for good: MessageSizeTooLargeError: the topic's limit was lower then"
    with Session(engine) as session, session.begin():
        session.execute(update(rows).where(rows.c.id == head).values(parked_at=now, parked_reason=refused))
        reason = outbox_parking.waiting_reason(head)
        session.execute(update(rows).where(rows.c.id.in_(waiting)).values(parked_at=now, parked_reason=reason))


async def test_a_release_during_a_relay_round_neither_reorders_the_key_nor_strands_its_later_row(
    kafka_bootstrap, database_url, monkeypatch
):
    """The operator releases the head after the relay read a batch holding a later row of the head's key (written
    after the parking) and before the relay parks that row behind the head. The row must go out after the head
    and the row waiting with it, not before them, and must not stay parked behind a head no longer parked."""
    prefix = f"park{uuid.uuid4().hex[:8]}."
    topic = topics.ENROLMENT_EVENTS
    await ensure_topic(kafka_bootstrap, prefix + topic)
    engine = make_engine(database_url)
    written = [valid("enr-b") for _ in range(3)]
    head, waiting = insert_rows(engine, [(topic, "enr-b", written[0]), (topic, "enr-b", written[1])])
    park_by_hand(engine, head, [waiting])
    insert_rows(engine, [(topic, "enr-b", written[2])])
    load, released = OutboxRelay._load_unpublished, []

    def load_then_release(relay: OutboxRelay):
        batch = load(relay)
        if not released:
            released.append(outbox_parking.release(engine, head))
        return batch

    monkeypatch.setattr(OutboxRelay, "_load_unpublished", load_then_release)
    producer = create_producer(kafka_bootstrap, "parking-test")
    await producer.start()
    try:
        await drain(OutboxRelay(engine, producer, "parking-test", RelaySettings(topic_prefix=prefix)), engine)
    finally:
        await producer.stop()
    assert released == [2]
    published = await read_values(kafka_bootstrap, prefix + topic, expected=2)
    assert published["enr-b"] == written
    assert outbox_parking.count_parked(engine) == 0
