"""Interoperability with the official CloudEvents Python SDK (package `cloudevents` 2.x), both of its APIs:

* `cloudevents.core` (2.x): `cloudevents.core.bindings.kafka` with `JSONFormat`;
* `cloudevents.v1` (the 1.x API, formerly `cloudevents.kafka` / `cloudevents.conversion`).

Events the SDK writes in structured mode, with extension attributes, must decode with `decode_event`; events we
write must read back in the SDK with the same attributes and data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as core_kafka
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent
from cloudevents.v1 import kafka as v1_kafka
from cloudevents.v1.http import CloudEvent as V1CloudEvent
from contracts.examples import example_events

from contracts import CONTENT_TYPE, EVENT_TYPES, CloudEvent, EventPayload, InvalidEvent, decode_event

EXAMPLES = example_events()
TYPES = list(EVENT_TYPES)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _attributes(event: CloudEvent[EventPayload]) -> dict[str, Any]:
    return {key: value for key, value in event.to_json().items() if key != "data"}


def _data(event: CloudEvent[EventPayload]) -> dict[str, Any]:
    return event.to_json()["data"]


# --- SDK -> decode_event ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_core_sdk_structured_message_with_partitionkey_decodes(type_name: str) -> None:
    ours = EXAMPLES[type_name]
    attributes = {**_attributes(ours), "time": ours.time, "partitionkey": ours.subject, "traceparent": TRACEPARENT}
    sdk_event = CoreCloudEvent(attributes=attributes, data=_data(ours))

    message = core_kafka.to_structured(sdk_event, JSONFormat(), key_mapper=lambda event: event.get_subject())

    assert message.headers == {"content-type": CONTENT_TYPE.encode()}
    assert json.loads(message.value)["partitionkey"] == ours.subject
    key = message.key.encode() if isinstance(message.key, str) else message.key
    assert decode_event(message.value, key=key) == ours


def test_core_sdk_default_key_mapper_uses_partitionkey() -> None:
    ours = EXAMPLES["CourseCompleted"]
    sdk_event = CoreCloudEvent(
        attributes={**_attributes(ours), "time": ours.time, "partitionkey": ours.subject}, data=_data(ours)
    )
    message = core_kafka.to_structured_event(sdk_event)
    assert message.key == ours.subject
    assert decode_event(message.value, key=ours.subject.encode()) == ours


@pytest.mark.parametrize("type_name", TYPES)
def test_v1_sdk_structured_message_with_partitionkey_decodes(type_name: str) -> None:
    ours = EXAMPLES[type_name]
    sdk_event = V1CloudEvent({**_attributes(ours), "partitionkey": ours.subject}, _data(ours))

    message = v1_kafka.to_structured(sdk_event, key_mapper=lambda event: event["subject"])

    value = json.loads(message.value)
    assert value["partitionkey"] == ours.subject
    # The 1.x API moves datacontenttype out of the value into the Kafka content-type header (so the header says
    # application/json, not application/cloudevents+json). decode_event reads a missing one as application/json.
    assert "datacontenttype" not in value
    assert message.headers == {"content-type": b"application/json"}
    assert decode_event(message.value, key=message.key.encode()) == ours


def test_sdk_generated_id_and_time_are_accepted() -> None:
    ours = EXAMPLES["EnrolmentCancelled"]
    minimal = {"type": ours.type, "source": ours.source, "subject": ours.subject}

    # Copies: both SDKs fill in the defaults by writing into the dict they are given.
    core_message = core_kafka.to_structured_event(CoreCloudEvent(attributes=dict(minimal), data=_data(ours)))
    v1_message = v1_kafka.to_structured(V1CloudEvent(dict(minimal), _data(ours)))

    for value in (core_message.value, v1_message.value):
        decoded = decode_event(value, key=ours.subject.encode())
        assert decoded.data == ours.data
        assert decoded.time.utcoffset() is not None
        assert 1 <= len(decoded.id) <= 128


def test_sdk_event_with_a_time_without_offset_is_rejected_naming_time() -> None:
    ours = EXAMPLES["EnrolmentCancelled"]
    local_time = "2026-11-20T16:05:01"  # a producer that forgot the time zone
    # The 2.x API refuses a naive time itself; the 1.x API passes any string through.
    with pytest.raises(CloudEventValidationError, match="timezone aware"):
        CoreCloudEvent(attributes={**_attributes(ours), "time": datetime.fromisoformat(local_time)}, data=_data(ours))
    message = v1_kafka.to_structured(V1CloudEvent({**_attributes(ours), "time": local_time}, _data(ours)))
    with pytest.raises(InvalidEvent, match=r"^not a valid CloudEvent: time: "):
        decode_event(message.value, key=ours.subject.encode())


def test_binary_mode_is_not_the_contract_and_says_so() -> None:
    ours = EXAMPLES["EnrolmentCancelled"]
    message = core_kafka.to_binary_event(
        CoreCloudEvent(attributes={**_attributes(ours), "time": ours.time}, data=_data(ours))
    )
    assert "ce_type" in message.headers
    with pytest.raises(InvalidEvent, match=r"^not a valid CloudEvent: specversion: Field required"):
        decode_event(message.value, key=ours.subject.encode())


# --- new_event(...).to_kafka() -> SDK -----------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_our_record_reads_back_in_the_core_sdk(type_name: str) -> None:
    ours = EXAMPLES[type_name]
    record = ours.to_kafka()
    message = core_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)

    for sdk_event in (
        core_kafka.from_structured(message, JSONFormat()),
        core_kafka.from_kafka_event(message),  # content mode detected from the headers: structured
    ):
        attributes = sdk_event.get_attributes()
        assert attributes == {
            "specversion": "1.0",
            "id": ours.id,
            "source": ours.source,
            "type": ours.type,
            "time": ours.time,
            "subject": ours.subject,
            "datacontenttype": "application/json",
            "partitionkey": ours.subject,  # the SDK exposes the Kafka key as this extension
        }
        assert attributes["time"].utcoffset() == ours.time.utcoffset()
        assert sdk_event.get_data() == _data(ours)


@pytest.mark.parametrize("type_name", TYPES)
def test_our_record_reads_back_in_the_v1_sdk(type_name: str) -> None:
    ours = EXAMPLES[type_name]
    record = ours.to_kafka()
    sdk_event = v1_kafka.from_structured(v1_kafka.KafkaMessage(dict(record.headers), record.key, record.value))

    attributes = sdk_event.get_attributes()
    expected = {key: value for key, value in _attributes(ours).items() if key != "datacontenttype"}
    assert {key: attributes[key] for key in expected} == expected
    assert datetime.fromisoformat(attributes["time"]) == ours.time
    assert attributes["partitionkey"] == record.key
    # The 1.x API copies every Kafka header into the attributes, so our content-type header overrides datacontenttype.
    assert attributes["datacontenttype"] == CONTENT_TYPE
    assert sdk_event.get_data() == _data(ours)


def test_sdk_round_trip_keeps_utc_and_offsets() -> None:
    ours = EXAMPLES["CourseCompleted"]
    for time in (datetime(2027, 1, 25, 13, 3, tzinfo=UTC), ours.time):
        sdk_event = CoreCloudEvent(attributes={**_attributes(ours), "time": time}, data=_data(ours))
        decoded = decode_event(core_kafka.to_structured_event(sdk_event).value)
        assert decoded.time == time
        assert decoded.time.utcoffset() == time.utcoffset()
