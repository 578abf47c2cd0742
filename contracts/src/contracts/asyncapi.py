"""The AsyncAPI 3.0 document of the contract, generated from the same models as the JSON Schemas.

Self-contained (no references to files next to it), so it can be pasted into any AsyncAPI tool: each type's
`$defs` move to `components/schemas` and their `$ref`s are rewritten to point there.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from contracts import topics
from contracts.envelope import CONTENT_TYPE
from contracts.events import EVENT_TYPES, EventPayload, MicroCredentialPublished
from contracts.examples import example_events
from contracts.schemas import JsonSchema, all_event_schemas

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
CONTRACT_VERSION = "1.0.0"

# Who publishes to each topic: the AsyncAPI operations say so, so a reader knows whom to ask.
_PUBLISHERS: dict[str, str] = {
    topics.ENROLMENT_EVENTS: "the enrolment service",
    topics.ASSESSMENT_EVENTS: "the campus student administration",
    topics.BILLING_EVENTS: "the billing service",
    topics.CERTIFICATION_EVENTS: "the certification service",
    topics.CATALOGUE: "the enrolment service",
    topics.CERTIFICATION_NOTIFICATIONS: "the certification service",
}

_DLQ_HEADERS: dict[str, str] = {
    topics.DLQ_REASON: "Why the message was rejected: the field and the rule (UTF-8, at most 4000 characters).",
    topics.DLQ_CONSUMER: "The consumer (group) that rejected it.",
    topics.DLQ_ORIGINAL_TOPIC: "The topic it was read from.",
    topics.DLQ_ORIGINAL_PARTITION: "Its partition there, as a decimal string.",
    topics.DLQ_ORIGINAL_OFFSET: "Its offset there, as a decimal string.",
    topics.DLQ_AT: "When it was dead-lettered, RFC 3339 with offset.",
}
_DLQ_ENVELOPE_HEADERS: dict[str, str] = {
    topics.DLQ_VALUE_BYTES: "Only on a bounded dead letter: the original value's length in bytes.",
    topics.DLQ_VALUE_SHA256: "Only on a bounded dead letter: hex SHA-256 of the whole original value.",
    topics.DLQ_TRUNCATED: "Only on a bounded dead letter: what was cut (value, headers, key), comma-separated.",
}


def channel_id(topic: str) -> str:
    """`enrolment.events` -> `enrolmentEvents`, `enrolment.events.dlq` -> `enrolmentEventsDlq`."""
    parts = topic.replace("-", ".").split(".")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def _event_schema_name(type_name: str) -> str:
    return f"CloudEvent.{type_name}"


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                "#/components/schemas/" + value.removeprefix("#/$defs/")
                if key == "$ref" and isinstance(value, str)
                else _rewrite_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _component_schemas(schemas: dict[str, JsonSchema]) -> dict[str, JsonSchema]:
    components: dict[str, JsonSchema] = {}
    for type_name, schema in schemas.items():
        body = copy.deepcopy(schema)
        body.pop("$schema", None)
        defs = body.pop("$defs", {})
        for name, definition in defs.items():
            rewritten = _rewrite_refs(definition)
            if name in components and components[name] != rewritten:
                # Two event types would share one component name for different models: rename one of them.
                raise ValueError(f"schema {name!r} differs between event types; give the models distinct names")
            components[name] = rewritten
        components[_event_schema_name(type_name)] = _rewrite_refs(body)
    return dict(sorted(components.items()))


def _key_schema(model: type[EventPayload]) -> JsonSchema:
    if issubclass(model, MicroCredentialPublished):
        return {
            "type": "string",
            "description": 'UTF-8 "<academic_year>/<microcredential_id>", equal to the CloudEvents subject; '
            "compaction keeps the latest entry per key.",
            "examples": ["2026-2027/MC-DATA-101"],
        }
    return {
        "type": "string",
        "description": "The enrolment_id in UTF-8, equal to the CloudEvents subject: all events of one enrolment "
        "land on one partition, in order.",
        "examples": ["ENR-2026-000123"],
    }


def _message(type_name: str, model: type[EventPayload], example: dict[str, Any]) -> dict[str, Any]:
    summary = (model.__doc__ or type_name).strip().split("\n\n")[0].replace("\n", " ")
    return {
        "name": type_name,
        "title": type_name,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {"content-type": {"type": "string", "const": CONTENT_TYPE}},
            "required": ["content-type"],
        },
        "payload": {"$ref": f"#/components/schemas/{_event_schema_name(type_name)}"},
        "bindings": {"kafka": {"key": _key_schema(model), "bindingVersion": KAFKA_BINDING_VERSION}},
        "examples": [
            {
                "name": f"{type_name}-example",
                "headers": {"content-type": CONTENT_TYPE},
                "payload": example,
            }
        ],
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Rejected message",
        "summary": "A message a consumer could not accept, copied unchanged (key, value and headers).",
        "description": "Key, value and the original headers are byte for byte those of the rejected message (the "
        "value may not even be JSON); the dlq-* headers are added. Fix the producer, then replay from here.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                name: {"type": "string", "description": text}
                for name, text in {**_DLQ_HEADERS, **_DLQ_ENVELOPE_HEADERS}.items()
            },
            "required": list(_DLQ_HEADERS),
            "additionalProperties": {"type": "string", "description": "The rejected message's own headers."},
        },
        "payload": {
            "description": "The rejected message's value, unchanged; on a dead letter that would not fit the broker's "
            "limit (a bounded dead letter), its first 64 KiB, the whole still at dlq-original-topic/partition/offset."
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The rejected message's key, unchanged."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel_bindings(topic: str, *, compacted: bool) -> dict[str, Any]:
    return {
        "kafka": {
            "topic": topic,
            "topicConfiguration": {"cleanup.policy": ["compact" if compacted else "delete"]},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def asyncapi_document(
    event_types: dict[str, type[EventPayload]] | None = None,
    schemas: dict[str, JsonSchema] | None = None,
) -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document as plain data."""
    types = EVENT_TYPES if event_types is None else event_types
    schemas = all_event_schemas(types) if schemas is None else schemas
    examples = example_events()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {"DeadLetter": _dead_letter_message()}
    for topic in topics.ALL:
        names = [name for name, model in types.items() if model.topic == topic]
        cid = channel_id(topic)
        compacted = topic in topics.COMPACTED
        channels[cid] = {
            "address": topic,
            "title": topic,
            "description": (
                f"Kafka topic {topic}: {', '.join(names)}. Key = the CloudEvents subject (UTF-8); value = one "
                f"CloudEvent in structured JSON mode; header content-type: {CONTENT_TYPE}."
                + (" Compacted: the latest message per key is the current state." if compacted else "")
            ),
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": _channel_bindings(topic, compacted=compacted),
        }
        operations[f"publish{cid[:1].upper()}{cid[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"{_PUBLISHERS.get(topic, 'Its owner').capitalize()} publishes to {topic}.",
            "messages": [{"$ref": f"#/channels/{cid}/messages/{name}"} for name in names],
        }
        for name in names:
            example = examples[name].to_json() if name in examples else None
            messages[name] = _message(name, types[name], example or {})
            if example is None:
                del messages[name]["examples"]
        dlq = topics.dead_letter_topic(topic)
        dlq_id = channel_id(dlq)
        channels[dlq_id] = {
            "address": dlq,
            "title": dlq,
            "description": f"Dead letters of {topic}: every message a consumer of {topic} rejects, unchanged, "
            "with dlq-* headers saying why and where from.",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "bindings": _channel_bindings(dlq, compacted=False),
        }
        operations[f"deadLetter{cid[:1].upper()}{cid[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{dlq_id}"},
            "summary": f"A consumer of {topic} dead-letters a message it cannot accept.",
            "messages": [{"$ref": f"#/channels/{dlq_id}/messages/DeadLetter"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Micro-credentials platform events",
            "version": CONTRACT_VERSION,
            "description": (
                "Events between campus systems and the micro-credentials platform on Apache Kafka. Every message: "
                "key = CloudEvents subject (the enrolment_id) in UTF-8; value = one CloudEvents 1.0 event in "
                f"structured JSON mode; header content-type: {CONTENT_TYPE}. Readers ignore unknown attributes "
                "and data fields; a breaking change gets a new type name with a version suffix "
                "(EnrolmentCreated.v2). Generated by `uv run python -m contracts.export`; do not edit by hand."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": _component_schemas(schemas), "messages": messages},
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML without anchors/aliases, which some AsyncAPI tools do not resolve."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_asyncapi(document: dict[str, Any] | None = None) -> str:
    doc = asyncapi_document() if document is None else document
    # A JSON round trip turns tuples and other Python-only values into plain YAML types.
    plain = json.loads(json.dumps(doc))
    header = "# Generated by `uv run python -m contracts.export` from contracts/src/contracts; do not edit.\n"
    return header + yaml.dump(plain, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
