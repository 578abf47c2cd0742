"""Every rule of the contract, with a valid and an invalid value, and a reason that names the field."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from contracts.examples import example_events, example_payloads

from contracts import EVENT_TYPES, CloudEvent, EventPayload, InvalidEvent, decode_event, new_event
from tests.contracts.contract_support import DELETE, message

EXAMPLES = example_events()
_DELETE = DELETE


def decode(value: dict[str, Any], key: str | None = None) -> CloudEvent[EventPayload]:
    return decode_event(json.dumps(value).encode("utf-8"), key=None if key is None else key.encode("utf-8"))


def reason(value: dict[str, Any], key: str | None = None) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode(value, key)
    return caught.value.reason


# (rule, event type, field path, valid values, invalid values); the error must name the path.
RULES: list[tuple[str, str, str, list[Any], list[Any]]] = [
    ("semester 1 or 2", "EnrolmentCreated", "data.microcredential.courses.0.semester", [1, 2], [3, 0, "1"]),
    (
        "credits > 0, at most one decimal",
        "EnrolmentCreated",
        "data.microcredential.courses.0.credits",
        ["6", "1.5", "0.5", 3, 2.5, "999.9"],
        [-1, 0, 1.25, "-1", "0", "0.0", "1.25", "007", "1000", 1000, True, "six", None],
    ),
    (
        "invoice line credits >= 0",
        "TuitionInvoiced",
        "data.lines.0.credits",
        ["3", 3],
        [-1, "1.25", False],
    ),
    (
        "money: decimal string with 2 decimals",
        "EnrolmentCreated",
        "data.tuition.fixed_fee",
        ["100.00", "0.00", "123456789012.00"],
        [100.0, 100, "100", "100.5", "100.000", "-100.00", "1e2", "1,00", "1234567890123.00"],
    ),
    (
        "currency: ISO 4217",
        "EnrolmentCreated",
        "data.tuition.currency",
        ["EUR", "CHF", "GBP"],
        ["EURO", "eur", "ZWL", "XXX", ""],
    ),
    (
        "instant: RFC 3339 with offset",
        "EnrolmentCreated",
        "data.enrolled_at",
        [
            "2026-09-01T09:30:00+02:00",
            "2026-09-01T07:30:00Z",
            "2026-09-01T07:30:00.123456Z",
            "2026-09-01 07:30:00-05:00",
        ],
        ["2026-09-01T09:30:00", "2026-09-01", "2026-09-01T09:30+02:00", "2026-09-01T09:30:00+0200", 1788253800, "soon"],
    ),
    (
        "envelope time: RFC 3339 with offset",
        "EnrolmentCreated",
        "time",
        ["2026-09-01T09:30:02+02:00", "2026-09-01T07:30:02Z"],
        ["2026-09-01T09:30:02", 1788253800],
    ),
    (
        "academic year: consecutive years",
        "TuitionInvoiced",
        "data.academic_year",
        ["2026-2027"],
        ["2026-2028", "2026/2027", "26-27"],
    ),
    ("email", "EnrolmentCreated", "data.student.email", ["a.b@example.org"], ["not-an-email", ""]),
    ("specversion 1.0", "EnrolmentCreated", "specversion", ["1.0"], ["0.3", "1", 1.0, _DELETE]),
    ("id: 1-128 characters", "EnrolmentCreated", "id", ["x", "x" * 128], ["", "x" * 129, _DELETE]),
    (
        "source: URI-reference",
        "EnrolmentCreated",
        "source",
        ["/campus/student-administration", "urn:campus:sis", "https://sis.example.edu/events"],
        ["campus student administration", "/campus/étudiants", "", _DELETE],
    ),
    ("catalogue format", "MicroCredentialPublished", "data.format", ["online", "hybrid"], ["weekend", ""]),
    ("EQF level 1-8", "MicroCredentialPublished", "data.eqf_level", [1, 8, None], [0, 9, "six"]),
    (
        "awarding body country",
        "MicroCredentialPublished",
        "data.awarding_body.country",
        ["BE", "NL"],
        ["Belgium", "be"],
    ),
    (
        "at least one course",
        "EnrolmentCreated",
        "data.microcredential.courses",
        [EXAMPLES["EnrolmentCreated"].to_json()["data"]["microcredential"]["courses"][:1]],
        [[]],
    ),
    ("required payload field", "EnrolmentCreated", "data.tuition", [], [_DELETE, None]),
    ("data is an object", "EnrolmentCreated", "data", [], [[], "text", _DELETE]),
]


def _cases(valid: bool) -> list[Any]:
    cases = []
    for rule, type_name, path, good, bad in RULES:
        for value in good if valid else bad:
            label = "<missing>" if value is _DELETE else repr(value)[:40]
            cases.append(pytest.param(type_name, path, value, id=f"{rule}: {label}"))
    return cases


@pytest.mark.parametrize(("type_name", "path", "value"), _cases(valid=True))
def test_valid_value_is_accepted(type_name: str, path: str, value: Any) -> None:
    event = decode(message(type_name, {path: value}), key=EXAMPLES[type_name].subject)
    assert event.type == type_name


@pytest.mark.parametrize(("type_name", "path", "value"), _cases(valid=False))
def test_invalid_value_is_rejected_naming_the_field(type_name: str, path: str, value: Any) -> None:
    text = reason(message(type_name, {path: value}), key=EXAMPLES[type_name].subject)
    assert f"{path}:" in text or f"{path}." in text, text


def test_money_as_float_says_it_must_be_a_string() -> None:
    text = reason(message("EnrolmentCreated", {"data.tuition.per_credit": 40.0}))
    assert text.startswith("invalid EnrolmentCreated data: data.tuition.per_credit:")
    assert "decimal string with 2 decimals" in text
    assert "not a JSON number" in text


def test_credits_reasons_say_what_is_allowed() -> None:
    path = "data.microcredential.courses.0.credits"
    assert "greater than 0 with at most one decimal" in reason(message("EnrolmentCreated", {path: 1.25}))
    assert "greater than 0" in reason(message("EnrolmentCreated", {path: 0}))
    assert "got '-1'" in reason(message("EnrolmentCreated", {path: -1}))


def test_decoded_values_are_exact() -> None:
    event = decode(message("EnrolmentCreated", {"data.microcredential.courses.0.credits": 2.5}))
    course = event.data.microcredential.courses[0]  # type: ignore[attr-defined]
    assert course.credits == Decimal("2.5")
    assert event.data.tuition.fixed_fee == Decimal("100.00")  # type: ignore[attr-defined]
    assert event.data.enrolled_at.utcoffset() is not None  # type: ignore[attr-defined]


# --- enrolment_id, subject and key ------------------------------------------------------------------------------


@pytest.mark.parametrize("enrolment_id", ["ENR-2026-000123", "a.b_c:d-1", "E" * 64, "7"])
def test_valid_enrolment_ids(enrolment_id: str) -> None:
    value = message("EnrolmentCancelled", {"data.enrolment_id": enrolment_id, "subject": enrolment_id})
    assert decode(value, key=enrolment_id).subject == enrolment_id


@pytest.mark.parametrize("enrolment_id", ["ENR 2026", "E" * 65, "", "ENR/1", "ENRé"])
def test_invalid_enrolment_ids_name_the_field(enrolment_id: str) -> None:
    # The payload is checked before subject and key are compared with it, so the reason names the payload field.
    value = message("EnrolmentCancelled", {"data.enrolment_id": enrolment_id})
    assert "data.enrolment_id:" in reason(value, key=enrolment_id)


def test_duplicate_course_ids_are_rejected() -> None:
    courses = message("EnrolmentCreated")["data"]["microcredential"]["courses"]
    courses[1]["id"] = courses[0]["id"]
    text = reason(message("EnrolmentCreated", {"data.microcredential.courses": courses}))
    assert "data.microcredential.courses:" in text
    assert "course ids must be unique; repeated: DL-1" in text


def test_duplicate_course_ids_in_the_catalogue_are_rejected() -> None:
    courses = message("MicroCredentialPublished")["data"]["courses"]
    text = reason(message("MicroCredentialPublished", {"data.courses": [courses[0], courses[0]]}))
    assert "data.courses:" in text


def test_totals_must_add_up() -> None:
    text = reason(message("TuitionInvoiced", {"data.total": "341.00"}))
    assert "total 341.00 is not the sum of the lines and the fixed fee (340.00)" in text


def test_subject_must_equal_the_enrolment_id() -> None:
    text = reason(message("EnrolmentCreated", {"subject": "ENR-2026-000999"}))
    assert text == "subject 'ENR-2026-000999' does not match the event's 'ENR-2026-000123'"


def test_catalogue_subject_is_year_and_id() -> None:
    assert decode(message("MicroCredentialPublished"), key="2026-2027/MC-DATA-101").subject == "2026-2027/MC-DATA-101"
    text = reason(message("MicroCredentialPublished", {"subject": "MC-DATA-101"}))
    assert "subject 'MC-DATA-101'" in text


def test_kafka_key_must_equal_the_subject() -> None:
    value = message("EnrolmentCreated")
    assert decode(value, key="ENR-2026-000123").subject == "ENR-2026-000123"
    text = reason(value, key="ENR-2026-000124")
    assert "Kafka key" in text
    assert "subject 'ENR-2026-000123'" in text


def test_key_that_is_not_utf8_never_matches() -> None:
    with pytest.raises(InvalidEvent, match="Kafka key"):
        decode_event(json.dumps(message("EnrolmentCreated")).encode(), key=b"\xff\xfe")


# --- type and envelope ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_name", ["EnrolmentUpdated", "enrolmentcreated", "EnrolmentCreated.v2", "EnrolmentCreated "]
)
def test_unknown_type_is_rejected(type_name: str) -> None:
    text = reason(message("EnrolmentCreated", {"type": type_name}))
    assert text.startswith(f"unknown event type {type_name!r}")
    assert "EnrolmentCreated" in text


def test_known_types_can_be_limited_per_topic() -> None:
    value = json.dumps(message("CourseCompleted")).encode()
    enrolment_only = {name: model for name, model in EVENT_TYPES.items() if model.topic == "enrolment.events"}
    with pytest.raises(InvalidEvent, match="unknown event type 'CourseCompleted'"):
        decode_event(value, known_types=enrolment_only)


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON", _DELETE]
)
def test_json_datacontenttype_is_accepted(content_type: Any) -> None:
    assert decode(message("EnrolmentCreated", {"datacontenttype": content_type})).type == "EnrolmentCreated"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/cloudevents+json"])
def test_other_datacontenttype_is_rejected(content_type: str) -> None:
    assert "datacontenttype must be 'application/json'" in reason(
        message("EnrolmentCreated", {"datacontenttype": content_type})
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "message has no value (tombstone)"),
        (b"\xff\xfe{}", "value is not UTF-8"),
        (b"{not json", "value is not JSON"),
        (b"[1, 2]", "value is JSON list, expected a CloudEvents object"),
    ],
)
def test_values_that_are_not_a_json_object(value: bytes | None, expected: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(expected)):
        decode_event(value)


# --- tolerant reader --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extensions",
    [
        {"partitionkey": "ENR-2026-000123"},
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "campus=1"},
        {"dataschema": "https://example.edu/schemas/EnrolmentCreated.json", "campusextension": {"any": ["thing"]}},
    ],
)
def test_unknown_envelope_attributes_are_ignored(extensions: dict[str, Any]) -> None:
    value = {**message("EnrolmentCreated"), **extensions}
    assert decode(value, key="ENR-2026-000123") == EXAMPLES["EnrolmentCreated"]


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("data.scholarship", {"granted": True, "amount": "50.00"}),
        ("data.student.preferred_name", "Ada"),
        ("data.microcredential.courses.0.lecturer", "Dr. Janssens"),
        ("data.tuition.vat_rate", 0.21),
    ],
)
def test_unknown_data_fields_are_ignored(path: str, extra: Any) -> None:
    assert decode(message("EnrolmentCreated", {path: extra})) == EXAMPLES["EnrolmentCreated"]


# --- producing --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", list(EVENT_TYPES))
def test_every_example_round_trips_through_kafka_bytes(type_name: str) -> None:
    event = EXAMPLES[type_name]
    record = event.to_kafka()
    assert record.topic == EVENT_TYPES[type_name].topic
    assert record.key == event.subject.encode("utf-8")
    assert record.headers == [("content-type", b"application/cloudevents+json")]
    assert decode_event(record.value, key=record.key) == event


def test_new_event_fills_id_and_time() -> None:
    payload = example_payloads()[1]
    first, second = new_event(payload, source="/campus/sis"), new_event(payload, source="/campus/sis")
    assert first.id != second.id
    assert first.time.utcoffset() is not None
    assert first.subject == "ENR-2026-000123"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": "campus student administration"}, "source"),
        ({"source": ""}, "source"),
        ({"source": "/campus/sis", "event_id": ""}, "id"),
        ({"source": "/campus/sis", "event_id": "x" * 129}, "id"),
        ({"source": "/campus/sis", "time": datetime(2026, 9, 1, 9, 30)}, "time"),
    ],
)
def test_new_event_refuses_an_envelope_that_breaks_the_contract(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent, match=f"not a valid CloudEvent: {field}:"):
        new_event(example_payloads()[1], **kwargs)
