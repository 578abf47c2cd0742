"""The compatibility checker: unit tests on small schema pairs, then the real schemas against the released baseline."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from contracts.compat import Break, compare_releases, compatibility_breaks, is_tightening
from contracts.export import baseline_breaks, contracts_dir, load_baselines, release
from contracts.text import Paragraph
from pydantic import Field

from contracts import EVENT_TYPES, EnrolmentCancelled, EnrolmentCreated, Student
from contracts.schemas import all_event_schemas

BASELINE = contracts_dir() / "baseline"


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], **extra}


STRING: dict[str, Any] = {"type": "string"}
OLD = obj({"id": STRING, "note": {"anyOf": [STRING, {"type": "null"}], "default": None}}, ["id"])


def kinds(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item.path, item.kind) for item in compatibility_breaks(old, new)]


# --- compatible -----------------------------------------------------------------------------------------------


def test_identical_schemas_are_compatible() -> None:
    assert compatibility_breaks(OLD, copy.deepcopy(OLD)) == []


def test_added_optional_field_is_compatible() -> None:
    new = copy.deepcopy(OLD)
    new["properties"]["campus"] = {"type": "string", "maxLength": 50}
    assert compatibility_breaks(OLD, new) == []


def test_annotations_may_change() -> None:
    new = copy.deepcopy(OLD)
    new["title"] = "Renamed title"
    new["description"] = "Better words"
    new["properties"]["id"] = {"type": "string", "description": "The id", "examples": ["X-1"], "title": "Id"}
    new["properties"]["note"]["default"] = "none"
    assert compatibility_breaks(OLD, new) == []


def test_moving_a_model_into_defs_or_renaming_the_def_is_compatible() -> None:
    old = obj({"course": {"$ref": "#/$defs/Course"}}, ["course"], **{"$defs": {"Course": obj({"id": STRING}, ["id"])}})
    new = obj({"course": {"$ref": "#/$defs/Module"}}, ["course"], **{"$defs": {"Module": obj({"id": STRING}, ["id"])}})
    inline = obj({"course": obj({"id": STRING}, ["id"])}, ["course"])
    assert compatibility_breaks(old, new) == []
    assert compatibility_breaks(old, inline) == []


def test_reordered_enum_and_anyof_are_compatible() -> None:
    old = obj({"s": {"enum": [1, 2]}, "c": {"anyOf": [STRING, {"type": "number"}]}})
    new = obj({"s": {"enum": [2, 1]}, "c": {"anyOf": [{"type": "number"}, STRING]}})
    assert compatibility_breaks(old, new) == []


# --- breaking: fields -----------------------------------------------------------------------------------------


def test_removed_field_breaks() -> None:
    new = copy.deepcopy(OLD)
    del new["properties"]["note"]
    assert kinds(OLD, new) == [("note", "removed")]


def test_renamed_field_breaks() -> None:
    new = obj({"identifier": STRING, "note": OLD["properties"]["note"]}, ["identifier"])
    assert kinds(OLD, new) == [("id", "removed"), ("identifier", "newly-required")]


def test_new_required_field_breaks() -> None:
    new = copy.deepcopy(OLD)
    new["properties"]["campus"] = STRING
    new["required"].append("campus")
    assert kinds(OLD, new) == [("campus", "newly-required")]


def test_optional_field_becoming_required_breaks() -> None:
    new = copy.deepcopy(OLD)
    new["required"].append("note")
    assert kinds(OLD, new) == [("note", "newly-required")]


def test_required_field_becoming_optional_breaks() -> None:
    new = copy.deepcopy(OLD)
    new["required"] = []
    assert kinds(OLD, new) == [("id", "no-longer-required")]


def test_new_field_in_a_closed_object_breaks() -> None:
    old = obj({"id": STRING}, ["id"], additionalProperties=False)
    new = obj({"id": STRING, "extra": STRING}, ["id"], additionalProperties=False)
    assert kinds(old, new) == [("extra", "widened")]


def test_closing_an_open_object_breaks() -> None:
    assert kinds(OLD, {**OLD, "additionalProperties": False}) == [("*", "narrowed")]


# --- breaking: narrowed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(STRING, {"type": "string", "enum": ["a", "b"]}, id="string->enum"),
        pytest.param({"type": "number"}, {"type": "integer"}, id="number->integer"),
        pytest.param({"type": ["string", "number"]}, STRING, id="type list shrinks"),
        pytest.param({"oneOf": [STRING, {"type": "number"}]}, STRING, id="oneOf loses a branch"),
        pytest.param({"anyOf": [STRING, {"type": "null"}]}, STRING, id="no longer nullable"),
        pytest.param({"enum": [1, 2, 3]}, {"enum": [1, 2]}, id="enum value removed"),
        pytest.param({"type": "string", "maxLength": 200}, {"type": "string", "maxLength": 100}, id="maxLength down"),
        pytest.param({"type": "string", "minLength": 1}, {"type": "string", "minLength": 2}, id="minLength up"),
        pytest.param(STRING, {"type": "string", "maxLength": 100}, id="maxLength added"),
        pytest.param({"type": "number", "minimum": 0}, {"type": "number", "minimum": 1}, id="minimum up"),
        pytest.param({"type": "number", "minimum": 0}, {"type": "number", "exclusiveMinimum": 0}, id="min->exclusive"),
        pytest.param(STRING, {"type": "string", "pattern": "^[A-Z]+$"}, id="pattern added"),
        pytest.param(STRING, {"type": "string", "format": "email"}, id="format added"),
        pytest.param(
            {"type": "array", "items": STRING}, {"type": "array", "items": STRING, "minItems": 1}, id="minItems"
        ),
        pytest.param({"type": "array"}, {"type": "array", "uniqueItems": True}, id="uniqueItems added"),
        pytest.param({}, STRING, id="any -> string"),
        pytest.param({"const": "1.0"}, {"const": "1.1"}, id="const changed"),
    ],
)
def test_narrowing_breaks(old: dict[str, Any], new: dict[str, Any]) -> None:
    found = kinds(obj({"x": old}), obj({"x": new}))
    assert found, "narrowing was not noticed"
    assert all(path == "x" for path, _ in found)
    assert "narrowed" in {kind for _, kind in found}


# --- breaking: widened and changed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param({"enum": [1, 2]}, {"enum": [1, 2, 3]}, id="enum value added"),
        pytest.param({"type": "integer"}, {"type": "number"}, id="integer->number"),
        pytest.param(STRING, {"type": ["string", "number"]}, id="type added"),
        pytest.param(STRING, {"anyOf": [STRING, {"type": "null"}]}, id="becomes nullable"),
        pytest.param({"type": "string", "maxLength": 100}, {"type": "string", "maxLength": 200}, id="maxLength up"),
        pytest.param({"type": "string", "pattern": "^[A-Z]+$"}, STRING, id="pattern dropped"),
        pytest.param({"type": "string", "enum": ["a"]}, STRING, id="enum dropped"),
        pytest.param(STRING, {}, id="string -> any"),
    ],
)
def test_widening_breaks_old_consumers(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert "widened" in {kind for _, kind in kinds(obj({"x": old}), obj({"x": new}))}


def test_changed_pattern_breaks_even_if_it_might_be_wider() -> None:
    old = obj({"x": {"type": "string", "pattern": "^[A-Z]{3}$"}})
    new = obj({"x": {"type": "string", "pattern": "^[A-Z]{2,4}$"}})
    assert kinds(old, new) == [("x", "changed")]


def test_unknown_validation_keyword_change_breaks() -> None:
    old = obj({"x": STRING})
    new = obj({"x": {"type": "string", "not": {"const": ""}}})
    assert kinds(old, new) == [("x", "changed")]


def test_breaks_inside_defs_are_reported_at_the_message_path() -> None:
    course_old = obj({"id": STRING, "semester": {"enum": [1, 2], "type": "integer"}}, ["id", "semester"])
    course_new = obj({"id": STRING, "semester": {"enum": [1], "type": "integer"}}, ["id", "semester"])
    old = obj({"data": {"$ref": "#/$defs/D"}}, ["data"])
    old["$defs"] = {"D": obj({"courses": {"type": "array", "items": {"$ref": "#/$defs/Course"}}}), "Course": course_old}
    new = copy.deepcopy(old)
    new["$defs"]["Course"] = course_new
    breaks = compatibility_breaks(old, new)
    assert breaks == [Break("data.courses[].semester", "narrowed", "no longer accepts 2")]
    assert str(breaks[0]) == "data.courses[].semester: narrowed: no longer accepts 2"


def test_recursive_schemas_terminate() -> None:
    node = obj({"name": STRING, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}})
    old = {"$ref": "#/$defs/Node", "$defs": {"Node": node}}
    new = copy.deepcopy(old)
    new["$defs"]["Node"]["properties"]["name"] = {"type": "string", "maxLength": 10}
    assert kinds(old, new) == [("name", "narrowed")]
    assert compatibility_breaks(old, copy.deepcopy(old)) == []


def test_compare_releases_reports_removed_types_and_ignores_new_ones() -> None:
    baseline = {"A": OLD, "B": OLD}
    current = {"A": OLD, "C": obj({"y": STRING}, ["y"])}
    result = compare_releases(baseline, current)
    assert list(result) == ["B"]
    assert result["B"][0].kind == "removed"


# --- the real contract against its released baseline ------------------------------------------------------------


def test_every_event_type_is_released() -> None:
    released = load_baselines(BASELINE)
    unreleased = sorted(set(EVENT_TYPES) - set(released))
    assert unreleased == [], f"no baseline for {unreleased}: run `uv run python -m contracts.export --release`"


def test_current_schemas_do_not_break_released_ones() -> None:
    breaks = baseline_breaks()
    assert breaks == [], (
        "these changes would break existing consumers; publish them under a new type name (e.g. EnrolmentCreated.v2) "
        "instead:\n" + "\n".join(breaks)
    )


def _mutated(type_name: str, edit: Any) -> dict[str, Any]:
    schemas = all_event_schemas()
    edit(schemas[type_name])
    return schemas


def test_the_real_check_fails_on_a_narrowed_semester() -> None:
    def narrow(schema: dict[str, Any]) -> None:
        schema["$defs"]["Course"]["properties"]["semester"]["enum"] = [1]

    assert baseline_breaks(_mutated("EnrolmentCreated", narrow), BASELINE) == [
        "EnrolmentCreated: data.microcredential.courses[].semester: narrowed: no longer accepts 2"
    ]


def test_the_real_check_fails_on_a_removed_field_and_a_new_required_one() -> None:
    def edit(schema: dict[str, Any]) -> None:
        student = schema["$defs"]["Student"]
        del student["properties"]["email"]
        student["required"].remove("email")
        student["properties"]["phone"] = {"type": "string"}
        student["required"].append("phone")

    assert baseline_breaks(_mutated("EnrolmentCreated", edit), BASELINE) == [
        "EnrolmentCreated: data.student.email: removed: field removed (or renamed); consumers still read it",
        "EnrolmentCreated: data.student.phone: newly-required: new required field; old producers do not send it",
    ]


def test_the_real_check_fails_when_a_model_changes() -> None:
    # The same type name with a tighter model, as an engineer might edit events.py.
    class TighterCancelled(EnrolmentCancelled):
        reason: Paragraph = Field(min_length=1, max_length=100)

    schemas = all_event_schemas({**EVENT_TYPES, "EnrolmentCancelled": TighterCancelled})
    assert baseline_breaks(schemas, BASELINE) == [
        "EnrolmentCancelled: data.reason: narrowed: no longer accepts null",
        "EnrolmentCancelled: data.reason: narrowed: minLength 1 added",
        "EnrolmentCancelled: data.reason: narrowed: maxLength 1000 -> 100",
        "EnrolmentCancelled: data.reason: newly-required: now required; old producers may leave it out",
    ]


def test_the_real_check_accepts_an_added_optional_field() -> None:
    class StudentWithPhone(Student):
        phone: str | None = None

    class CreatedWithPhone(EnrolmentCreated):
        student: StudentWithPhone
        campus: str | None = Field(default=None, max_length=100)

    schemas = all_event_schemas({**EVENT_TYPES, "EnrolmentCreated": CreatedWithPhone})
    assert schemas["EnrolmentCreated"] != all_event_schemas()["EnrolmentCreated"]
    assert baseline_breaks(schemas, BASELINE) == []


def test_the_real_check_fails_when_a_type_disappears() -> None:
    schemas = all_event_schemas({name: model for name, model in EVENT_TYPES.items() if name != "CredentialRevoked"})
    assert baseline_breaks(schemas, BASELINE) == [
        "CredentialRevoked: (root): removed: event type 'CredentialRevoked' no longer exists; consumers still expect it"
    ]


def _copy_baseline(tmp_path: Path) -> Path:
    root = tmp_path / "contracts"
    shutil.copytree(BASELINE, root / "baseline")
    return root


def test_release_refuses_a_breaking_change(tmp_path: Path) -> None:
    root = _copy_baseline(tmp_path)
    released = root / "baseline" / "CourseCompleted.json"
    schema = json.loads(released.read_text())
    # As if the released contract had a field the models have since dropped.
    schema["$defs"]["CourseCompleted"]["properties"]["ects_grade"] = {"type": "string"}
    released.write_text(json.dumps(schema))
    breaks, written = release(root)
    assert breaks == ["CourseCompleted: data.ects_grade: removed: field removed (or renamed); consumers still read it"]
    assert written == []
    assert json.loads(released.read_text()) == schema


def test_release_adds_new_types_and_updates_compatible_ones(tmp_path: Path) -> None:
    root = _copy_baseline(tmp_path)
    (root / "baseline" / "CredentialRevoked.json").unlink()
    changed = root / "baseline" / "CourseCompleted.json"
    schema = json.loads(changed.read_text())
    schema["description"] = "older words"
    changed.write_text(json.dumps(schema))
    breaks, written = release(root)
    assert breaks == []
    assert sorted(map(str, written)) == ["baseline/CourseCompleted.json", "baseline/CredentialRevoked.json"]
    assert load_baselines(root / "baseline") == all_event_schemas()


def _released_looser(root: Path) -> tuple[Path, dict[str, Any]]:
    """As if the released CourseCompleted had no bound on the grade and the old Unicode-aware money-style pattern."""
    released = root / "baseline" / "CourseCompleted.json"
    schema = json.loads(released.read_text())
    grade = schema["$defs"]["Grade"]["properties"]["value"]
    del grade["maxLength"]
    grade["pattern"] = r"^\d+$"
    released.write_text(json.dumps(schema))
    return released, schema


def test_release_refuses_a_tightening_unless_it_is_accepted(tmp_path: Path) -> None:
    root = _copy_baseline(tmp_path)
    released, looser = _released_looser(root)
    breaks, written = release(root)
    assert sorted(line.split(": ")[2] for line in breaks) == ["changed", "narrowed"]
    assert json.loads(released.read_text()) == looser
    breaks, written = release(root, accept_tightening=True)
    assert (breaks, list(map(str, written))) == ([], ["baseline/CourseCompleted.json"])
    assert load_baselines(root / "baseline") == all_event_schemas()


def test_accepting_tightenings_still_refuses_a_removed_or_widened_field(tmp_path: Path) -> None:
    root = _copy_baseline(tmp_path)
    released, schema = _released_looser(root)
    schema["$defs"]["CourseCompleted"]["properties"]["ects_grade"] = {"type": "string"}
    schema["$defs"]["Grade"]["properties"]["scale"]["maxLength"] = 10
    released.write_text(json.dumps(schema))
    breaks, written = release(root, accept_tightening=True)
    assert sorted(breaks) == [
        "CourseCompleted: data.ects_grade: removed: field removed (or renamed); consumers still read it",
        "CourseCompleted: data.grade.scale: widened: maxLength 10 -> 40",
    ]
    assert written == []


@pytest.mark.parametrize(
    ("item", "tightening"),
    [
        (Break("a", "narrowed", "maxItems 40 added"), True),
        (Break("a", "changed", r"pattern '^\\d$' -> '^[0-9]$'", "pattern"), True),
        (Break("a", "changed", "items changed"), False),
        (Break("a", "widened", "maxLength 10 -> 40"), False),
        (Break("a", "removed", "field removed"), False),
        (Break("a", "newly-required", "new required field"), False),
        (Break("a", "no-longer-required", "may now be missing"), False),
    ],
)
def test_only_narrowings_and_changed_patterns_count_as_tightenings(item: Break, tightening: bool) -> None:
    assert is_tightening(item) is tightening
