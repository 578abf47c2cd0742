"""The CloudEvents 1.0 envelope in structured JSON mode, and the Kafka record it travels in.

Kafka key = the event's subject (the enrolment id) in UTF-8, so all events of one enrolment share a partition
and keep their order. Value = one CloudEvents JSON object; header ``content-type: application/cloudevents+json``.
"""

from __future__ import annotations

import functools
import json
import types
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

import pydantic_core
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from contracts.email import Email
from contracts.events import EVENT_TYPES, EventPayload
from contracts.limits import MAX_EVENT_BYTES
from contracts.text import IDENTIFIER_PATTERN
from contracts.text import URI_REFERENCE_PATTERN as URI_REFERENCE_PATTERN  # the kit's allow-list reads it here
from contracts.types import Instant

CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"

PayloadT = TypeVar("PayloadT", bound=EventPayload, covariant=True)
"""Covariant, so a CloudEvent[EnrolmentCreated] is accepted wherever a CloudEvent[EventPayload] is."""
NewPayloadT = TypeVar("NewPayloadT", bound=EventPayload)


class InvalidEvent(ValueError):
    """A message that breaks the contract; `reason` says which field and why, for the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Envelope(BaseModel):
    """The CloudEvents attributes we rely on. Extension attributes (e.g. ``partitionkey``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=IDENTIFIER_PATTERN,
        description="Unique per event, chosen by the producer; visible ASCII (a UUID, typically).",
    )
    source: str = Field(
        min_length=1,
        max_length=2000,
        pattern=URI_REFERENCE_PATTERN,
        description="URI-reference of the producing system, e.g. /campus/student-administration.",
        json_schema_extra={"format": "uri-reference"},
    )
    type: str = Field(min_length=1, max_length=200, description="One of the contract's type names, exactly.")
    time: Instant
    subject: str = Field(min_length=1, max_length=200, pattern=IDENTIFIER_PATTERN)
    # Optional on the wire (CloudEvents allows it to be absent; the Python SDK 1.x even moves it into a header),
    # but when present it must say JSON.
    datacontenttype: str = Field(default=DATA_CONTENT_TYPE, max_length=200, description='"application/json".')
    data: dict[str, Any]


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire: key, value and headers of one Kafka message."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class CloudEvent(Generic[PayloadT]):
    """A decoded, validated event: envelope attributes plus the typed payload."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    data: PayloadT
    wire_value: bytes | None = field(default=None, init=False, compare=False, repr=False)
    """The record's value as `new_event` built it from the attributes it checked, so `to_kafka` does not build it
    again. Not an init field, so `dataclasses.replace` (an event with another source, say) starts without it."""

    @property
    def identity(self) -> tuple[str, str]:
        """CloudEvents identity: `source` + `id` is unique per distinct event."""
        return (self.source, self.id)

    def to_json(self) -> dict[str, Any]:
        return {**self.attributes(), "data": self.data.model_dump(mode="json", exclude_none=True)}

    def attributes(self) -> dict[str, str]:
        """The envelope's attributes as JSON values, in the order of the wire (`data` follows them)."""
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "subject": self.subject,
            "datacontenttype": DATA_CONTENT_TYPE,
        }

    def to_kafka(self) -> KafkaRecord:
        value = serialised(self.attributes(), self.data) if self.wire_value is None else self.wire_value
        return KafkaRecord(
            topic=self.data.topic,
            key=self.subject.encode("utf-8"),
            value=value,
            headers=[("content-type", CONTENT_TYPE.encode("ascii"))],
        )


def new_event(
    data: NewPayloadT, *, source: str, event_id: str | None = None, time: datetime | None = None
) -> CloudEvent[NewPayloadT]:
    """Wrap a payload in an envelope; the id defaults to a fresh UUID, the time to now (UTC).

    Raises InvalidEvent when the envelope would break the contract (a `source` with spaces, a naive `time`, an id
    over 128 characters), so a producer finds out before its message reaches a consumer's dead-letter topic.
    """
    event = CloudEvent(
        id=str(uuid.uuid4()) if event_id is None else event_id,
        source=source,
        type=data.event_type,
        time=time or datetime.now(UTC),
        subject=data.subject(),
        data=data,
    )
    attributes = event.attributes()
    try:
        # The envelope's attributes; `data` is the payload just validated as its model.
        Envelope.model_validate({**attributes, "data": {}})
    except ValidationError as error:
        raise InvalidEvent("not a valid CloudEvent: " + describe_validation_error(error)) from error
    object.__setattr__(event, "wire_value", serialised(attributes, data))  # frozen: set once, before anyone sees it
    return event


def serialised(attributes: dict[str, str], data: EventPayload) -> bytes:
    """The structured-mode value: compact JSON, UTF-8 unescaped, `data` last.

    Pydantic's serialiser writes the bytes `json.dumps` writes for every value but floats (`1e-7` against
    `1e-07`), in a fifth of the time, so a payload whose fields cannot hold a float takes it; one that can (a
    credential passed through as a dict) takes `json.dumps`, so a rebuild publishes what was published before.
    """
    if _json_is_exact(type(data)):
        try:
            body = type(data).__pydantic_serializer__.to_json(data, exclude_none=True)
            return pydantic_core.to_json(attributes)[:-1] + b',"data":' + body + b"}"
        except pydantic_core.PydanticSerializationError:
            pass  # a lone surrogate, say: json.dumps below says what it said before (UnicodeEncodeError)
    return serialised_by_json_dumps(attributes, data)


