"""Running the billing service against the session's real broker, and reading what it published."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from billing.bootstrap import build
from billing.config import BillingSettings
from fastapi import FastAPI
from reliability.outbox import count_unpublished
from reliability.runtime import ServiceRuntime
from reliability.tables import ProcessedEvent
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import CloudEvent, EventPayload, decode_event, topics
from tests.billing.billing_support import API_TOKENS, TOKEN, catalogue_of


def new_prefix() -> str:
    return f"bill{uuid.uuid4().hex[:8]}."


@dataclass
class RunningBilling:
    app: FastAPI
    runtime: ServiceRuntime
    prefix: str

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    async def get(self, path: str, **params: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://billing") as client:
            return await client.get(path, params=params, headers={"Authorization": f"Bearer {TOKEN}"})

    async def statement(self, enrolment_id: str) -> dict[str, Any]:
        response = await self.get(f"/enrolments/{enrolment_id}/statement")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            failure = self.runtime.failed_task()
            if failure is not None:
                raise AssertionError(f"billing's background task died while waiting for {what}") from failure
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.1)

    async def wait_for_processed(self, *event_ids: str) -> None:
        """Until these input events are applied and everything billing queued is on the broker."""
        await self.wait_until(lambda: set(event_ids) <= processed_ids(self.engine), f"events {event_ids} applied")
        await self.wait_until(lambda: count_unpublished(self.engine) == 0, "the outbox to drain")


@contextlib.asynccontextmanager
async def running_billing(
    bootstrap: str, prefix: str, database_url: str, **settings_given: Any
) -> AsyncIterator[RunningBilling]:
    settings = BillingSettings(
        kafka_bootstrap_servers=bootstrap,
        database_url=database_url,
        topic_prefix=prefix,
        api_tokens=API_TOKENS,
        log_format="text",
        **settings_given,
    )
    app, runtime = build(settings)
    try:
        async with runtime.background():
            yield RunningBilling(app=app, runtime=runtime, prefix=prefix)
    finally:
        runtime.engine.dispose()


def processed_ids(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(col(ProcessedEvent.event_id))))


async def publish(
    producer: AIOKafkaProducer, prefix: str, event: CloudEvent[EventPayload], partition: int | None = None
) -> None:
    record = event.to_kafka()
    await producer.send_and_wait(
        prefix + record.topic, key=record.key, value=record.value, headers=record.headers, partition=partition
    )


async def publish_catalogue(producer: AIOKafkaProducer, prefix: str, *enrolments: CloudEvent[Any]) -> list[str]:
    """Publish the catalogue entries these enrolments repeat (as the enrolment service does); returns their ids."""
    entries = catalogue_of(*enrolments)
    for entry in entries:
        await publish(producer, prefix, entry)
    return [entry.id for entry in entries]


async def read_topic(bootstrap: str, topic: str, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Everything on `topic` now, from offset 0 to the current end of every partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert description["error_code"] == 0, f"topic {topic}: {description}"
    partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        async with asyncio.timeout(timeout):
            while [tp for tp in partitions if await reader.position(tp) < ends[tp]]:
                for batch in (await reader.getmany(timeout_ms=200)).values():
                    records.extend(batch)
        return records
    finally:
        await reader.stop()


async def read_at_least(bootstrap: str, topic: str, count: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    deadline = time.monotonic() + timeout
    while True:
        records = await read_topic(bootstrap, topic)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.2)


async def billing_events(bootstrap: str, prefix: str) -> list[CloudEvent[EventPayload]]:
    records = await read_topic(bootstrap, prefix + topics.BILLING_EVENTS)
    return [decode_event(record.value, key=record.key) for record in records]


def by_type(events: list[CloudEvent[EventPayload]], event_type: str) -> dict[str, dict[str, Any]]:
    """{enrolment id: data as on the wire} of one type; fails if an enrolment has two of them."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type == event_type:
            assert event.subject not in found, f"two {event_type} events for {event.subject}"
            found[event.subject] = event.to_json()["data"]
    return found


async def forget_consumer_group(bootstrap: str, group: str) -> None:
    """A fresh start for `group`: its committed offsets are deleted, so it reads again from offset 0.

    aiokafka's admin client cannot delete groups; confluent-kafka's can. The group must have no members left.
    """
    from confluent_kafka.admin import AdminClient

    def delete() -> None:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for attempt in range(50):
            try:
                admin.delete_consumer_groups([group], request_timeout=10)[group].result()
                return
            except Exception as error:
                if "GROUP_ID_NOT_FOUND" in str(error):
                    return
                if attempt == 49:
                    raise
                time.sleep(0.2)  # the stopped consumer's LeaveGroup may still be in flight

    await asyncio.to_thread(delete)
