"""`mc-ops outbox parked|release|discard` and `mc-ops parked list|resend|discard` on a service's database."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from contracts.limits import BROKER_MAX_MESSAGE_BYTES, DEAD_LETTER_EXCERPT_BYTES
from reliability import outbox_parking
from reliability.outbox import count_unpublished
from reliability.tables import OutboxMessage, ParkedRecord
from sqlalchemy import insert
from sqlmodel import Session

from contracts import topics as contract
from tests.kit.kit_support import make_engine
from tests.opscli.opscli_support import cli, create_topics, read_all, unique_prefix

PERSONAL = b'{"student":{"email":"jane.doe@example.org","given_name":"Jane"}}'


def outbox_rows(engine, keys: list[str]) -> list[int]:
    ids = []
    with Session(engine) as session, session.begin():
        for key in keys:
            values = {"event_id": str(uuid.uuid4()), "topic": contract.CERTIFICATION_EVENTS, "key": key.encode()}
            values |= {"value": PERSONAL, "headers": [], "created_at": datetime.now(UTC)}
            statement = insert(OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)  # type: ignore[attr-defined]
            ids.append(session.execute(statement, values).scalar_one())
    return ids


def park_head_and_two_behind(engine) -> list[int]:
    head, *behind = outbox_rows(engine, ["ENR-1", "ENR-1", "ENR-1"])
    reasons = {head: "refused by the broker for good: MessageSizeTooLargeError: the record is 1092700 bytes"}
    outbox_parking.park_rows(engine, reasons | {row: outbox_parking.waiting_reason(head) for row in behind})
    return [head, *behind]


async def test_outbox_parked_lists_rows_without_values_and_release_lets_the_relay_send_them(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/certification.db"
    engine = make_engine(url)
    head, *behind = park_head_and_two_behind(engine)
    (flowing,) = outbox_rows(engine, ["ENR-2"])

    code, output = await cli("unused:9092", "", "outbox", "parked", "--database-url", url)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["ID", "TOPIC", "KEY", "SIZE", "PARKED_AT", "REASON"]
    assert [line.split()[:4] for line in lines[1:4]] == [
        [str(i), contract.CERTIFICATION_EVENTS, "ENR-1", str(len(PERSONAL))] for i in (head, *behind)
    ]
    assert f"waiting behind parked row {head}" in lines[2] and "MessageSizeTooLargeError" in lines[1]
    assert str(flowing) not in [line.split()[0] for line in lines[1:] if line]
    assert "jane" not in output.lower()

    code, output = await cli("unused:9092", "", "outbox", "release", str(head), "--database-url", url)
    assert code == 0, output
    assert "2 row(s) waiting behind it" in output
    assert outbox_parking.count_parked(engine) == 0 and count_unpublished(engine) == 4


async def test_outbox_discard_keeps_the_row_for_audit_and_releases_its_key(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path}/billing.db"
    engine = make_engine(url)
    head, *_ = park_head_and_two_behind(engine)
    monkeypatch.setenv("BILLING_DATABASE_URL", url)  # found by --service
    monkeypatch.delenv("DATABASE_URL", raising=False)

    code, _ = await cli("unused:9092", "", "outbox", "discard", str(head), "--service", "billing", "--reason", " ")
    assert code == 1
    code, output = await cli(
        "unused:9092", "", "outbox", "discard", str(head), "--service", "billing", "--reason", "re-issued in parts"
    )
    assert code == 0, output
    assert count_unpublished(engine) == 2 and outbox_parking.count_parked(engine) == 0
    code, output = await cli("unused:9092", "", "outbox", "parked", "--service", "billing", "--all", "--json")
    assert code == 0, output
    (row,) = json.loads(output)
    assert row["id"] == head and row["reason"].startswith("discarded: re-issued in parts (was: refused by the broker")
    assert set(row) == {"id", "topic", "key", "size", "reason", "parked_at"}

    code, _ = await cli("unused:9092", "", "outbox", "release", str(head), "--service", "billing")
    assert code == 1  # a discarded row stays discarded
    code, _ = await cli("unused:9092", "", "outbox", "parked", "--service", "enrolment")
    assert code == 1  # no ENROLMENT_DATABASE_URL, no DATABASE_URL: said, not guessed


def parked_record(engine, topic: str, value: bytes, offset: int) -> int:
    with Session(engine) as session, session.begin():
        record = ParkedRecord(
            consumer="certification",
            topic=topic,
            partition=0,
            offset=offset,
            key=b"ENR-9",
            value=value,
            headers=[["content-type", "application/cloudevents+json"]],
            reason="the dead letter failed: KafkaTimeoutError",
            parked_at=datetime.now(UTC),
        )
        session.add(record)
        session.flush()
        assert record.id is not None
        return record.id


async def test_parked_records_are_resent_to_their_dlq_bounded_or_discarded(kafka_bootstrap, database_url) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    engine = make_engine(database_url)
    topic = prefix + contract.ASSESSMENT_EVENTS
    small = parked_record(engine, topic, PERSONAL, offset=41)
    huge_value = b"\x00\xff" * (BROKER_MAX_MESSAGE_BYTES // 2 + 10)
    huge = parked_record(engine, topic, huge_value, offset=42)
    dropped = parked_record(engine, topic, b"not json", offset=43)
    db = ["--database-url", database_url]

    code, output = await cli(kafka_bootstrap, prefix, "parked", "list", *db)
    assert code == 0, output
    assert [line.split()[0] for line in output.splitlines()[1:4]] == [str(small), str(huge), str(dropped)]
    assert "jane" not in output.lower()
    for record_id in (small, huge):
        code, output = await cli(kafka_bootstrap, prefix, "parked", "resend", str(record_id), *db)
        assert code == 0, output
    code, output = await cli(kafka_bootstrap, prefix, "parked", "discard", str(dropped), "--reason", "test data", *db)
    assert code == 0, output
    code, _ = await cli(kafka_bootstrap, prefix, "parked", "resend", str(small), *db)
    assert code == 1  # closed: not sent twice

    letters = await read_all(kafka_bootstrap, contract.dead_letter_topic(topic))
    assert len(letters) == 2
    by_offset = {dict(r.headers)[contract.DLQ_ORIGINAL_OFFSET]: r for r in letters}
    whole, bounded = by_offset[b"41"], by_offset[b"42"]
    assert whole.value == PERSONAL and dict(whole.headers)["content-type"] == b"application/cloudevents+json"
    assert dict(whole.headers)[contract.DLQ_REASON] == b"the dead letter failed: KafkaTimeoutError"
    assert bounded.value == huge_value[:DEAD_LETTER_EXCERPT_BYTES]
    assert dict(bounded.headers)["dlq-value-sha256"] == hashlib.sha256(huge_value).hexdigest().encode()
    assert dict(bounded.headers)["dlq-value-bytes"] == str(len(huge_value)).encode()

    code, output = await cli(kafka_bootstrap, prefix, "parked", "list", *db, "--all", "--json")
    assert code == 0, output
    listed = {item["id"]: item for item in json.loads(output)}
    assert all(item["released_at"] is not None for item in listed.values())
    assert listed[dropped]["reason"].startswith("discarded: test data (was: the dead letter failed")
    assert "resent to " + contract.dead_letter_topic(topic) in listed[small]["reason"]
