"""A record's value is the bytes `json.dumps` writes of the event's JSON (compact, UTF-8 unescaped), whichever
serialiser `contracts.envelope.serialised` takes: a rebuild must publish what was published before.

`json.dumps` of `to_json()` is the reference here because it is how every value was written before Pydantic's
serialiser took over the payloads that cannot hold a float.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic_core
import pytest
from contracts.envelope import _json_is_exact, serialised
from contracts.examples import example_events
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from contracts import EVENT_TYPES, CloudEvent, CredentialIssued, decode_event, new_event
from tests.fuzz.inputs import Generator


def reference(event: CloudEvent[Any]) -> bytes:
    return json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_every_example_event_is_written_as_json_dumps_writes_it() -> None:
    for name, event in example_events().items():
        assert event.to_kafka().value == reference(event), name
        decoded = decode_event(event.to_kafka().value, key=event.subject.encode())
        assert decoded.to_kafka().value == reference(decoded), name  # built again, not the one new_event kept


def test_the_fuzz_campaigns_valid_inputs_are_written_as_json_dumps_writes_them() -> None:
    # Its unicode edits put accents, other scripts, emoji, tabs and line breaks where the contract allows them.
    entry = example_events()["MicroCredentialPublished"].data.model_dump(mode="json")
    catalogue = {entry["microcredential_id"]: entry | {"id": entry["microcredential_id"]}}
    written = 0
    for bad in Generator(seed=20261206, catalogue=catalogue).stream(1500):
        types = {name: model for name, model in EVENT_TYPES.items() if model.topic == bad.topic}
        try:
            event = decode_event(bad.value, key=bad.key, known_types=types)
        except ValueError:
            continue
        assert event.to_kafka().value == reference(event), bad.kind
        written += 1
    assert written > 100


@given(st.text())
def test_pydantics_serialiser_writes_any_text_as_json_dumps_does(text: str) -> None:
    # Control characters, C1, U+2028/9, quotes, backslashes, astral planes: more than the contract lets in.
    assert pydantic_core.to_json(text) == json.dumps(text, ensure_ascii=False).encode("utf-8")


@given(st.integers())
def test_pydantics_serialiser_writes_integers_as_json_dumps_does(number: int) -> None:
    # Amounts and credits are strings on the wire (the contract's serialisers write them); integers are not.
    assert pydantic_core.to_json(number) == json.dumps(number).encode()


def test_a_payload_that_can_hold_a_float_is_written_by_json_dumps() -> None:
    example = example_events()["CredentialIssued"]
    credential = {**example.data.credential, "score": 1e-7}
    payload = CredentialIssued.model_validate({**example.data.model_dump(), "credential": credential})
    event = new_event(payload, source="/services/certification", time=datetime(2027, 1, 4, tzinfo=UTC))
    assert b'"score":1e-07' in event.to_kafka().value  # Pydantic writes 1e-7
    assert event.to_kafka().value == reference(event)


def test_only_models_whose_fields_cannot_hold_a_float_take_pydantics_serialiser() -> None:
    class WithFloat(BaseModel):
        ratio: float

    class WithAny(BaseModel):
        extra: dict[str, Any]

    class Nested(BaseModel):
        inner: list[WithFloat]

    class Plain(BaseModel):
        name: str
        amount: Decimal
        count: int | None = None

    assert not any(_json_is_exact(model) for model in (WithFloat, WithAny, Nested))
    assert _json_is_exact(Plain)
    assert not _json_is_exact(CredentialIssued)
    assert _json_is_exact(EVENT_TYPES["TuitionInvoiced"]) and _json_is_exact(EVENT_TYPES["EnrolmentCreated"])


def test_a_lone_surrogate_fails_as_it_did_before() -> None:
    example = example_events()["TuitionInvoiced"]
    attributes = {**example.attributes(), "subject": "\ud800"}
    with pytest.raises(UnicodeEncodeError):
        serialised(attributes, example.data)
