"""The generated files (JSON Schemas, AsyncAPI, README examples) match the models, and are themselves valid."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from contracts.examples import example_events
from contracts.export import EXAMPLES_BEGIN, EXAMPLES_END, contracts_dir, drift, write
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from contracts import CONTENT_TYPE, EVENT_TYPES, InvalidEvent, decode_event, topics
from contracts.schemas import all_event_schemas
from tests.contracts.contract_support import EcmaValidator

CONTRACTS = contracts_dir()
DATA = Path(__file__).parent / "data"
EXAMPLES = example_events()


def _load_asyncapi() -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8"))


def _schema_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    # Patterns under ECMA-262 semantics, as other languages' validators read them (see contract_support).
    return EcmaValidator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# --- drift --------------------------------------------------------------------------------------------------------


def test_checked_in_files_match_the_models() -> None:
    problems = drift()
    assert problems == [], "generated files are stale; run `uv run python -m contracts.export`:\n" + "\n".join(problems)


def _copy_generated(tmp_path: Path) -> Path:
    root = tmp_path / "contracts"
    shutil.copytree(CONTRACTS / "schemas", root / "schemas")
    shutil.copy(CONTRACTS / "asyncapi.yaml", root / "asyncapi.yaml")
    shutil.copy(CONTRACTS / "README.md", root / "README.md")
    return root


def test_drift_check_notices_an_edited_a_missing_and_a_stale_file(tmp_path: Path) -> None:
    root = _copy_generated(tmp_path)
    assert drift(root) == []

    schema_path = root / "schemas" / "EnrolmentCreated.json"
    schema = json.loads(schema_path.read_text())
    schema["$defs"]["Course"]["properties"]["semester"]["enum"] = [1, 2, 3]
    schema_path.write_text(json.dumps(schema, indent=2))
    (root / "schemas" / "CourseCompleted.json").unlink()
    (root / "schemas" / "EnrolmentUpdated.json").write_text("{}")
    asyncapi = root / "asyncapi.yaml"
    asyncapi.write_text(asyncapi.read_text().replace("cleanup.policy", "cleanup-policy", 1))
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace('"credits": "3"', '"credits": 3', 1))

    assert sorted(drift(root)) == [
        "README.md: differs from the models",
        "asyncapi.yaml: differs from the models",
        "schemas/CourseCompleted.json: missing",
        "schemas/EnrolmentCreated.json: differs from the models",
        "schemas/EnrolmentUpdated.json: no such event type any more",
    ]
    written = write(root)
    assert len(written) == 5
    assert drift(root) == []


def test_one_schema_file_per_event_type() -> None:
    assert sorted(path.stem for path in (CONTRACTS / "schemas").glob("*.json")) == sorted(EVENT_TYPES)


# --- JSON Schemas -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", list(EVENT_TYPES))
def test_example_is_valid_against_its_schema_and_no_other(type_name: str) -> None:
    schemas = all_event_schemas()
    value = EXAMPLES[type_name].to_json()
    jsonschema.Draft202012Validator.check_schema(schemas[type_name])
    _schema_validator(schemas[type_name]).validate(value)
    for other, schema in schemas.items():
        if other != type_name:
            assert not _schema_validator(schema).is_valid(value), f"{type_name} example passes the {other} schema"


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(document)
    target: Any = result
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return result


_DELETE = object()

# Values the decoder rejects that the JSON Schema can express: the schema must reject them too, or producers who
# validate against it would still end up in the dead-letter topic.
SCHEMA_REJECTS = [
    ("EnrolmentCreated", "data.microcredential.courses.0.semester", 3),
    ("EnrolmentCreated", "data.microcredential.courses.0.credits", -1),
    ("EnrolmentCreated", "data.microcredential.courses.0.credits", 0),
    ("EnrolmentCreated", "data.microcredential.courses.0.credits", "1.25"),
    ("EnrolmentCreated", "data.tuition.fixed_fee", 100.0),
    ("EnrolmentCreated", "data.tuition.fixed_fee", "100.000"),
    ("EnrolmentCreated", "data.tuition.currency", "EURO"),
    ("EnrolmentCreated", "data.enrolled_at", "2026-09-01T09:30:00"),
    ("EnrolmentCreated", "time", "2026-09-01T09:30:00"),
    ("EnrolmentCreated", "data.enrolment_id", "ENR 1"),
    ("EnrolmentCreated", "data.enrolment_id", "E" * 65),
    ("EnrolmentCreated", "data.student.email", "not-an-email"),
    ("EnrolmentCreated", "specversion", "0.3"),
    ("EnrolmentCreated", "source", "campus student administration"),
    ("EnrolmentCreated", "id", ""),
    ("EnrolmentCreated", "id", "x" * 129),
    ("EnrolmentCreated", "type", "EnrolmentCreated.v2"),
    ("EnrolmentCreated", "data.tuition", _DELETE),
    ("TuitionInvoiced", "data.lines.0.semester", 3),
    ("MicroCredentialPublished", "data.format", "weekend"),
    ("MicroCredentialPublished", "subject", "MC-DATA-101"),
]


@pytest.mark.parametrize(("type_name", "path", "value"), SCHEMA_REJECTS)
def test_schema_rejects_what_the_decoder_rejects(type_name: str, path: str, value: Any) -> None:
    event = EXAMPLES[type_name]
    bad = _set(event.to_json(), path, value)
    assert not _schema_validator(all_event_schemas()[type_name]).is_valid(bad)
    with pytest.raises(InvalidEvent):
        decode_event(json.dumps(bad).encode(), key=event.subject.encode())


@pytest.mark.parametrize(
    ("path", "value"),
    [("partitionkey", "ENR-2026-000123"), ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
)
def test_schema_accepts_unknown_attributes_like_the_decoder(path: str, value: Any) -> None:
    event = EXAMPLES["EnrolmentCreated"]
    extended = _set(event.to_json(), path, value)
    extended["data"]["scholarship"] = {"granted": True}
    assert _schema_validator(all_event_schemas()["EnrolmentCreated"]).is_valid(extended)
    assert decode_event(json.dumps(extended).encode(), key=event.subject.encode()) == event


# --- AsyncAPI -----------------------------------------------------------------------------------------------------


def _asyncapi_validator() -> jsonschema.Draft7Validator:
    # The official AsyncAPI 3.0.0 JSON Schema (from @asyncapi/specs), which includes the Kafka bindings' schemas.
    spec = json.loads((DATA / "asyncapi-3.0.0.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(spec)


def test_asyncapi_is_valid_asyncapi_3() -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in _asyncapi_validator().iter_errors(_load_asyncapi())
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("operations.publishEnrolmentEvents.action", "publish"),
        ("channels.enrolmentEvents.bindings.kafka.topicConfiguration.cleanup.policy", ["forever"]),
        ("components.messages.EnrolmentCreated.bindings.kafka.key", {"type": 5}),
    ],
)
def test_asyncapi_validation_would_catch_a_broken_document(path: str, value: Any) -> None:
    document = _load_asyncapi()
    target: Any = document
    parts = path.split(".")
    if parts[-2:] == ["cleanup", "policy"]:
        parts = [*parts[:-2], "cleanup.policy"]
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value
    assert not _asyncapi_validator().is_valid(document)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_asyncapi_is_self_contained() -> None:
    document = _load_asyncapi()
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]
        assert isinstance(target, dict), ref


def test_asyncapi_describes_every_topic_message_key_and_header() -> None:
    document = _load_asyncapi()
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == set(topics.ALL) | {topics.dead_letter_topic(t) for t in topics.ALL}
    messages = document["components"]["messages"]
    for type_name, model in EVENT_TYPES.items():
        assert type_name in channels[model.topic]["messages"]
        message = messages[type_name]
        assert message["contentType"] == CONTENT_TYPE
        assert message["headers"]["properties"]["content-type"]["const"] == CONTENT_TYPE
        assert message["bindings"]["kafka"]["key"]["description"]
        assert message["payload"] == {"$ref": f"#/components/schemas/CloudEvent.{type_name}"}
    assert channels[topics.CATALOGUE]["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]
    dead_letter = messages["DeadLetter"]["headers"]
    assert set(dead_letter["required"]) == {
        topics.DLQ_REASON,
        topics.DLQ_CONSUMER,
        topics.DLQ_ORIGINAL_TOPIC,
        topics.DLQ_ORIGINAL_PARTITION,
        topics.DLQ_ORIGINAL_OFFSET,
        topics.DLQ_AT,
    }


def test_asyncapi_examples_are_valid_against_the_payload_schemas() -> None:
    document = _load_asyncapi()
    registry = Registry().with_resource("urn:asyncapi", Resource(contents=document, specification=DRAFT202012))
    for type_name in EVENT_TYPES:
        message = document["components"]["messages"][type_name]
        validator = jsonschema.Draft202012Validator(
            {"$ref": "urn:asyncapi" + message["payload"]["$ref"]}, registry=registry
        )
        (example,) = message["examples"]
        validator.validate(example["payload"])
        assert example["payload"] == EXAMPLES[type_name].to_json()


# --- README examples ----------------------------------------------------------------------------------------------

_SECTION = re.compile(
    r"^### (?P<type>\S+)\n\nTopic `(?P<topic>[^`]+)`.*?\n"
    r"\| key \| `(?P<key>[^`]*)` \|\n(?P<headers>(?:\| header \| `[^`]*` \|\n)*)"
    r"\n```json\n(?P<value>.*?)\n```",
    re.MULTILINE | re.DOTALL,
)


def _readme_examples() -> list[re.Match[str]]:
    readme = (CONTRACTS / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(EXAMPLES_BEGIN) : readme.index(EXAMPLES_END)]
    return list(_SECTION.finditer(block))


def test_readme_has_one_example_per_type() -> None:
    assert [match["type"] for match in _readme_examples()] == list(EVENT_TYPES)


@pytest.mark.parametrize("match", _readme_examples(), ids=lambda match: match["type"])
def test_readme_example_decodes(match: re.Match[str]) -> None:
    headers = dict(
        line.removeprefix("| header | `").removesuffix("` |").split(": ", 1) for line in match["headers"].splitlines()
    )
    assert headers == {"content-type": CONTENT_TYPE}
    event = decode_event(match["value"].encode("utf-8"), key=match["key"].encode("utf-8"))
    assert event.type == match["type"]
    assert event.data.topic == match["topic"]
    assert event == EXAMPLES[match["type"]]
