"""Size discipline: every string and list of the contract is bounded, and the largest event the bounds allow
fits in the maximum event size, with room to spare."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from contracts.limits import MAX_EVENT_BYTES

from contracts import EVENT_TYPES, CloudEvent, EventPayload, InvalidEvent, decode_event
from contracts.schemas import all_event_schemas
from tests.contracts import worst_case
from tests.contracts.contract_support import EXAMPLES, message, schema_validator

# The credential document is the one open object: its content is what certification builds from bounded inputs
# (the worst case below builds it), and the whole event is bounded by MAX_EVENT_BYTES.
OPEN_OBJECTS = {("CredentialIssued", "data.credential")}
_CHARACTER_CLASS = re.compile(r"\[(?:\\.|[^\]])*\]")
_UNBOUNDED_REPEAT = re.compile(r"(?<!\\)[+*]|\{\d+,\}")


def _repeats_without_bound(pattern: str) -> bool:
    return _UNBOUNDED_REPEAT.search(_CHARACTER_CLASS.sub("", pattern)) is not None


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _unbounded(node: dict[str, Any], root: dict[str, Any], path: str) -> Iterator[str]:
    node = _resolve(node, root)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(key, []):
            yield from _unbounded(branch, root, path)
    kind = node.get("type")
    if "const" in node or "enum" in node:
        return
    if kind == "string" and "maxLength" not in node and _repeats_without_bound(node.get("pattern", "+")):
        yield f"{path}: string without maxLength"
    if kind == "array":
        if "maxItems" not in node:
            yield f"{path}: array without maxItems"
        yield from _unbounded(node.get("items", {}), root, path + "[]")
    for name, sub in node.get("properties", {}).items():
        yield from _unbounded(sub, root, f"{path}.{name}" if path else name)


@pytest.mark.parametrize("type_name", list(EVENT_TYPES))
def test_every_string_and_list_of_the_schema_is_bounded(type_name: str) -> None:
    schema = all_event_schemas()[type_name]
    found = [line for line in _unbounded(schema, schema, "") if (type_name, line.split(":")[0]) not in OPEN_OBJECTS]
    assert found == []


# --- the largest events --------------------------------------------------------------------------------------

LARGEST: dict[str, Callable[[], CloudEvent[EventPayload]]] = {
    "EnrolmentCreated": worst_case.largest_enrolment_created,
    "CourseCompleted": worst_case.largest_course_completed,
    "MicroCredentialPublished": worst_case.largest_catalogue_event,
    "CredentialIssued": worst_case.largest_credential_issued,
}
# Room left for fields added later without revisiting every bound.
HEADROOM = 0.15


@pytest.mark.parametrize("type_name", list(LARGEST))
def test_the_largest_event_the_bounds_allow_fits_under_the_limit(type_name: str) -> None:
    record = LARGEST[type_name]().to_kafka()
    assert decode_event(record.value, key=record.key).type == type_name
    size = len(record.value)
    print(f"largest {type_name}: {size} bytes, {size / MAX_EVENT_BYTES:.1%} of {MAX_EVENT_BYTES}")
    assert size <= MAX_EVENT_BYTES * (1 - HEADROOM)


@pytest.mark.parametrize("type_name", ["EnrolmentCreated", "CourseCompleted"])
def test_campus_events_fit_even_when_every_character_is_escaped(type_name: str) -> None:
    # Campus systems may encode with \u escapes (Python's json.dumps does by default): 12 bytes per character.
    event = LARGEST[type_name]()
    value = json.dumps(event.to_json()).encode("ascii")
    assert len(value) <= MAX_EVENT_BYTES
    assert decode_event(value, key=event.subject.encode()).type == type_name


def test_the_largest_credential_still_describes_every_course() -> None:
    credential = worst_case.largest_credential_issued().data
    subject = credential.model_dump()["credential"]["credentialSubject"]
    assert len(subject["result"]) == worst_case.bound(worst_case.MicroCredentialPublished, "courses", "maxItems")


# --- each bound, at the maximum and one over -------------------------------------------------------------------

_COURSE = EXAMPLES["EnrolmentCreated"].to_json()["data"]["microcredential"]["courses"][0]
_LINE = EXAMPLES["TuitionInvoiced"].to_json()["data"]["lines"][0]


def _courses(count: int) -> list[dict[str, Any]]:
    return [{**_COURSE, "id": f"C-{index}"} for index in range(count)]


# (what, event type, path, value at the maximum, value one over)
EDGES = [
    ("courses per micro-credential", "EnrolmentCreated", "data.microcredential.courses", _courses(40), _courses(41)),
    ("catalogue courses", "MicroCredentialPublished", "data.courses", _courses(40), _courses(41)),
    ("learning outcomes", "MicroCredentialPublished", "data.learning_outcomes", ["Do X"] * 20, ["Do X"] * 21),
    ("learning outcome length", "MicroCredentialPublished", "data.learning_outcomes.0", "é" * 300, "é" * 301),
    ("invoice lines", "TuitionInvoiced", "data.lines", [_LINE, {**_LINE, "semester": 2}], [_LINE] * 3),
    ("given name", "EnrolmentCreated", "data.student.given_name", "ß" * 200, "ß" * 201),
    ("course title", "MicroCredentialPublished", "data.courses.0.title", "T" * 200, "T" * 201),
    ("micro-credential title", "MicroCredentialPublished", "data.title", "T" * 300, "T" * 301),
    ("student id", "EnrolmentCreated", "data.student.id", "S" * 64, "S" * 65),
    ("event id", "EnrolmentCreated", "id", "i" * 128, "i" * 129),
    ("cancellation reason", "EnrolmentCancelled", "data.reason", "r" * 1000, "r" * 1001),
    ("grade", "CourseCompleted", "data.grade.value", "9" * 20, "9" * 21),
    ("credential URL", "CredentialIssued", "data.credential_url", "https://x.example/" + "u" * 1982, "h" * 2001),
]


@pytest.mark.parametrize(("what", "type_name", "path", "at_max", "over"), EDGES, ids=[edge[0] for edge in EDGES])
def test_each_bound_takes_its_maximum_and_refuses_one_more(
    what: str, type_name: str, path: str, at_max: Any, over: Any
) -> None:
    key = EXAMPLES[type_name].subject.encode()
    good, bad = message(type_name, {path: at_max}), message(type_name, {path: over})
    if type_name == "TuitionInvoiced":
        good["data"]["total"] = "340.00"
    assert decode_event(json.dumps(good).encode(), key=key).type == type_name
    assert schema_validator(type_name).is_valid(good)
    with pytest.raises(InvalidEvent, match=re.escape(path)):
        decode_event(json.dumps(bad).encode(), key=key)
    assert not schema_validator(type_name).is_valid(bad)


# --- the value itself ----------------------------------------------------------------------------------------


def test_a_value_over_the_maximum_event_size_is_refused_before_parsing() -> None:
    value = json.dumps(message("EnrolmentCancelled", {"data.note": "x" * MAX_EVENT_BYTES})).encode()
    with pytest.raises(InvalidEvent, match=f"over the contract's maximum of {MAX_EVENT_BYTES}"):
        decode_event(value)


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_deeply_nested_json_is_an_invalid_event_not_a_crash(opening: bytes) -> None:
    # 30,000 levels is 180 KB at most: within the size limit, and far past the parser's recursion limit.
    closing = b"]" if opening == b"[" else b"}"
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        decode_event(opening * 30_000 + b"1" + closing * 30_000)


def test_the_maximum_event_size_is_stated_in_every_schema() -> None:
    for schema in all_event_schemas().values():
        assert f"At most {MAX_EVENT_BYTES} bytes" in schema["description"]
