"""Helpers of the contract tests: messages edited at a dotted path, and JSON Schema validation as other
languages' validators do it.

JSON Schema patterns are ECMA-262 regular expressions. The `jsonschema` library checks them with Python's
`re.search`, where `$` also matches before a trailing newline ("2026-2027\\n" would pass `^[0-9]{4}-[0-9]{4}$`)
and `\\d` takes any Unicode digit. So the tests check `pattern` with `regress`, an ECMA-262 engine, and see what
an ajv or a Java validator would say.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

import jsonschema
import regress
from contracts.examples import example_events
from jsonschema import ValidationError, validators

from contracts.schemas import all_event_schemas

EXAMPLES = example_events()
DELETE = object()


@cache
def _ecma(pattern: str) -> regress.Regex:
    return regress.Regex(pattern)


def _ecma_pattern(
    validator: jsonschema.protocols.Validator, pattern: str, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _ecma(pattern).find(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def schema_validator(type_name: str) -> jsonschema.protocols.Validator:
    schema = all_event_schemas()[type_name]
    return EcmaValidator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def message(type_name: str, edits: dict[str, Any] | None = None) -> dict[str, Any]:
    """The example of `type_name` as a JSON object, with dotted-path edits (list indices as numbers)."""
    value = copy.deepcopy(EXAMPLES[type_name].to_json())
    for path, new in (edits or {}).items():
        target: Any = value
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if new is DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = new
        else:
            target[last] = new
    return value
