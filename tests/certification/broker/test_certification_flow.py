"""The whole service on a real broker: events published straight to Kafka, one credential out, bad ones to the DLQ."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from certification.bootstrap import build
from certification.config import CertificationSettings

from contracts import CloudEvent, decode_event, topics
from tests.certification.certification_support import (
    API_TOKENS,
    BASE_URL,
    HERITAGE_COURSES,
    brussels,
    course_completed,
    credential_of,
    documents_for_verifier,
    enrolment_created,
    heritage_published,
    node_verifier,
    run_node_verifier,
)

pytestmark = pytest.mark.kafka

FIRST, SECOND = (course_id for course_id, _, _ in HERITAGE_COURSES)


async def publish(bootstrap: str, prefix: str, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            record = event.to_kafka()
            await producer.send_and_wait(
                prefix + record.topic, key=record.key, value=record.value, headers=record.headers
            )
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str, *, at_least: int, then_wait: float = 0.0, timeout: float = 60.0):
    """Every record of `topic` once `at_least` arrived, plus whatever comes in the following `then_wait` seconds."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    records = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < at_least:
                for batch in (await reader.getmany(timeout_ms=200)).values():
                    records.extend(batch)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + then_wait
        while loop.time() < deadline:
            for batch in (await reader.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await reader.stop()
    return records


async def test_events_on_kafka_issue_one_credential_that_both_verifiers_accept(kafka_bootstrap, issuer, tmp_path):
    prefix = f"cert{uuid.uuid4().hex[:8]}."
    settings = CertificationSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=f"sqlite:///{tmp_path}/certification.db",
        topic_prefix=prefix,
        api_tokens=API_TOKENS,
        public_base_url=BASE_URL,
        signing_key_id=issuer.key.key_id,
    )
    app, runtime = build(settings, issuer=issuer)
    engine = runtime.engine
    failed = course_completed("enr-k1", FIRST, passed=False, grade="8", assessed_at=brussels(2026, 1, 20, 10))
    resit = course_completed("enr-k1", FIRST, grade="13", assessed_at=brussels(2026, 6, 29, 10))
    second = course_completed("enr-k1", SECOND, grade="17", assessed_at=brussels(2026, 1, 27, 10))
    resent = course_completed("enr-k1", SECOND, grade="17", assessed_at=brussels(2026, 1, 27, 10))  # new event id

    async with runtime.background():
        # The re-sit before the failed attempt it corrects, and `second` twice with the same id (a redelivery).
        await publish(
            kafka_bootstrap,
            prefix,
            [heritage_published(), enrolment_created("enr-k1"), resit, second, failed, second, resent],
        )
        issued = await read(kafka_bootstrap, prefix + topics.CERTIFICATION_EVENTS, at_least=1, then_wait=3.0)

        # Now that the enrolment is known, an outcome for a course it does not have is dead-lettered.
        foreign = course_completed("enr-k1", "2026MCAIP1")
        await publish(kafka_bootstrap, prefix, [foreign])
        [dead] = await read(kafka_bootstrap, prefix + topics.dead_letter_topic(topics.ASSESSMENT_EVENTS), at_least=1)
        assert runtime.failed_task() is None

    assert len(issued) == 1, [record.value for record in issued]
    event = decode_event(issued[0].value, key=issued[0].key)
    assert event.type == "CredentialIssued"
    assert issued[0].key == b"enr-k1"
    row = credential_of(engine, "enr-k1")
    assert row is not None and event.data.credential == row.document
    credential = event.data.credential
    assert credential["credentialSubject"]["result"][0]["value"] == "13"  # the re-sit counts

    headers = dict(dead.headers)
    assert headers["dlq-consumer"] == b"certification"
    assert b"'2026MCAIP1' is not part of enrolment enr-k1" in headers["dlq-reason"]
    assert decode_event(dead.value, key=dead.key).id == foreign.id

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        verdict = (await client.post("/verify", json=credential)).json()
        status_list = (await client.get("/status-lists/1")).json()
    assert verdict["verified"] is True, verdict
    assert verdict["learner"] == "Amira Peeters"

    node = node_verifier()
    if node is None:
        pytest.skip("Node.js is not installed: the independent verifier (interop/verify.mjs) was not run")
    documents = documents_for_verifier(issuer, {f"{BASE_URL}/status-lists/1": status_list})
    js = await asyncio.to_thread(run_node_verifier, node, credential, documents)
    assert js["verified"] is True, js
    assert js["status"] == {"verified": True, "status": False, "errors": []}
