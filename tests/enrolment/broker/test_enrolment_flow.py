"""The whole path on a real broker: HTTP -> database -> outbox -> Kafka -> the service's own consumer.

Each test runs the service (relay + consumer, as `python -m enrolment` does, minus uvicorn) on topics under a
prefix of its own, and reads what it published with a plain aiokafka consumer.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from enrolment.adapters.catalogue import CATALOGUE_DIRECTORY
from enrolment.bootstrap import build
from enrolment.domain import Catalogue
from enrolment.usecases import SOURCE
from reliability.outbox import count_unpublished
from reliability.runtime import ServiceRuntime

from contracts import CONTENT_TYPE, CloudEvent, catalogue_key, decode_event, topics
from tests.enrolment.enrolment_support import (
    CAMPUS,
    MC,
    TOKEN,
    YEAR,
    enrolment_count,
    enrolment_request,
    eventually,
    foreign_cancelled,
    foreign_created,
    outbox_events,
    pending_ids,
    processed_ids,
    read_records,
    settings_for,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def prefix() -> str:
    return f"enr{uuid.uuid4().hex[:8]}."


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """Stands in for another campus system publishing straight to Kafka."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@contextlib.asynccontextmanager
async def running_service(
    kafka_bootstrap: str, database_url: str, prefix: str, catalogue_dir: Path | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    settings = settings_for(
        database_url, kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, catalogue_dir=catalogue_dir
    )
    app, runtime = build(settings)
    try:
        async with runtime.background():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://enrolment.test", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as client:
                yield client, runtime
            assert runtime.failed_task() is None
    finally:
        runtime.engine.dispose()


async def send(producer: AIOKafkaProducer, prefix: str, event: CloudEvent) -> None:
    record = event.to_kafka()
    await producer.send_and_wait(prefix + record.topic, key=record.key, value=record.value, headers=record.headers)


def decoded(record) -> CloudEvent:
    return decode_event(record.value, key=record.key)


# --- our own enrolments ---------------------------------------------------------------------------------------------


async def test_enrolment_and_cancellation_reach_kafka_once_and_are_not_applied_twice(
    kafka_bootstrap, database_url, prefix, catalogue: Catalogue
):
    topic = prefix + topics.ENROLMENT_EVENTS
    async with running_service(kafka_bootstrap, database_url, prefix) as (client, runtime):
        request = enrolment_request("s0500000")
        created = (await client.post("/enrolments", json=request)).json()
        cancelled_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        cancellation = {"cancelled_at": cancelled_at.isoformat(), "reason": "timetable clash"}
        first = await client.post(f"/enrolments/{created['id']}/cancellation", json=cancellation)
        second = await client.post(f"/enrolments/{created['id']}/cancellation", json=cancellation)
        assert first.status_code == second.status_code == 202 and first.json() == second.json()

        records = await read_records(kafka_bootstrap, topic, expected=2, settle=2.0)
        assert len(records) == 2, "cancelling twice must publish one cancellation"
        for record in records:
            assert record.key == created["id"].encode()
            assert dict(record.headers)["content-type"] == CONTENT_TYPE.encode()
            envelope = json.loads(record.value)
            assert envelope["specversion"] == "1.0" and envelope["source"] == SOURCE
            assert envelope["subject"] == created["id"] and envelope["datacontenttype"] == "application/json"
        assert len({record.partition for record in records}) == 1  # one key, one partition, in order
        creation, cancel = (decoded(record) for record in records)
        assert (creation.type, cancel.type) == ("EnrolmentCreated", "EnrolmentCancelled")

        entry = catalogue.get(YEAR, MC)
        snapshot = creation.data.microcredential
        assert (snapshot.id, snapshot.title, snapshot.academic_year) == (entry.id, entry.title, YEAR)
        assert [(c.id, c.credits, c.semester) for c in snapshot.courses] == [
            (c.id, c.credits, c.semester) for c in entry.courses
        ]
        assert (creation.data.tuition.fixed_fee, creation.data.tuition.per_credit) == (
            entry.tuition.fixed_fee,
            entry.tuition.per_credit,
        )
        assert creation.data.student.email == request["student"]["email"]
        assert (cancel.data.cancelled_at, cancel.data.reason) == (cancelled_at, "timetable clash")

        # The service's own consumer reads both back (same source and id as published) and changes nothing.
        engine = runtime.engine
        await eventually(lambda: {creation.id, cancel.id} <= processed_ids(engine), what="own events consumed")
        assert enrolment_count(engine) == 1
        listed = (await client.get("/enrolments", params={"student_id": "s0500000"})).json()
        assert listed == [first.json()]
        assert [event.type for event in outbox_events(engine) if event.type != "MicroCredentialPublished"] == [
            "EnrolmentCreated",
            "EnrolmentCancelled",
        ]
        assert count_unpublished(engine) == 0


# --- other campus systems' events ---------------------------------------------------------------------------------


async def test_foreign_events_appear_in_the_registry_and_a_cancellation_may_come_first(
    kafka_bootstrap, prefix, producer, tmp_path, catalogue: Catalogue
):
    enrolled_at = datetime(2026, 9, 21, 9, 30, tzinfo=UTC)
    entry = catalogue.get(YEAR, MC)
    async with running_service(kafka_bootstrap, f"sqlite:///{tmp_path}/enrolment.db", prefix) as (client, runtime):
        # Created, then cancelled, as the student administration publishes them.
        await send(producer, prefix, foreign_created("sisa-100", enrolled_at, "s0600000", catalogue_entry=entry))

        async def active() -> bool:
            response = await client.get("/enrolments/sisa-100")
            return response.status_code == 200

        await eventually(active, what="the foreign enrolment over HTTP")
        body = (await client.get("/enrolments/sisa-100")).json()
        assert (body["status"], body["origin"], body["student"]["id"]) == ("active", CAMPUS, "s0600000")
        assert datetime.fromisoformat(body["enrolled_at"]) == enrolled_at

        cancelled_at = enrolled_at + timedelta(days=30)
        await send(producer, prefix, foreign_cancelled("sisa-100", cancelled_at, reason="withdrawn"))

        async def cancelled(enrolment_id: str) -> bool:
            response = await client.get(f"/enrolments/{enrolment_id}")
            return response.status_code == 200 and response.json()["status"] == "cancelled"

        await eventually(lambda: cancelled("sisa-100"), what="the foreign cancellation over HTTP")
        body = (await client.get("/enrolments/sisa-100")).json()
        assert (
            datetime.fromisoformat(body["cancelled_at"]) == cancelled_at and body["cancellation_reason"] == "withdrawn"
        )

        # A cancellation of an enrolment we have not seen yet is kept pending ...
        early = foreign_cancelled("sisa-101", cancelled_at, reason="changed programme")
        await send(producer, prefix, early)
        await eventually(lambda: early.id in processed_ids(runtime.engine), what="the early cancellation consumed")
        assert pending_ids(runtime.engine) == ["sisa-101"]
        assert (await client.get("/enrolments/sisa-101")).status_code == 404

        # ... and applied the moment its enrolment arrives.
        await send(producer, prefix, foreign_created("sisa-101", enrolled_at, "s0600001", catalogue_entry=entry))
        await eventually(lambda: cancelled("sisa-101"), what="the pending cancellation applied")
        assert pending_ids(runtime.engine) == []
        body = (await client.get("/enrolments/sisa-101")).json()
        assert body["cancellation_reason"] == "changed programme"

        # Other systems' facts are recorded, never republished.
        records = await read_records(kafka_bootstrap, prefix + topics.ENROLMENT_EVENTS, expected=4, settle=1.0)
        assert {decoded(record).source for record in records} == {CAMPUS}
        assert [e.type for e in outbox_events(runtime.engine) if e.type != "MicroCredentialPublished"] == []


async def test_invalid_foreign_events_land_in_the_dead_letter_topic_with_the_reason(
    kafka_bootstrap, prefix, producer, tmp_path
):
    enrolled_at = datetime(2026, 9, 21, 9, 30, tzinfo=UTC)
    topic = prefix + topics.ENROLMENT_EVENTS
    async with running_service(kafka_bootstrap, f"sqlite:///{tmp_path}/enrolment.db", prefix) as (client, runtime):
        await send(producer, prefix, foreign_created("sisa-200", enrolled_at, "s0700000"))
        missing_email = json.loads(foreign_created("sisa-201", enrolled_at).to_kafka().value)
        del missing_email["data"]["student"]["email"]
        poison = [
            (b"sisa-x", b"{not json"),
            (b"sisa-201", json.dumps(missing_email).encode()),
            (b"sisa-200", foreign_created("sisa-200", enrolled_at, "s0799999").to_kafka().value),  # other student
            (b"sisa-200", foreign_cancelled("sisa-200", enrolled_at - timedelta(days=2)).to_kafka().value),
        ]
        for key, value in poison:
            await producer.send_and_wait(topic, key=key, value=value, headers=[("content-type", CONTENT_TYPE.encode())])
        good = foreign_created("sisa-202", enrolled_at, "s0700002")
        await send(producer, prefix, good)

        dead = await read_records(kafka_bootstrap, topics.dead_letter_topic(topic), expected=len(poison), settle=1.0)
        assert len(dead) == len(poison)
        reasons = {record.value: dict(record.headers)["dlq-reason"].decode() for record in dead}
        assert "not JSON" in reasons[poison[0][1]]
        assert "data.student.email" in reasons[poison[1][1]] and "Field required" in reasons[poison[1][1]]
        assert "'sisa-200' already exists" in reasons[poison[2][1]] and CAMPUS in reasons[poison[2][1]]
        assert "before it was created" in reasons[poison[3][1]]
        for record in dead:
            headers = dict(record.headers)
            assert headers["dlq-consumer"] == b"enrolment"
            assert headers["dlq-original-topic"] == topic.encode()

        await eventually(lambda: good.id in processed_ids(runtime.engine), what="the valid event after the poison")
        body = (await client.get("/enrolments/sisa-200")).json()
        assert (body["student"]["id"], body["status"]) == ("s0700000", "active")
        assert (await client.get("/enrolments/sisa-201")).status_code == 404
        assert (await client.get("/enrolments/sisa-202")).status_code == 200


# --- the catalogue topic -------------------------------------------------------------------------------------------


async def test_catalogue_is_published_once_per_entry_and_not_again_on_restart(
    kafka_bootstrap, database_url, prefix, tmp_path, catalogue: Catalogue
):
    topic = prefix + topics.CATALOGUE
    async with running_service(kafka_bootstrap, database_url, prefix):
        records = await read_records(kafka_bootstrap, topic, expected=len(catalogue), settle=1.0)
    assert len(records) == len(catalogue)
    keys = [record.key.decode() for record in records]
    assert sorted(keys) == sorted(catalogue_key(entry.academic_year, entry.id) for entry in catalogue)
    for record in records:
        event = decoded(record)
        assert event.type == "MicroCredentialPublished" and event.source == SOURCE
        entry = catalogue.get(event.data.academic_year, event.data.microcredential_id)
        assert event.data.title == entry.title and event.data.learning_outcomes == list(entry.learning_outcomes)
        assert dict(record.headers)["content-type"] == CONTENT_TYPE.encode()

    # Restart with the same catalogue and database: nothing new on the topic.
    async with running_service(kafka_bootstrap, database_url, prefix) as (_, runtime):
        assert count_unpublished(runtime.engine) == 0
        again = await read_records(kafka_bootstrap, topic, expected=len(catalogue), settle=2.0)
    assert len(again) == len(catalogue)

    # Restart with one entry changed: exactly that entry is published again, under its key.
    edited = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIRECTORY, edited, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = edited / "2027-2028.yaml"
    original = path.read_text()
    path.write_text(original.replace("eqf_level: 7", "eqf_level: 6", 1))
    async with running_service(kafka_bootstrap, database_url, prefix, catalogue_dir=edited):
        changed = await read_records(kafka_bootstrap, topic, expected=len(catalogue) + 1, settle=2.0)
    assert len(changed) == len(catalogue) + 1
    latest = decoded(changed[-1])
    assert latest.subject.startswith("2027-2028/") and latest.data.eqf_level == 6