def serialised_by_json_dumps(attributes: dict[str, str], data: EventPayload) -> bytes:
    """The value as every value was written before `serialised` took Pydantic's serialiser where it can."""
    document = {**attributes, "data": data.model_dump(mode="json", exclude_none=True)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_EXACT_LEAVES = (str, int, Decimal, datetime, date, AwareDatetime, Email, type(None))


@functools.cache
def _json_is_exact(model: type[BaseModel]) -> bool:
    """Whether no field of `model`, nested models included, can hold a float (or a value of any type)."""
    return all(_exact(field.annotation) for field in model.model_fields.values())


def _exact(annotation: Any) -> bool:
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _exact(arguments[0])
    if origin is Literal:
        return all(isinstance(value, str | int) for value in arguments)
    if origin in (list, tuple, Union, types.UnionType):
        return all(_exact(argument) for argument in arguments if argument is not Ellipsis)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _json_is_exact(annotation)
    return isinstance(annotation, type) and issubclass(annotation, _EXACT_LEAVES)


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per problem: the dotted path of the field and why it is wrong."""
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(root)"
        problems.append(f"{prefix}{path}: {item['msg']}")
    return "; ".join(problems)


def decode_event(
    value: bytes | None, *, key: bytes | None = None, known_types: dict[str, type[EventPayload]] | None = None
) -> CloudEvent[EventPayload]:
    """Parse one Kafka message value into a typed event, or raise InvalidEvent saying exactly what is wrong.

    A valid value is decoded once, from its bytes: Pydantic's JSON validator checks envelope and payload in one
    pass (`_wire_model`). Anything that pass refuses is decoded again the long way (`decode_event_stepwise`),
    which says what is wrong in the order a producer fixes it and has the last word on what is accepted.
    """
    value = _bounded(value)
    types = EVENT_TYPES if known_types is None else known_types
    try:
        # str, not bytes: the JSON parser would take bytes that are not UTF-8 inside a string it skips.
        wire = _wire_model(tuple(types.items())).validate_json(value.decode("utf-8"))
    except (UnicodeDecodeError, ValidationError):
        return decode_event_stepwise(value, key=key, known_types=types)
    return _checked(wire, wire.data, key)


def decode_event_stepwise(
    value: bytes | None, *, key: bytes | None = None, known_types: dict[str, type[EventPayload]] | None = None
) -> CloudEvent[EventPayload]:
    """`decode_event` one step at a time: JSON, then the envelope, then the payload its `type` names."""
    try:
        raw = json.loads(_bounded(value).decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"value is not UTF-8: {error}") from error
    except json.JSONDecodeError as error:
        raise InvalidEvent(f"value is not JSON: {error}") from error
    except RecursionError:
        # "[[[[...]]]]" a few thousand deep fits easily in the size limit and exhausts the parser's stack.
        raise InvalidEvent("value is JSON nested too deeply") from None
    if not isinstance(raw, dict):
        raise InvalidEvent(f"value is JSON {type(raw).__name__}, expected a CloudEvents object")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as error:
        raise InvalidEvent("not a valid CloudEvent: " + describe_validation_error(error)) from error
    _check_content_type(envelope)
    types = EVENT_TYPES if known_types is None else known_types
    model = types.get(envelope.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {envelope.type!r}; known: {', '.join(sorted(types))}")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as error:
        raise InvalidEvent(f"invalid {envelope.type} data: " + describe_validation_error(error, "data.")) from error
    return _checked(envelope, data, key)


def _bounded(value: bytes | None) -> bytes:
    if value is None:
        raise InvalidEvent("message has no value (tombstone); expected a CloudEvents JSON object")
    if len(value) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"value is {len(value)} bytes, over the contract's maximum of {MAX_EVENT_BYTES}")
    return value


def _check_content_type(envelope: Envelope | _WireEnvelope) -> None:
    if envelope.datacontenttype.split(";")[0].strip().lower() != DATA_CONTENT_TYPE:
        raise InvalidEvent(f"datacontenttype must be {DATA_CONTENT_TYPE!r}, got {envelope.datacontenttype!r}")


def _checked(envelope: Envelope | _WireEnvelope, data: EventPayload, key: bytes | None) -> CloudEvent[EventPayload]:
    """The checks across envelope, payload and Kafka key, once both are valid on their own."""
    _check_content_type(envelope)
    if envelope.subject != data.subject():
        raise InvalidEvent(f"subject {envelope.subject!r} does not match the event's {data.subject()!r}")
    if key is not None and key.decode("utf-8", errors="replace") != envelope.subject:
        raise InvalidEvent(f"Kafka key {key!r} does not match subject {envelope.subject!r}")
    return CloudEvent(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        time=envelope.time,
        subject=envelope.subject,
        data=data,
    )


class _WireEnvelope(Envelope):
    """An envelope whose `data` is already the typed payload (the models `_wire_model` builds subclass it)."""

    data: Any


@functools.cache
def _wire_model(types: tuple[tuple[str, type[EventPayload]], ...]) -> TypeAdapter[Any]:
    """One validator for a whole event of any of `types`: the envelope, with `type` choosing the payload model."""
    envelopes = tuple(
        create_model(
            f"{model.__name__}Wire",
            __base__=_WireEnvelope,
            type=(Literal[name], ...),  # type: ignore[arg-type]  # a Literal of a run-time name
            data=(model, ...),
        )
        for name, model in types
    )
    if len(envelopes) == 1:
        return TypeAdapter(envelopes[0])
    union: Any = Annotated[Union[envelopes], Field(discriminator="type")]  # noqa: UP007 - built at run time
    return TypeAdapter(union)
