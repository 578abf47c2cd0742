"""JSON Schemas of the contract, generated from the Pydantic models.

One self-contained schema per event type: the whole CloudEvent (envelope attributes plus that type's `data`),
JSON Schema 2020-12, nested models under `$defs`. A campus system can validate one Kafka message value against
one file, and the compatibility check sees envelope and payload changes in one place.

What a JSON Schema cannot say is stated in descriptions and enforced by `decode_event`: `subject` equals
`data.enrolment_id`, course ids are unique, totals add up, currency codes are active ISO 4217 codes and academic
years are two consecutive years. Unknown attributes and fields are allowed (no `additionalProperties: false`):
the contract's readers are tolerant.
"""

from __future__ import annotations

import copy
from typing import Any

from contracts.envelope import CONTENT_TYPE, DATA_CONTENT_TYPE, Envelope
from contracts.events import EVENT_TYPES, EventPayload, MicroCredentialPublished
from contracts.limits import MAX_EVENT_BYTES

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

JsonSchema = dict[str, Any]

_CATALOGUE_KEY_SCHEMA: JsonSchema = {
    "type": "string",
    "minLength": 11,
    "maxLength": 200,
    "pattern": r"^[0-9]{4}-[0-9]{4}/[\x21-\x7E]+$",
    "description": 'Equals "<data.academic_year>/<data.microcredential_id>"; also the Kafka key.',
    "examples": ["2026-2027/MC-DATA-101"],
}


def _subject_schema(model: type[EventPayload], data_schema: JsonSchema) -> JsonSchema:
    if issubclass(model, MicroCredentialPublished):
        return copy.deepcopy(_CATALOGUE_KEY_SCHEMA)
    enrolment_id = data_schema.get("properties", {}).get("enrolment_id")
    if enrolment_id is None:
        # A new keying rule must be written down here, not guessed.
        raise ValueError(f"{model.__name__}: no enrolment_id and no known subject rule")
    subject = {key: value for key, value in enrolment_id.items() if key not in ("title", "description")}
    subject["description"] = "Equals data.enrolment_id; also the Kafka key (UTF-8)."
    return subject


def data_def_name(model: type[EventPayload]) -> str:
    """Name of the payload's entry in `$defs` (and in the AsyncAPI components)."""
    return model.__name__


def event_schema(model: type[EventPayload]) -> JsonSchema:
    """The JSON Schema of one CloudEvent of `model`'s type, as a Kafka message value carries it."""
    data_schema = model.model_json_schema(mode="validation")
    defs: dict[str, JsonSchema] = data_schema.pop("$defs", {})
    name = data_def_name(model)
    if name in defs:
        raise ValueError(f"{model.__name__}: a nested model has the payload's own name {name!r}")
    defs[name] = data_schema

    envelope = Envelope.model_json_schema(mode="validation")
    properties: dict[str, JsonSchema] = envelope["properties"]
    properties["type"] = {"const": model.event_type, "description": "The CloudEvents type: exactly this name."}
    properties["subject"] = _subject_schema(model, data_schema)
    properties["datacontenttype"] = {
        "const": DATA_CONTENT_TYPE,
        "description": "Producers send it; readers take a missing one as application/json.",
    }
    properties["data"] = {"$ref": f"#/$defs/{name}"}

    summary = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ").strip()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": model.event_type,
        "description": (
            f"{summary} CloudEvents 1.0 in structured JSON mode, the value of a Kafka message on topic "
            f"{model.topic!r} (header content-type: {CONTENT_TYPE}; key = subject in UTF-8). "
            f"At most {MAX_EVENT_BYTES} bytes of UTF-8 JSON. Unknown attributes and data fields are allowed and "
            "ignored by readers."
        ),
        "type": "object",
        "properties": properties,
        "required": envelope["required"],
        "$defs": dict(sorted(defs.items())),
    }


def all_event_schemas(event_types: dict[str, type[EventPayload]] | None = None) -> dict[str, JsonSchema]:
    """Every event type's schema, by type name, in the order of EVENT_TYPES."""
    types = EVENT_TYPES if event_types is None else event_types
    return {name: event_schema(model) for name, model in types.items()}
