"""`dlq list`, `dlq show` and `dlq replay` against a real broker, on dead letters written as the kit writes them."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from contracts.examples import example_events

from contracts import decode_event
from tests.opscli.opscli_support import cli, cli_json, create_topics, dead_letter, read_all, unique_prefix

POISON = b'{"specversion": "1.0", "type": "EnrolmentCreated"'  # cut off mid-object: not JSON
LONG_REASON = "invalid EnrolmentCreated data: data.tuition.fixed_fee: " + "money must be a decimal string; " * 5


@pytest.fixture
async def producer(kafka_bootstrap: str):
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def incident(kafka_bootstrap: str, producer: AIOKafkaProducer):
    """Under a fresh prefix: three dead letters on enrolment.events.dlq (two valid events and one poison message,
    by two consumers) and one on assessment.events.dlq."""
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    events = example_events()
    created = events["EnrolmentCreated"].to_kafka()
    cancelled = events["EnrolmentCancelled"].to_kafka()
    completed = events["CourseCompleted"].to_kafka()
    enrolment = prefix + "enrolment.events"
    letters = [
        await dead_letter(
            producer,
            enrolment,
            key=created.key,
            value=created.value,
            headers=[*created.headers, ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
            reason="RejectEvent: no tuition policy for academic year 2026-2027",
            consumer="billing",
            partition=0,
        ),
        await dead_letter(
            producer,
            enrolment,
            key=b"ENR-BROKEN",
            value=POISON,
            headers=[],
            reason=LONG_REASON,
            consumer="billing",
            partition=0,
        ),
        await dead_letter(
            producer,
            enrolment,
            key=cancelled.key,
            value=cancelled.value,
            headers=cancelled.headers,
            reason="RejectEvent: cancellation before enrolment",
            consumer="certification",
            partition=1,
        ),
        await dead_letter(
            producer,
            prefix + "assessment.events",
            key=completed.key,
            value=completed.value,
            headers=completed.headers,
            reason="RejectEvent: unknown course DL-1",
            consumer="certification",
            partition=2,
        ),
    ]
    return prefix, letters


async def test_dlq_list_json_shows_every_dead_letter_with_its_reason(kafka_bootstrap: str, incident) -> None:
    prefix, letters = incident
    listed = await cli_json(kafka_bootstrap, prefix, "dlq", "list")

    assert len(listed) == 4
    by_place = {(item["dlq_topic"], item["partition"], item["offset"]): item for item in listed}
    for original, dlq in letters:
        item = by_place[(dlq.topic, dlq.partition, dlq.offset)]
        assert item["original_topic"] == original.topic
        assert item["original_partition"] == original.partition
        assert item["original_offset"] == original.offset
    created = by_place[(letters[0][1].topic, letters[0][1].partition, letters[0][1].offset)]
    assert created["reason"] == "RejectEvent: no tuition policy for academic year 2026-2027"
    assert created["consumer"] == "billing"
    assert created["event_type"] == "EnrolmentCreated"
    assert created["event_id"] == example_events()["EnrolmentCreated"].id
    assert created["key"] == "ENR-2026-000123"
    assert created["dead_lettered_at"]
    poison = by_place[(letters[1][1].topic, letters[1][1].partition, letters[1][1].offset)]
    assert poison["reason"] == LONG_REASON[:4000]  # the JSON output never truncates
    assert poison["event_type"] is None and poison["event_id"] is None
    assert poison["key"] == "ENR-BROKEN"


async def test_dlq_list_filters_by_topic_and_consumer(kafka_bootstrap: str, incident) -> None:
    prefix, _ = incident
    enrolment = await cli_json(kafka_bootstrap, prefix, "dlq", "list", "--topic", "enrolment.events")
    assert {item["dlq_topic"] for item in enrolment} == {prefix + "enrolment.events.dlq"}
    assert len(enrolment) == 3
    certification = await cli_json(kafka_bootstrap, prefix, "dlq", "list", "--consumer", "certification")
    assert sorted(item["event_type"] for item in certification) == ["CourseCompleted", "EnrolmentCancelled"]
    code, _ = await cli(kafka_bootstrap, prefix, "dlq", "list", "--topic", "no.such.events")
    assert code == 1


async def test_dlq_list_table_is_readable(kafka_bootstrap: str, incident) -> None:
    prefix, _ = incident
    code, output = await cli(kafka_bootstrap, prefix, "dlq", "list")
    assert code == 0
    lines = output.splitlines()
    assert lines[0].split() == ["DLQ", "TOPIC", "P", "OFFSET", "ORIGINAL", "CONSUMER", "WHEN", "EVENT", "REASON"]
    assert "RejectEvent: no tuition policy for academic year 2026-2027" in output
    assert "(not a CloudEvent)" in output
    assert LONG_REASON.strip() not in output  # long reasons are cut to fit a line
    assert "…" in output
    assert "4 message(s)" in output


async def test_dlq_list_of_empty_topics_says_so(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    code, output = await cli(kafka_bootstrap, prefix, "dlq", "list")
    assert code == 0
    assert "no dead-lettered messages" in output
    assert await cli_json(kafka_bootstrap, prefix, "dlq", "list") == []


async def test_dlq_show_prints_one_message_in_full(kafka_bootstrap: str, incident) -> None:
    prefix, letters = incident
    _, dlq = letters[0]
    code, output = await cli(kafka_bootstrap, prefix, "dlq", "show", dlq.topic, str(dlq.partition), str(dlq.offset))
    assert code == 0
    assert "key        ENR-2026-000123" in output
    assert "  content-type: application/cloudevents+json" in output
    assert "  traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" in output
    assert "  dlq-consumer: billing" in output
    assert '  "type": "EnrolmentCreated",' in output  # pretty-printed value
    assert output.rstrip().endswith("RejectEvent: no tuition policy for academic year 2026-2027")

    _, poison = letters[1]
    code, output = await cli(
        kafka_bootstrap, prefix, "dlq", "show", "enrolment.events.dlq", str(poison.partition), str(poison.offset)
    )
    assert code == 0, "the topic may be given without the prefix"
    assert POISON.decode() in output
    assert LONG_REASON in output  # in full

    shown = await cli_json(kafka_bootstrap, prefix, "dlq", "show", dlq.topic, str(dlq.partition), str(dlq.offset))
    assert shown["value"]["id"] == example_events()["EnrolmentCreated"].id
    assert ["dlq-original-topic", prefix + "enrolment.events"] in shown["headers"]

    code, _ = await cli(kafka_bootstrap, prefix, "dlq", "show", dlq.topic, str(dlq.partition), "99")
    assert code == 1


async def test_dlq_replay_republishes_with_original_headers_and_only_once(
    kafka_bootstrap: str, producer: AIOKafkaProducer, incident
) -> None:
    prefix, _ = incident
    enrolment = prefix + "enrolment.events"
    before = await read_all(kafka_bootstrap, enrolment)
    assert len(before) == 3

    code, output = await cli(kafka_bootstrap, prefix, "dlq", "replay", "--topic", "enrolment.events", "--dry-run")
    assert code == 0
    assert sum(line.startswith("would replay ") for line in output.splitlines()) == 3
    assert len(await read_all(kafka_bootstrap, enrolment)) == 3, "a dry run sends nothing"

    replayed = await cli_json(kafka_bootstrap, prefix, "dlq", "replay", "--topic", "enrolment.events")
    assert len(replayed) == 3
    after = await read_all(kafka_bootstrap, enrolment)
    assert len(after) == 6
    originals = {(r.partition, r.offset): r for r in before}
    new = [r for r in after if (r.partition, r.offset) not in originals]
    for item in replayed:
        original = originals[(item["original_partition"], item["original_offset"])]
        copy = next(
            r
            for r in new
            if (r.partition, r.offset) == (item["replayed_to"]["partition"], item["replayed_to"]["offset"])
        )
        assert copy.key == original.key
        assert copy.value == original.value
        assert list(copy.headers) == list(original.headers), "original headers, none of the dlq-* ones"
        assert copy.partition == original.partition, "same key, same partition"
    assert any(name == "traceparent" for r in new for name, _ in r.headers)
    # The replayed events still decode: consumers will drop the ones they had applied, by (source, id).
    replayed_event = next(r for r in new if r.key == b"ENR-2026-000123")
    assert decode_event(replayed_event.value, key=replayed_event.key).id == example_events()["EnrolmentCreated"].id

    code, output = await cli(kafka_bootstrap, prefix, "dlq", "replay", "--topic", "enrolment.events")
    assert code == 0
    assert "nothing new to replay" in output
    assert await cli_json(kafka_bootstrap, prefix, "dlq", "replay", "--topic", "enrolment.events") == []
    assert len(await read_all(kafka_bootstrap, enrolment)) == 6, "a second replay republishes nothing"

    # Dead-lettered after the replay: the next replay takes only that one.
    later = example_events()["EnrolmentCancelled"].to_kafka()
    await dead_letter(
        producer, enrolment, key=later.key, value=later.value, headers=later.headers, reason="late", consumer="billing"
    )
    again = await cli_json(kafka_bootstrap, prefix, "dlq", "replay", "--topic", "enrolment.events")
    assert [item["reason"] for item in again] == ["late"]

    # --offset-from replays again on purpose, ignoring the committed progress.
    on_purpose = await cli_json(
        kafka_bootstrap, prefix, "dlq", "replay", "--topic", "enrolment.events", "--offset-from", "0", "--dry-run"
    )
    assert len(on_purpose) == 4


async def test_dlq_replay_by_consumer_and_only_valid(kafka_bootstrap: str, incident) -> None:
    prefix, _ = incident
    enrolment = prefix + "enrolment.events"
    code, output = await cli(kafka_bootstrap, prefix, "dlq", "replay", "--consumer", "billing", "--only-valid")
    assert code == 0, output
    assert "skipped 1 of other consumers" in output
    assert "left 1 still invalid" in output
    records = await read_all(kafka_bootstrap, enrolment)
    assert len(records) == 4, "only billing's valid dead letter was replayed"
    assert sum(r.value == POISON for r in records) == 1, "the poison message stayed in the DLQ"
    assert sum(r.value == example_events()["EnrolmentCreated"].to_kafka().value for r in records) == 2

    # The certification consumer's dead letters have their own replay progress: the filtered replay above
    # did not mark them done.
    certification = await cli_json(kafka_bootstrap, prefix, "dlq", "replay", "--consumer", "certification")
    assert sorted(item["event_type"] for item in certification) == ["CourseCompleted", "EnrolmentCancelled"]
    assert {item["replayed_to"]["topic"] for item in certification} == {enrolment, prefix + "assessment.events"}


async def test_dlq_replay_refuses_an_unknown_original_topic(
    kafka_bootstrap: str, producer: AIOKafkaProducer, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    event = example_events()["EnrolmentCreated"].to_kafka()
    await producer.send_and_wait(
        prefix + "enrolment.events.dlq",
        key=event.key,
        value=event.value,
        headers=[*event.headers, ("dlq-original-topic", b"gone.events"), ("dlq-reason", b"x")],
    )
    code, _ = await cli(kafka_bootstrap, prefix, "dlq", "replay")
    assert code == 1
    assert "gone.events" in capsys.readouterr().err
    assert await read_all(kafka_bootstrap, prefix + "enrolment.events") == []
    # Nothing was committed either: the message is still pending.
    group = f"opscli-replay-{prefix}enrolment.events.dlq"
    assert await cli_json(kafka_bootstrap, prefix, "lag", "--group", group) == []


async def test_dlq_replay_only_valid_judges_like_the_consumer(kafka_bootstrap: str, producer: AIOKafkaProducer) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    enrolment = prefix + "enrolment.events"
    events = example_events()
    created = events["EnrolmentCreated"].to_kafka()
    completed = events["CourseCompleted"].to_kafka()  # valid, but an assessment.events type
    for key, value, reason in [
        (created.key, created.value, "RejectEvent: fixed since"),
        (completed.key, completed.value, "unknown event type 'CourseCompleted'"),
        (None, created.value, "message has no key"),
    ]:
        await dead_letter(
            producer,
            enrolment,
            key=key,
            value=value,
            headers=created.headers,
            reason=reason,
            consumer="billing",
            partition=0,
        )

    code, output = await cli(kafka_bootstrap, prefix, "dlq", "replay", "--only-valid")
    assert code == 0, output
    assert "replayed 1, left 2 still invalid" in output
    assert "unknown event type 'CourseCompleted'" in output
    assert "message has no key" in output
    replayed = (await read_all(kafka_bootstrap, enrolment))[3:]
    assert [(r.key, r.value) for r in replayed] == [(created.key, created.value)]
    # The ones left behind are not offered again: progress moved past them.
    assert await cli_json(kafka_bootstrap, prefix, "dlq", "replay", "--dry-run") == []
