"""Trace context crosses Kafka: the consumer's span continues the trace of the change that wrote the event."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from reliability.consumer import ConsumerSettings, IdempotentConsumer
from reliability.outbox import OutboxRelay, RelaySettings, count_unpublished
from reliability.producer import create_producer
from reliability.topics import ensure_topics
from reliability.tracing import configure_tracing

from contracts import topics
from tests.kit.kit_support import applied_counts, cancellation, make_engine, queue_in_outbox, record_cancellation

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    if not configure_tracing("kit-test", None, exporter=exporter):
        pytest.fail("tracing with an explicit exporter must turn on")
    return exporter


async def test_the_consumer_span_continues_the_trace_that_wrote_the_event(kafka_bootstrap, tmp_path, spans):
    prefix = f"trace{uuid.uuid4().hex[:8]}."
    await ensure_topics(kafka_bootstrap, [prefix + topics.ENROLMENT_EVENTS], partitions=3)
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    event = cancellation("enr-traced")
    with trace.get_tracer("test").start_as_current_span("POST /enrolments/enr-traced/cancellation") as origin:
        queue_in_outbox(engine, [event])
    origin_trace = origin.get_span_context().trace_id

    producer = create_producer(kafka_bootstrap, "trace-test")
    await producer.start()
    relay = OutboxRelay(engine, producer, "trace-test", RelaySettings(topic_prefix=prefix))
    settings = ConsumerSettings(
        name="trace-test",
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{prefix}g",
        topics=[topics.ENROLMENT_EVENTS],
        topic_prefix=prefix,
        poll_timeout_ms=100,
    )
    consumer = IdempotentConsumer(settings, engine, {"EnrolmentCancelled": record_cancellation}, producer)
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    try:
        async with asyncio.timeout(30):
            while count_unpublished(engine) or event.id not in applied_counts(engine):
                await asyncio.sleep(0.1)
    finally:
        relay.stop()
        consumer.stop()
        await asyncio.gather(*tasks)
        await producer.stop()

    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    applied = [span for span in spans.get_finished_spans() if span.name == "apply EnrolmentCancelled"]
    assert applied, "the consumer recorded no span"
    assert applied[-1].context.trace_id == origin_trace
    assert applied[-1].attributes["cloudevents.event_id"] == event.id
