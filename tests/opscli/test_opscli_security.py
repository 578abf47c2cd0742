"""mc-ops authenticates like the services: KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* from the environment."""

from __future__ import annotations

import io
import json
import secrets

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from opscli.cli import EXIT_USAGE, amain
from reliability.dead_letter import dead_letter_headers
from reliability.producer import create_producer

from contracts import topics
from tests.kafka_fixtures import SecuredKafka


async def test_sasl_without_a_username_is_a_usage_error_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", secrets.token_urlsafe(16))
    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    code = await amain(["--bootstrap", "127.0.0.1:1", "topics", "list"], out=io.StringIO())
    assert code == EXIT_USAGE
    error = capsys.readouterr().err
    assert "KAFKA_SASL_USERNAME" in error and "Traceback" not in error


async def test_the_operator_reads_dead_letters_but_cannot_replay_them(
    secured_kafka: SecuredKafka,
    secured_topics: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix, names = secured_topics
    # The message and its dead letter as they get there: student administration writes, billing dead-letters.
    campus = create_producer(secured_kafka.bootstrap, "t-sis", secured_kafka.settings("student-administration"))
    billing = create_producer(secured_kafka.bootstrap, "t-billing", secured_kafka.settings("billing"))
    await campus.start()
    await billing.start()
    try:
        original = await campus.send_and_wait(names[topics.ENROLMENT_EVENTS], key=b"ENR-1", value=b"not json")
        record = ConsumerRecord(
            topic=original.topic, partition=original.partition, offset=original.offset, timestamp=0,
            timestamp_type=0, key=b"ENR-1", value=b"not json", checksum=None, serialized_key_size=5,
            serialized_value_size=8, headers=[],
        )  # fmt: skip
        await billing.send_and_wait(
            names[topics.dead_letter_topic(topics.ENROLMENT_EVENTS)],
            key=b"ENR-1",
            value=b"not json",
            headers=dead_letter_headers(record, "not a valid CloudEvent", "billing"),
            partition=original.partition,
        )
    finally:
        await campus.stop()
        await billing.stop()
    for name, value in secured_kafka.env("operator").items():
        monkeypatch.setenv(name, value)

    out = io.StringIO()
    assert await amain(["--topic-prefix", prefix, "dlq", "list", "--json"], out=out) == 0
    (letter,) = json.loads(out.getvalue())
    assert letter["reason"] == "not a valid CloudEvent" and letter["consumer"] == "billing"

    capsys.readouterr()
    assert await amain(["--topic-prefix", prefix, "dlq", "replay"], out=io.StringIO()) == 1
    assert "AuthorizationFailed" in capsys.readouterr().err
    assert await _records(secured_kafka, names[topics.ENROLMENT_EVENTS]) == 1  # nothing replayed

    monkeypatch.setenv("KAFKA_SASL_PASSWORD", secrets.token_urlsafe(16))
    assert await amain(["--topic-prefix", prefix, "dlq", "list"], out=io.StringIO()) == 1
    assert "cannot reach Kafka" in capsys.readouterr().err


async def _records(secured: SecuredKafka, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=secured.bootstrap, **secured.client_kwargs("admin"))
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
