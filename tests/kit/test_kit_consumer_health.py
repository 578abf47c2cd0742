"""A consumer that parked records or paused a partition says so on `/health` (the real app over ASGI), and the
honest case of a DLQ send that fails: the secured broker's ACLs refusing the dead-letter topic."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from reliability import metrics
from reliability.consumer import ConsumerSettings, IdempotentConsumer
from reliability.http import service_app
from reliability.producer import create_producer
from reliability.runtime import ServiceRuntime
from reliability.settings import ServiceSettings
from reliability.tables import ParkedRecord
from sqlmodel import Session, select

from contracts import topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, record_cancellation
from tests.kit.test_kit_consumer import FAST_RETRY

pytestmark = pytest.mark.kafka


def parked_records(engine) -> list[ParkedRecord]:
    with Session(engine) as session:
        return list(session.exec(select(ParkedRecord)).all())


async def get_health(runtime: ServiceRuntime) -> httpx.Response:
    app = service_app("kit", "kit health", runtime.engine, runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as client:
        return await client.get("/health")


async def test_a_dead_letter_topic_refused_by_the_acls_parks_the_record_and_health_says_degraded(
    secured_kafka, secured_topics, tmp_path
):
    """The operator principal may read enrolment.events in the enrolment group but write no DLQ: the broker
    refuses every dead letter. The record is parked, the next event applied, /health 200 "degraded"."""
    prefix, actual = secured_topics
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    harness = create_producer(secured_kafka.bootstrap, "harness", secured_kafka.settings("admin"))
    # Not idempotent: the operator may write no topic at all, so the broker would refuse it a producer id.
    producer = AIOKafkaProducer(
        bootstrap_servers=secured_kafka.bootstrap, request_timeout_ms=5000, **secured_kafka.client_kwargs("operator")
    )
    await harness.start()
    await producer.start()
    after = cancellation("enr-acl")
    await harness.send_and_wait(actual[topics.ENROLMENT_EVENTS], key=b"enr-acl", value=b"not json")
    record = after.to_kafka()
    await harness.send_and_wait(actual[record.topic], key=record.key, value=record.value, headers=record.headers)
    settings = ConsumerSettings(
        name="kit-acl",
        bootstrap_servers=secured_kafka.bootstrap,
        group_id=f"{prefix}enrolment",
        topics=[topics.ENROLMENT_EVENTS],
        topic_prefix=prefix,
        retry=FAST_RETRY,
        poll_timeout_ms=100,
        security=secured_kafka.settings("operator"),
    )
    consumer = IdempotentConsumer(settings, engine, {"EnrolmentCancelled": record_cancellation}, producer)
    runtime = ServiceRuntime(
        "kit", ServiceSettings(topic_prefix=prefix), engine, consumes=[topics.ENROLMENT_EVENTS], producer=producer
    )
    runtime.consumer = consumer
    parked_before = metrics.RECORDS_PARKED.labels("kit-acl")._value.get()
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(120):
            # The batch is applied first, then its poison dead-lettered or parked, then its offsets committed.
            while after.id not in applied_counts(engine) or not parked_records(engine):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.2)
        response = await get_health(runtime)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)
        await producer.stop()
        await harness.stop()

    (parked,) = parked_records(engine)
    assert (parked.value, parked.offset, "DLQ send failed" in parked.reason) == (b"not json", 0, True)
    assert metrics.RECORDS_PARKED.labels("kit-acl")._value.get() == parked_before + 1
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["consumer"] == "degraded: 1 consumed records parked, see mc-ops parked"


async def test_a_paused_partition_makes_health_503_naming_the_error_class_only(
    kafka_bootstrap, producer, tmp_path, prefix
):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    backlog = [cancellation("enr-503") for _ in range(3)]
    for event in backlog:
        record = event.to_kafka()
        await producer.send_and_wait(prefix + record.topic, key=record.key, value=record.value, headers=record.headers)

    def bug(session, event):
        raise ZeroDivisionError("ada.lovelace@example.org")

    settings = ConsumerSettings(
        name="kit-503",
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{prefix}group",
        topics=[topics.ENROLMENT_EVENTS],
        topic_prefix=prefix,
        retry=FAST_RETRY,
        poll_timeout_ms=100,
        pause_after=3,
    )
    consumer = IdempotentConsumer(settings, engine, {"EnrolmentCancelled": bug}, producer)
    runtime = ServiceRuntime("kit", ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap), engine, producer=producer)
    runtime.consumes = [topics.ENROLMENT_EVENTS]
    runtime.consumer = consumer
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(30):
            while not consumer.paused:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
        response = await get_health(runtime)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["kafka"] == "ok"
    assert "ZeroDivisionError" in body["checks"]["consumer"] and "lovelace" not in response.text
    assert applied_counts(engine) == {}


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    import uuid

    from reliability.topics import ensure_topics

    prefix = f"kith{uuid.uuid4().hex[:8]}."
    names = [topics.ENROLMENT_EVENTS, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(kafka_bootstrap, [prefix + name for name in names], partitions=3)
    return prefix
