"""Who may write what, on the real secured broker (localkafka --secured: SASL_SSL/SCRAM-SHA-512, StandardAuthorizer
with allow.everyone.if.no.acl.found=false, the ACLs of deploy/kafka-acls.yaml applied by `mc-ops acls apply`).

The refusals are the issue's (an unauthenticated client; the exam administration writing enrolments; a campus
system writing the catalogue) and the attacks next to them; each principal's allowed work is checked the way
its service does it: an idempotent producer (acks=all), a consumer in the service's group committing offsets.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import ssl
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from confluent_kafka import KafkaError, Producer
from opscli.acls import apply_command, expand, load
from reliability.producer import create_producer

from contracts import topics
from tests.kafka_fixtures import ACL_FILE, INTRUDER, SecuredKafka

pytestmark = pytest.mark.kafka
TIMEOUT = 20


async def _produce(secured: SecuredKafka, topic: str, **security: Any) -> int:
    """One record through the kit's producer (idempotent, acks=all); its offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=secured.bootstrap,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=8000,
        **security,
    )
    try:
        await asyncio.wait_for(producer.start(), TIMEOUT)
        metadata = await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"attack"), TIMEOUT)
        return int(metadata.offset)
    finally:
        await asyncio.wait_for(producer.stop(), TIMEOUT)


async def _end_offsets(secured: SecuredKafka, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=secured.bootstrap, **secured.client_kwargs("admin"))
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


# -- authentication --------------------------------------------------------------------------------------------------


async def test_an_unauthenticated_plaintext_client_is_refused(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]]
) -> None:
    _, names = secured_topics
    catalogue = names[topics.CATALOGUE]
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        await _produce(secured_kafka, catalogue)
    assert await _end_offsets(secured_kafka, catalogue) == 0


async def test_tls_without_sasl_is_refused(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]]
) -> None:
    _, names = secured_topics
    context = ssl.create_default_context(cafile=str(secured_kafka.ca_file))
    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        await _produce(secured_kafka, names[topics.ENROLMENT_EVENTS], security_protocol="SSL", ssl_context=context)


async def test_a_wrong_password_is_refused(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    _, names = secured_topics
    guessed = secured_kafka.client_kwargs("student-administration", password=secrets.token_urlsafe(24))
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await _produce(secured_kafka, names[topics.ENROLMENT_EVENTS], **guessed)
    assert "SaslAuthenticationFailed" in caplog.text
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in caplog.text
    assert await _end_offsets(secured_kafka, names[topics.ENROLMENT_EVENTS]) == 0


async def test_a_broker_certificate_not_signed_by_the_configured_ca_is_refused(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    # The client side of TLS: a man in the middle with his own certificate gets no password (the system CAs
    # do not know the throw-away CA, exactly like an impostor's CA is not the configured one).
    _, names = secured_topics
    security = secured_kafka.client_kwargs("billing") | {"ssl_context": ssl.create_default_context()}
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await _produce(secured_kafka, names[topics.BILLING_EVENTS], **security)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


# -- authorisation: who may write what -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "topic"),
    [
        ("exam-administration", topics.ENROLMENT_EVENTS),  # the issue: exam administration forging enrolments
        ("student-administration", topics.CATALOGUE),  # the issue: a campus system writing the catalogue
        ("student-administration", topics.ASSESSMENT_EVENTS),  # ... or course results
        ("exam-administration", topics.CATALOGUE),
        ("billing", topics.ENROLMENT_EVENTS),  # a stolen service password cannot forge what others publish
        ("billing", topics.CERTIFICATION_EVENTS),
        ("certification", topics.CATALOGUE),
        ("enrolment", topics.ASSESSMENT_EVENTS),
    ],
)
async def test_a_principal_cannot_write_a_topic_it_does_not_produce(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]], principal: str, topic: str
) -> None:
    _, names = secured_topics
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(secured_kafka, names[topic], **secured_kafka.client_kwargs(principal))
    assert await _end_offsets(secured_kafka, names[topic]) == 0


@pytest.mark.parametrize(
    "principal",
    [
        "operator",  # operators read dead letters; they publish nothing
        INTRUDER,  # a known user with no ACL at all
    ],
)
async def test_a_principal_without_any_write_grant_cannot_even_start_an_idempotent_producer(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]], principal: str
) -> None:
    # KIP-679: InitProducerId needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic; nobody has the former.
    _, names = secured_topics
    with pytest.raises(ClusterAuthorizationFailedError):
        await _produce(secured_kafka, names[topics.ENROLMENT_EVENTS], **secured_kafka.client_kwargs(principal))
    assert await _end_offsets(secured_kafka, names[topics.ENROLMENT_EVENTS]) == 0


async def test_a_campus_system_cannot_read_enrolments_or_join_a_service_group(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]]
) -> None:
    # Joining billing's group would steal its partitions (and its events) from the billing service.
    prefix, names = secured_topics
    consumer = AIOKafkaConsumer(
        names[topics.ENROLMENT_EVENTS],
        bootstrap_servers=secured_kafka.bootstrap,
        group_id=prefix + "billing",
        auto_offset_reset="earliest",
        **secured_kafka.client_kwargs("student-administration"),
    )
    try:
        # aiokafka looks the group's coordinator up at start: the refusal comes there.
        with pytest.raises(GroupAuthorizationFailedError, match=prefix + "billing"):
            await asyncio.wait_for(consumer.start(), TIMEOUT)
            await asyncio.wait_for(consumer.getmany(timeout_ms=5000), TIMEOUT)
    finally:
        await consumer.stop()


