"""Through a real broker: producers on librdkafka (confluent-kafka) and on the Java client, consumer on aiokafka.

Each test creates its own uniquely named topics with the aiokafka admin client. The Java producer is compiled at
test time from tests/interop/java/ContractProducer.java against the jars localkafka caches (kafka-clients and
Jackson), into a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from cloudevents.core.bindings import kafka as core_kafka
from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent
from confluent_kafka import KafkaError, Message, Producer
from contracts.examples import example_events, example_payloads
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs, librdkafka_config

from contracts import (
    CONTENT_TYPE,
    CloudEvent,
    EnrolmentCancelled,
    EventPayload,
    InvalidEvent,
    KafkaRecord,
    decode_event,
    new_event,
    topics,
)
from tests.kafka_fixtures import SecuredKafka

pytestmark = pytest.mark.kafka

JAVA_SOURCE = Path(__file__).parent / "java" / "ContractProducer.java"
EXAMPLES = example_events()
CET = timezone(timedelta(hours=1))


def harness() -> dict[str, Any]:
    """The aiokafka security arguments of the test's own clients (admin, consumer): from the environment, which
    tests/interop/conftest.py points at the secured broker's super user."""
    return client_kwargs(KafkaSecuritySettings())


def _unavailable(message: str) -> None:
    # Same rule as the broker fixture: in CI a missing tool must fail, not quietly skip the interop proof.
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    """Explicitly, so partition counts are ours; the catalogue topic (and only it) is compacted, as in production."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **harness())
    await admin.start()
    try:
        new = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs={"cleanup.policy": "compact"} if name.endswith("." + topics.CATALOGUE) else {},
            )
            for name in names
        ]
        response = await admin.create_topics(new)
        errors = [item for item in response.to_object()["topic_errors"] if item["error_code"]]
        assert errors == [], errors
    finally:
        await admin.close()


async def contract_topics_for_test(bootstrap: str, partitions: int = 3) -> dict[str, str]:
    """{contract topic: a fresh topic standing in for it}."""
    prefix = f"interop-{uuid.uuid4().hex[:10]}."
    actual = {topic: prefix + topic for topic in topics.ALL}
    await create_topics(bootstrap, actual.values(), partitions)
    return actual


async def consume(bootstrap: str, names: Iterable[str], count: int, timeout: float = 60.0) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **harness(),
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    assert len(records) == count, f"consumed {len(records)} of {count} records"
    return records


def produce_with_librdkafka(bootstrap: str, records: list[tuple[str, KafkaRecord]], **config: Any) -> list[Message]:
    """Blocking: produce and wait for every delivery report. SCRAM over TLS as the environment says (the harness's
    identity) unless `config` names another principal."""
    security = librdkafka_config(KafkaSecuritySettings())
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, **security, **config}
    )
    delivered: list[Message] = []
    failures: list[KafkaError] = []

    def report(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(error)
        else:
            delivered.append(message)

    for topic, record in records:
        producer.produce(topic, key=record.key, value=record.value, headers=record.headers, on_delivery=report)
    assert producer.flush(30) == 0
    assert failures == []
    return delivered


def header(record: ConsumerRecord, name: str) -> bytes | None:
    values = [value for key, value in record.headers if key == name]
    assert len(values) <= 1
    return values[0] if values else None


@pytest.fixture(scope="module")
def java_producer(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that runs the compiled Java producer (arguments: bootstrap, input file)."""
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        _unavailable("java and javac (JDK 17+) are needed for the Java producer interop test")
    from localkafka import FetchError, fetch

    try:
        libs = fetch()
    except FetchError as error:
        _unavailable(f"could not get the Kafka jars: {error}")
        raise
    if not list(libs.glob("kafka-clients-*.jar")) or not list(libs.glob("jackson-databind-*.jar")):
        _unavailable(f"{libs} lacks kafka-clients or jackson-databind")
    classes = tmp_path_factory.mktemp("java-producer")
    shutil.copy(JAVA_SOURCE, classes / JAVA_SOURCE.name)
    compiled = subprocess.run(
        [str(javac), "-cp", f"{libs}{os.sep}*", "-d", str(classes), str(classes / JAVA_SOURCE.name)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compiled.returncode == 0, compiled.stderr
    return [str(java), "-cp", f"{classes}{os.pathsep}{libs}{os.sep}*", "ContractProducer"]


async def run_java(
    command: list[str], bootstrap: str, lines: list[str], workdir: Path, env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Feed tab-separated lines to the Java producer; returns what it reports per record. It authenticates as the
    environment says (this process's, or `env`'s KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_CA_FILE)."""
    source = workdir / f"input-{uuid.uuid4().hex[:6]}.tsv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = await asyncio.to_thread(
        subprocess.run,
        [*command, bootstrap, str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    reported = [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") == 3]
    return [{"id": id_, "topic": topic, "partition": int(p), "offset": int(o)} for id_, topic, p, o in reported]


def java_line(topic: str, payload: EventPayload, time: datetime, style: str = "iso") -> str:
    data = new_event(payload, source="/unused", time=time).to_json()["data"]
    return "\t".join([topic, payload.event_type, time.isoformat(), style, json.dumps(data, ensure_ascii=False)])


# --- confluent-kafka (librdkafka) -> aiokafka ---------------------------------------------------------------------


async def test_librdkafka_producer_to_aiokafka_consumer(kafka_bootstrap: str) -> None:
    actual = await contract_topics_for_test(kafka_bootstrap)
    sent: dict[str, CloudEvent[EventPayload]] = dict(EXAMPLES.items())
    records = [(actual[event.data.topic], event.to_kafka()) for event in sent.values()]

    # A message written by the CloudEvents SDK, with extension attributes, travels the same way.
    sdk_source = EXAMPLES["CourseCompleted"]
    sdk_attributes = {k: v for k, v in sdk_source.to_json().items() if k != "data"}
    sdk_event = CoreCloudEvent(
        attributes={
            **sdk_attributes,
            "id": "sdk-1",
            "time": sdk_source.time,
            "partitionkey": sdk_source.subject,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
        data=sdk_source.to_json()["data"],
    )
    sdk_message = core_kafka.to_structured_event(sdk_event)
    records.append(
        (
            actual[topics.ASSESSMENT_EVENTS],
            KafkaRecord(
                topic=topics.ASSESSMENT_EVENTS,
                key=str(sdk_message.key).encode(),
                value=sdk_message.value,
                headers=list(sdk_message.headers.items()),
            ),
        )
    )
    sent["sdk-1"] = CloudEvent(
        id="sdk-1",
        source=sdk_source.source,
        type=sdk_source.type,
        time=sdk_source.time,
        subject=sdk_source.subject,
        data=sdk_source.data,
    )

    delivered = await asyncio.to_thread(produce_with_librdkafka, kafka_bootstrap, records, partitioner="murmur2_random")
    assert len(delivered) == len(records)

    consumed = await consume(kafka_bootstrap, actual.values(), len(records))
    by_id = {}
    for record in consumed:
        event = decode_event(record.value, key=record.key)
        by_id[event.id] = (record, event)
    assert sorted(by_id) == sorted(event.id for event in sent.values())
    for original in sent.values():
        record, event = by_id[original.id]
        assert event == original
        assert record.topic == actual[original.data.topic]
        assert record.key == original.subject.encode("utf-8")
        assert header(record, "content-type") == CONTENT_TYPE.encode()


async def test_key_that_differs_from_subject_is_caught_after_the_broker(kafka_bootstrap: str) -> None:
    actual = await contract_topics_for_test(kafka_bootstrap, partitions=1)
    good = EXAMPLES["EnrolmentCancelled"].to_kafka()
    wrong_key = KafkaRecord(topic=good.topic, key=b"ENR-2026-000999", value=good.value, headers=good.headers)
    await asyncio.to_thread(produce_with_librdkafka, kafka_bootstrap, [(actual[good.topic], wrong_key)])
    (record,) = await consume(kafka_bootstrap, [actual[good.topic]], 1)
    with pytest.raises(InvalidEvent, match="Kafka key b'ENR-2026-000999' does not match subject 'ENR-2026-000123'"):
        decode_event(record.value, key=record.key)


# --- Java client -> aiokafka --------------------------------------------------------------------------------------


async def test_java_producer_to_aiokafka_consumer(
    kafka_bootstrap: str, java_producer: list[str], tmp_path: Path
) -> None:
    actual = await contract_topics_for_test(kafka_bootstrap)
    payloads = {payload.event_type: payload for payload in example_payloads()}
    created = payloads["EnrolmentCreated"]
    # Non-ASCII text must survive Jackson's UTF-8 and come back identical.
    created = created.model_copy(
        update={"student": created.student.model_copy(update={"given_name": "Zoë", "family_name": "Ørsted-Nuñez"})}  # type: ignore[attr-defined]
    )
    chosen: list[tuple[EventPayload, datetime]] = [
        (created, datetime(2026, 9, 1, 9, 30, 2, 250000, tzinfo=timezone(timedelta(hours=2)))),
        (payloads["CourseCompleted"], datetime(2027, 1, 25, 14, 3, 7, tzinfo=CET)),
        (payloads["TuitionInvoiced"], datetime(2026, 9, 1, 7, 31, 0, tzinfo=UTC)),
        (payloads["MicroCredentialPublished"], datetime(2026, 5, 15, 12, 0, 0, tzinfo=timezone(timedelta(hours=2)))),
    ]
    lines = [java_line(actual[p.topic], p, time) for p, time in chosen]
    # OffsetDateTime.toString() at a whole minute writes "16:05+01:00": not RFC 3339, so it must be rejected.
    cancelled = payloads["EnrolmentCancelled"]
    lines.append(java_line(actual[cancelled.topic], cancelled, datetime(2026, 11, 20, 16, 5, tzinfo=CET), "tostring"))

    reported = await run_java(java_producer, kafka_bootstrap, lines, tmp_path)
    assert len(reported) == len(lines)

    consumed = {
        (r.topic, r.partition, r.offset): r for r in await consume(kafka_bootstrap, actual.values(), len(lines))
    }
    for (payload, time), report in zip(chosen, reported, strict=False):
        record = consumed[(report["topic"], report["partition"], report["offset"])]
        event = decode_event(record.value, key=record.key)
        assert event.data == payload
        assert event.id == report["id"]
        assert event.type == payload.event_type
        assert event.source == "/campus/java-sis"
        assert event.time == time
        assert event.time.utcoffset() == time.utcoffset()
        assert record.key == payload.subject().encode("utf-8")
        assert header(record, "content-type") == CONTENT_TYPE.encode()

    trap = consumed[(reported[-1]["topic"], reported[-1]["partition"], reported[-1]["offset"])]
    assert b'"time":"2026-11-20T16:05+01:00"' in trap.value
    with pytest.raises(InvalidEvent, match=r"^not a valid CloudEvent: time: .*RFC 3339 with seconds and an offset"):
        decode_event(trap.value, key=trap.key)


# --- one key, one partition, whichever client ---------------------------------------------------------------------


async def test_same_key_same_partition_across_java_librdkafka_and_aiokafka(
    kafka_bootstrap: str, java_producer: list[str], tmp_path: Path
) -> None:
    topic = f"interop-{uuid.uuid4().hex[:10]}.partitioning.{topics.ENROLMENT_EVENTS}"
    await create_topics(kafka_bootstrap, [topic], partitions=6)
    keys = [f"ENR-2026-{n:06d}" for n in range(1, 25)]
    cancelled_at = datetime(2026, 11, 20, 16, 5, 1, tzinfo=CET)
    payloads = [EnrolmentCancelled(enrolment_id=key, cancelled_at=cancelled_at) for key in keys]

    java = await run_java(
        java_producer, kafka_bootstrap, [java_line(topic, p, cancelled_at) for p in payloads], tmp_path
    )
    java_partitions = {key: report["partition"] for key, report in zip(keys, java, strict=True)}

    records = [(topic, new_event(p, source="/campus/sis").to_kafka()) for p in payloads]
    murmur2 = await asyncio.to_thread(produce_with_librdkafka, kafka_bootstrap, records, partitioner="murmur2_random")
    librdkafka_default = await asyncio.to_thread(produce_with_librdkafka, kafka_bootstrap, records)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", **harness())
    await producer.start()
    try:
        aiokafka_partitions = {}
        for _, record in records:
            metadata = await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
            aiokafka_partitions[record.key.decode()] = metadata.partition
    finally:
        await producer.stop()

    def by_key(messages: list[Message]) -> dict[str, int]:
        return {bytes(m.key()).decode(): m.partition() for m in messages}

    assert by_key(murmur2) == java_partitions
    assert aiokafka_partitions == java_partitions
    # Why the README insists on partitioner=murmur2_random: librdkafka's default (CRC32) scatters keys differently.
    assert by_key(librdkafka_default) != java_partitions

    consumed = await consume(kafka_bootstrap, [topic], 4 * len(keys))
    decoded_keys = [decode_event(record.value, key=record.key).subject for record in consumed]
    assert sorted(set(decoded_keys)) == keys


# --- campus systems with their own principals ------------------------------------------------------------------------


async def test_exam_administration_on_librdkafka_publishes_results_with_its_own_principal(
    secured_kafka: SecuredKafka,
) -> None:
    # What the exam administration configures: SASL_SSL, SCRAM-SHA-512, its username/password, ssl.ca.location.
    prefix = f"interop-{uuid.uuid4().hex[:10]}."
    actual = await secured_kafka.provision(prefix)
    result = EXAMPLES["CourseCompleted"].to_kafka()
    campus = secured_kafka.librdkafka("exam-administration")
    assert campus["security.protocol"] == "sasl_ssl" and campus["sasl.mechanism"] == "SCRAM-SHA-512"
    (delivered,) = await asyncio.to_thread(
        produce_with_librdkafka, secured_kafka.bootstrap, [(actual[result.topic], result)], **campus
    )
    (record,) = await consume(secured_kafka.bootstrap, [actual[result.topic]], 1)
    assert decode_event(record.value, key=record.key) == decode_event(result.value, key=result.key)
    assert record.offset == delivered.offset()


async def test_student_administration_on_the_java_client_publishes_enrolments_with_its_own_principal(
    secured_kafka: SecuredKafka, java_producer: list[str], tmp_path: Path
) -> None:
    # The Java client: security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512, ScramLoginModule in
    # sasl.jaas.config, ssl.truststore.type=PEM with the platform's CA (ContractProducer.configureSecurity).
    prefix = f"interop-{uuid.uuid4().hex[:10]}."
    actual = await secured_kafka.provision(prefix)
    payloads = {payload.event_type: payload for payload in example_payloads()}
    created = payloads["EnrolmentCreated"]
    at = datetime(2026, 9, 1, 9, 30, 2, tzinfo=timezone(timedelta(hours=2)))
    campus_env = secured_kafka.env("student-administration")
    (report,) = await run_java(
        java_producer, secured_kafka.bootstrap, [java_line(actual[created.topic], created, at)], tmp_path, campus_env
    )
    (record,) = await consume(secured_kafka.bootstrap, [actual[created.topic]], 1)
    assert (record.partition, record.offset) == (report["partition"], report["offset"])
    assert decode_event(record.value, key=record.key).data == created


async def test_the_java_client_of_the_student_administration_cannot_write_the_catalogue(
    secured_kafka: SecuredKafka, java_producer: list[str], tmp_path: Path
) -> None:
    prefix = f"interop-{uuid.uuid4().hex[:10]}."
    actual = await secured_kafka.provision(prefix)
    published = {payload.event_type: payload for payload in example_payloads()}["MicroCredentialPublished"]
    at = datetime(2026, 5, 15, 12, 0, 0, tzinfo=UTC)
    with pytest.raises(AssertionError, match="TopicAuthorizationException"):
        await run_java(
            java_producer,
            secured_kafka.bootstrap,
            [java_line(actual[published.topic], published, at)],
            tmp_path,
            secured_kafka.env("student-administration"),
        )
