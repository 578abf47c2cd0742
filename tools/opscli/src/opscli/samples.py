"""Sample events of every contract type, built with the contract's models so they are valid by construction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import ValidationError

from contracts import EVENT_TYPES, EventPayload, describe_validation_error, new_event
from contracts import examples as contract_examples
from opscli.kafka import CommandError, producer
from opscli.output import dump_json, table

SOURCE = "/microcredentials/opscli"
"""The CloudEvents source of sample events: anyone reading a topic can tell a sample from a real event."""


def resolve_type(name: str) -> type[EventPayload]:
    for type_name, model in EVENT_TYPES.items():
        if type_name.lower() == name.lower():
            return model
    raise CommandError(f"unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}")


def sample_payload(model: type[EventPayload], enrolment_id: str | None, assignments: Sequence[str]) -> EventPayload:
    """The contract's example of this type, with a fresh (or the given) enrolment id and the --set changes,
    validated by the model: a change that breaks a rule (totals, money format, ...) is refused here."""
    example = next(p for p in contract_examples.example_payloads() if p.event_type == model.event_type)
    data: Any = example.model_dump(mode="json", exclude_none=True)
    if "enrolment_id" in model.model_fields:
        # A fresh id by default, so a sample never lands on a real enrolment's history by accident.
        new_id = enrolment_id or f"ENR-SAMPLE-{uuid.uuid4().hex[:8]}"
        data = _replace_text(data, contract_examples.ENROLMENT_ID, new_id)
    elif enrolment_id is not None:
        raise CommandError(
            f"{model.event_type} has no enrolment_id; set its key fields with --set (e.g. microcredential_id=...)"
        )
    paths = []
    for assignment in assignments:
        path, separator, raw = assignment.partition("=")
        if not separator or not path:
            raise CommandError(f"--set wants field=value, got {assignment!r}")
        parts = path.split(".")
        _assign(data, parts, raw, path)
        paths.append((path, parts))
    try:
        payload = model.model_validate(data)
    except ValidationError as error:
        raise CommandError(f"not a valid {model.event_type}: {describe_validation_error(error, 'data.')}") from error
    validated = payload.model_dump(mode="json")
    for path, parts in paths:
        # The models ignore unknown fields (tolerant reader), so a typo would otherwise vanish silently.
        if not _exists(validated, parts):
            raise CommandError(f"{model.event_type} has no field {path!r}")
    return payload


def _replace_text(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_text(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_text(item, old, new) for key, item in value.items()}
    return value


def _assign(data: Any, parts: list[str], raw: str, path: str) -> None:
    container = data
    for part in parts[:-1]:
        container = _child(container, part, path)
    last = parts[-1]
    if isinstance(container, list):
        index = _index(container, last, path)
        container[index] = _coerce(raw, container[index])
    elif isinstance(container, dict):
        container[last] = _coerce(raw, container.get(last))
    else:
        raise CommandError(f"--set {path}: {last!r} is inside a value, not an object or list")


def _child(container: Any, part: str, path: str) -> Any:
    if isinstance(container, list):
        return container[_index(container, part, path)]
    if isinstance(container, dict):
        if part not in container:
            container[part] = {}
        return container[part]
    raise CommandError(f"--set {path}: {part!r} is inside a value, not an object or list")


def _index(container: list[Any], part: str, path: str) -> int:
    if not part.isdigit() or int(part) >= len(container):
        raise CommandError(f"--set {path}: {part!r} is not an index of a list of {len(container)}")
    return int(part)


def _coerce(raw: str, current: Any) -> Any:
    """Text fields take the text as is; other fields take it as JSON (numbers, booleans, lists, objects).
    Decimals stay text: the contract writes money as decimal strings, and a float would lose "120.00"."""
    if isinstance(current, str):
        return raw
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return raw if isinstance(parsed, float) else parsed


def _exists(data: Any, parts: list[str]) -> bool:
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return False
    return True


def list_types(out: TextIO) -> int:
    rows = []
    for example in contract_examples.example_payloads():
        rows.append(
            [
                example.event_type,
                example.topic,
                "enrolment_id" if "enrolment_id" in type(example).model_fields else "academic_year/microcredential_id",
            ]
        )
    table(["TYPE", "TOPIC", "KEY"], rows, out)
    return 0


async def publish_command(
    bootstrap: str,
    prefix: str,
    type_name: str,
    enrolment_id: str | None,
    assignments: Sequence[str],
    dry_run: bool,
    out: TextIO,
) -> int:
    payload = sample_payload(resolve_type(type_name), enrolment_id, assignments)
    record = new_event(payload, source=SOURCE).to_kafka()
    topic = prefix + record.topic
    if dry_run:
        print(f"topic  {topic} (dry run: not published)", file=out)
    else:
        async with producer(bootstrap) as client:
            sent = await client.send_and_wait(topic, key=record.key, value=record.value, headers=record.headers)
        print(f"topic  {sent.topic}[{sent.partition}]@{sent.offset}", file=out)
    print(f"key    {record.key.decode('utf-8')}", file=out)
    dump_json(json.loads(record.value), out)
    return 0