async def test_librdkafka_producer_of_the_exam_administration_is_refused_on_enrolments(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]]
) -> None:
    # The same refusal as a campus system on librdkafka sees it: the delivery report carries the error.
    _, names = secured_topics
    reports: list[KafkaError | None] = []
    producer = Producer({**secured_kafka.librdkafka("exam-administration"), "enable.idempotence": True})
    producer.produce(names[topics.ENROLMENT_EVENTS], b"{}", b"ENR-X", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(TIMEOUT)
    assert len(reports) == 1 and reports[0] is not None
    assert reports[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


# -- what each service and system may do -----------------------------------------------------------------------------

_PRODUCES = [
    ("enrolment", topics.ENROLMENT_EVENTS),
    ("enrolment", topics.CATALOGUE),
    ("student-administration", topics.ENROLMENT_EVENTS),
    ("exam-administration", topics.ASSESSMENT_EVENTS),
    ("billing", topics.BILLING_EVENTS),
    ("certification", topics.CERTIFICATION_EVENTS),
    ("enrolment", topics.dead_letter_topic(topics.ENROLMENT_EVENTS)),
    ("billing", topics.dead_letter_topic(topics.ENROLMENT_EVENTS)),
    ("billing", topics.dead_letter_topic(topics.CATALOGUE)),
    ("certification", topics.dead_letter_topic(topics.ENROLMENT_EVENTS)),
    ("certification", topics.dead_letter_topic(topics.ASSESSMENT_EVENTS)),
    ("certification", topics.dead_letter_topic(topics.CATALOGUE)),
]


@pytest.mark.parametrize(("principal", "topic"), _PRODUCES)
async def test_a_system_writes_what_it_produces_with_an_idempotent_producer(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]], principal: str, topic: str
) -> None:
    # No IDEMPOTENT_WRITE on the cluster is granted: WRITE on the topic is enough since Kafka 3.0 (KIP-679).
    _, names = secured_topics
    producer = create_producer(secured_kafka.bootstrap, f"test-{principal}", secured_kafka.settings(principal))
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(names[topic], b"{}", key=b"k"), TIMEOUT)
    finally:
        await producer.stop()
    assert await _end_offsets(secured_kafka, names[topic]) == 1


_CONSUMES = [
    ("enrolment", topics.ENROLMENT_EVENTS),
    ("billing", topics.ENROLMENT_EVENTS),
    ("billing", topics.CATALOGUE),
    ("certification", topics.ENROLMENT_EVENTS),
    ("certification", topics.ASSESSMENT_EVENTS),
    ("certification", topics.CATALOGUE),
]


@pytest.mark.parametrize(("service", "topic"), _CONSUMES)
async def test_a_service_consumes_its_topics_in_its_group_and_commits(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]], service: str, topic: str
) -> None:
    prefix, names = secured_topics
    admin_producer = create_producer(secured_kafka.bootstrap, "test-admin", secured_kafka.settings("admin"))
    await admin_producer.start()
    await admin_producer.send_and_wait(names[topic], b"{}", key=b"k")
    await admin_producer.stop()
    consumer = AIOKafkaConsumer(
        names[topic],
        bootstrap_servers=secured_kafka.bootstrap,
        group_id=prefix + service,  # the kit's default group: TOPIC_PREFIX + service name
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **secured_kafka.client_kwargs(service),
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), TIMEOUT)
        await consumer.commit()
        assert await consumer.committed(TopicPartition(record.topic, record.partition)) == record.offset + 1
    finally:
        await consumer.stop()


async def test_a_service_cannot_read_in_another_services_group(
    secured_kafka: SecuredKafka, secured_topics: tuple[str, dict[str, str]]
) -> None:
    prefix, names = secured_topics
    consumer = AIOKafkaConsumer(
        names[topics.ENROLMENT_EVENTS],
        bootstrap_servers=secured_kafka.bootstrap,
        group_id=prefix + "billing",
        auto_offset_reset="earliest",
        **secured_kafka.client_kwargs("certification"),
    )
    try:
        # aiokafka looks the group's coordinator up at start: the refusal comes there.
        with pytest.raises(GroupAuthorizationFailedError, match=prefix + "billing"):
            await asyncio.wait_for(consumer.start(), TIMEOUT)
            await asyncio.wait_for(consumer.getmany(timeout_ms=5000), TIMEOUT)
    finally:
        await consumer.stop()


# -- provisioning ----------------------------------------------------------------------------------------------------


async def test_applying_the_acl_file_again_changes_nothing(secured_kafka: SecuredKafka) -> None:
    prefix = f"{uuid.uuid4().hex[:10]}."
    first, second = io.StringIO(), io.StringIO()
    settings = secured_kafka.settings("admin")
    await apply_command(secured_kafka.bootstrap, prefix, ACL_FILE, settings, False, first)
    await apply_command(secured_kafka.bootstrap, prefix, ACL_FILE, settings, False, second)
    expected = len(expand(load(ACL_FILE), prefix))
    assert f"created {expected} ACL(s); 0 already present" in first.getvalue()
    assert f"created 0 ACL(s); {expected} already present" in second.getvalue()


async def test_a_service_principal_cannot_grant_itself_acls(secured_kafka: SecuredKafka) -> None:
    from opscli.kafka import CommandError

    with pytest.raises(CommandError, match="CLUSTER_AUTHORIZATION_FAILED"):
        await apply_command(
            secured_kafka.bootstrap, "x.", ACL_FILE, secured_kafka.settings("billing"), False, io.StringIO()
        )
