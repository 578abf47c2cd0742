"""Which errors are transient, what a dead letter that would not fit becomes, and reasons without values."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord
from contracts.examples import example_payloads
from contracts.limits import DEAD_LETTER_EXCERPT_BYTES, MAX_HEADER_BYTES
from reliability.consumer import is_transient
from reliability.database import create_database_engine
from reliability.dead_letter import DEAD_LETTER_BOUND, dead_letter_of, message_bytes
from reliability.error_classes import safe_reason
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlalchemy.exc import IntegrityError, InternalError, OperationalError

from contracts import InvalidEvent, decode_event, new_event, topics
from tests.kit.kit_support import cancellation


def test_a_pool_timeout_is_transient(tmp_path):
    """sqlalchemy.exc.TimeoutError is no builtin TimeoutError: today it counts as a bug of the event."""
    engine = create_database_engine(f"sqlite:///{tmp_path}/pool.db", pool_size=1, max_overflow=0, pool_timeout=0.1)
    with engine.connect(), pytest.raises(Exception) as starved:
        engine.connect()
    assert type(starved.value).__module__ == "sqlalchemy.exc" and type(starved.value).__name__ == "TimeoutError"
    assert is_transient(starved.value)


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["40001", "40P01", "55P03"])
def test_serialisation_failures_deadlocks_and_lock_timeouts_are_transient_by_their_sqlstate(sqlstate):
    """A driver that reports them as another class than OperationalError (e.g. InternalError): today a bug."""
    assert is_transient(InternalError("UPDATE enrolment SET ...", {}, _DriverError(sqlstate)))
    assert not is_transient(InternalError("UPDATE enrolment SET ...", {}, _DriverError("23505")))


def test_a_lock_timeout_on_postgresql_is_transient(fresh_postgres_url):
    """The real thing: one transaction holds a row lock, the other's lock_timeout expires (SQLSTATE 55P03)."""
    engine = create_database_engine(fresh_postgres_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kit_lock (id int PRIMARY KEY)"))
        connection.execute(text("INSERT INTO kit_lock VALUES (1)"))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text("SELECT * FROM kit_lock WHERE id = 1 FOR UPDATE"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with engine.begin() as connection, pytest.raises(OperationalError) as timed_out:
            connection.execute(text("SET LOCAL lock_timeout = '100ms'"))
            connection.execute(text("SELECT * FROM kit_lock WHERE id = 1 FOR UPDATE"))
    finally:
        release.set()
        holder.join()
        engine.dispose()
    assert is_transient(timed_out.value)
    assert safe_reason(timed_out.value) == "OperationalError (LockNotAvailable, SQLSTATE 55P03)"


def test_a_bug_and_a_rejection_are_not_transient():
    assert not is_transient(KeyError("course-x"))
    assert not is_transient(InvalidEvent("data.enrolment_id: field required"))


def test_engines_hide_the_parameters_of_a_failed_statement(database_url):
    """SQLAlchemy's message carries the bound parameters unless the engine hides them: today it shows the e-mail."""
    engine = create_database_engine(database_url)
    learners = Table("kit_learner", MetaData(), Column("id", Integer, primary_key=True), Column("email", String(200)))
    learners.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(learners), {"id": 1, "email": "grace.hopper@example.org"})
    with engine.begin() as connection, pytest.raises(IntegrityError) as duplicate:
        connection.execute(insert(learners), {"id": 1, "email": "grace.hopper@example.org"})
    engine.dispose()
    # The duplicate is the id: PostgreSQL's DETAIL names only it; the e-mail could only come from the parameters.
    assert "grace.hopper" not in str(duplicate.value) and "hidden" in str(duplicate.value)
    assert "grace" not in safe_reason(duplicate.value) and "IntegrityError" in safe_reason(duplicate.value)


def record(value: bytes | None, headers=(), key: bytes | None = b"enr-1") -> ConsumerRecord:
    return ConsumerRecord(
        "t.enrolment.events", 2, 41, int(datetime.now(UTC).timestamp() * 1000), 0, key, value, None,
        len(key or b""), len(value or b""), list(headers),
    )  # fmt: skip


def test_a_dead_letter_that_fits_is_the_record_unchanged_with_the_kit_headers():
    value = cancellation("enr-1").to_kafka().value
    letter = dead_letter_of(record(value, [("origin", b"\x00\xff")]), "a reason", "billing")
    assert (letter.key, letter.value, letter.headers[0]) == (b"enr-1", value, ("origin", b"\x00\xff"))
    assert not letter.truncated and topics.DLQ_VALUE_SHA256 not in dict(letter.headers)


def test_huge_headers_are_cut_to_the_header_limit_and_the_envelope_fits():
    """Small value, a megabyte of headers: the copy would not fit; the envelope keeps the first headers only."""
    headers = [(f"h{n}", bytes(100_000)) for n in range(10)]
    letter = dead_letter_of(record(b"{}", headers), "a reason", "billing")
    kept = [(name, value) for name, value in letter.headers if name.startswith("h")]
    assert sum(len(name) + len(value) for name, value in kept) <= MAX_HEADER_BYTES and len(kept) < len(headers)
    found = dict(letter.headers)
    assert found[topics.DLQ_TRUNCATED] == b"headers" and letter.value == b"{}"
    assert found[topics.DLQ_VALUE_SHA256] == hashlib.sha256(b"{}").hexdigest().encode()
    assert message_bytes(letter) <= DEAD_LETTER_BOUND


def test_an_oversized_value_and_key_both_shrink_and_the_sha256_names_the_whole_value():
    value, key = bytes(range(256)) * 4000, b"k" * 100_000
    letter = dead_letter_of(record(value, key=key), "r" * 10_000, "billing")
    found = dict(letter.headers)
    assert letter.value == value[:DEAD_LETTER_EXCERPT_BYTES] and letter.key == key[:MAX_HEADER_BYTES]
    assert found[topics.DLQ_TRUNCATED] == b"value,key" and found[topics.DLQ_VALUE_BYTES] == b"1024000"
    assert found[topics.DLQ_VALUE_SHA256] == hashlib.sha256(value).hexdigest().encode()
    assert len(found[topics.DLQ_REASON]) == 4000 and message_bytes(letter) <= DEAD_LETTER_BOUND


def test_contract_rejections_name_the_field_not_the_personal_value():
    """describe_validation_error gives the path and pydantic's message; checked for the e-mail and names."""
    (example,) = [payload for payload in example_payloads() if payload.event_type == "EnrolmentCreated"]
    created = json.loads(new_event(example, source="/test/kit").to_kafka().value)
    created["data"]["student"].update(given_name="Ada" * 100, email="ada lovelace@example.org")
    with pytest.raises(InvalidEvent) as invalid:
        decode_event(json.dumps(created).encode(), key=created["subject"].encode())
    assert "data.student.email" in invalid.value.reason and "data.student.given_name" in invalid.value.reason
    assert "lovelace" not in invalid.value.reason and "AdaAda" not in invalid.value.reason
