"""Decoding from the raw bytes in one pass (`decode_event`) accepts and refuses exactly what the step-by-step
decoder does (`decode_event_stepwise`: json.loads, the envelope, then the payload), with the same reasons.

The step-by-step decoder is the contract as it was checked before the one-pass decoder; the one-pass validator
is Pydantic's JSON parser, which differs from `json.loads` at the edges (NaN, lone surrogates, duplicate keys,
deep nesting, huge numbers), so those edges and the fuzz campaign's whole generator are run through both.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from contracts.envelope import decode_event_stepwise
from contracts.examples import example_events

from contracts import EVENT_TYPES, InvalidEvent, decode_event
from tests.fuzz.inputs import Generator

ENROLMENT_TYPES = {name: model for name, model in EVENT_TYPES.items() if model.topic == "enrolment.events"}


def outcome(decoder: Any, value: bytes | None, key: bytes | None, types: Any) -> object:
    try:
        return decoder(value, key=key, known_types=types)
    except InvalidEvent as invalid:
        return ("refused", invalid.reason)


def both(value: bytes | None, key: bytes | None = None, types: Any = None) -> tuple[object, object]:
    return outcome(decode_event, value, key, types), outcome(decode_event_stepwise, value, key, types)


def created_document() -> dict[str, Any]:
    return example_events()["EnrolmentCreated"].to_json()


def edited(edit: Any) -> bytes:
    document = created_document()
    edit(document)
    return json.dumps(document).encode()


EDGES: dict[str, bytes] = {
    "valid": json.dumps(created_document()).encode(),
    "NaN credits": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(credits=float("nan"))),
    "Infinity credits": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(credits=float("inf"))),
    "huge integer credits": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(credits=10**400)),
    "credits as a float": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(credits=6.0)),
    "semester as a string": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(semester="1")),
    "semester as true": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(semester=True)),
    "semester as 1.0": edited(lambda d: d["data"]["microcredential"]["courses"][0].update(semester=1.0)),
    "time as a number": edited(lambda d: d.update(time=1_790_000_000)),
    "enrolled_at as a number": edited(lambda d: d["data"].update(enrolled_at=1_790_000_000)),
    "lone surrogate in a name": edited(lambda d: d["data"]["student"].update(given_name="\ud800")),
    "lone surrogate in an ignored field": edited(lambda d: d["data"].update(note="\udfff")),
    "escaped NUL in a name": edited(lambda d: d["data"]["student"].update(given_name="a\u0000b")),
    "data as a list": edited(lambda d: d.update(data=[1, 2])),
    "data as null": edited(lambda d: d.update(data=None)),
    "type of another topic": edited(lambda d: d.update(type="TuitionInvoiced")),
    "type in another case": edited(lambda d: d.update(type="enrolmentcreated")),
    "type as a number": edited(lambda d: d.update(type=7)),
    "datacontenttype with parameters": edited(lambda d: d.update(datacontenttype="application/JSON; charset=utf-8")),
    "datacontenttype xml": edited(lambda d: d.update(datacontenttype="application/xml")),
    "xml content type and bad data": edited(lambda d: d.update(datacontenttype="text/xml", data={"x": 1})),
    "subject of another enrolment": edited(lambda d: d.update(subject="someone-else")),
    "specversion 1.1": edited(lambda d: d.update(specversion="1.1")),
    "extension attribute": edited(lambda d: d.update(partitionkey="p")),
    "nested 150 deep in an ignored field": edited(lambda d: d["data"].update(deep=json.loads("[" * 150 + "]" * 150))),
    "nested 900 deep in an ignored field": edited(lambda d: d["data"].update(deep=json.loads("[" * 900 + "]" * 900))),
}
RAW_EDGES: dict[str, bytes] = {
    "duplicate type key, the last valid": EDGES["valid"].replace(b'{"specversion"', b'{"type": "Nope", "specversion"'),
    "duplicate type key, the last invalid": EDGES["valid"][:-1] + b', "type": "Nope"}',
    "bare NaN token": EDGES["valid"][:-1] + b', "x": NaN}',
    "bare -Infinity token": EDGES["valid"][:-1] + b', "x": -Infinity}',
    "trailing comma": EDGES["valid"][:-1] + b",}",
    "trailing garbage": EDGES["valid"] + b" x",
    "trailing whitespace": EDGES["valid"] + b" \n\t",
    "leading BOM": b"\xef\xbb\xbf" + EDGES["valid"],
    "invalid UTF-8 in an ignored field": EDGES["valid"][:-1] + b', "x": "\xff\xfe"}',
    "overlong UTF-8": EDGES["valid"][:-1] + b', "x": "\xc0\xaf"}',
    "raw control character in a string": EDGES["valid"][:-1] + b', "x": "a\x01b"}',
    "deep array": b"[" * 5000 + b"]" * 5000,
    "a number": b"12",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(EDGES.keys() | RAW_EDGES.keys()))
def test_one_pass_and_stepwise_decoding_agree_at_the_edges_of_json(name: str) -> None:
    value = EDGES.get(name) or RAW_EDGES[name]
    key = example_events()["EnrolmentCreated"].subject.encode()
    for types in (None, ENROLMENT_TYPES):
        fast, stepwise = both(value, key, types)
        assert fast == stepwise


def test_one_pass_and_stepwise_decoding_agree_on_the_fuzz_campaigns_inputs() -> None:
    entry = example_events()["MicroCredentialPublished"].data.model_dump(mode="json")
    catalogue = {entry["microcredential_id"]: entry | {"id": entry["microcredential_id"]}}
    generator = Generator(seed=20261201, catalogue=catalogue)
    accepted = 0
    for bad in generator.stream(1500):
        types = {name: model for name, model in EVENT_TYPES.items() if model.topic == bad.topic}
        fast, stepwise = both(bad.value, bad.key, types)
        assert fast == stepwise, bad.kind
        accepted += not isinstance(fast, tuple)
    assert accepted > 100  # the valid-on-the-wire kinds (wrong source, unknown enrolment, ...) are in the stream


def test_an_event_is_serialised_from_the_json_new_event_checked_and_a_replaced_one_from_its_own() -> None:
    event = example_events()["EnrolmentCreated"]
    expected = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False).encode()
    assert event.to_kafka().value == expected
    forged = dataclasses.replace(event, source="/campus/intruder")
    assert json.loads(forged.to_kafka().value)["source"] == "/campus/intruder"
