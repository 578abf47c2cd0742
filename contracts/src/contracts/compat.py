"""Would a schema change break a consumer? A structural comparison of two JSON Schemas of the same event type.

Producers and consumers upgrade independently and topics keep old messages, so a change must work both ways:

* backward: a consumer on the new contract must still accept what producers on the old one send. Narrowing
  breaks it: a type, value set or limit that now rejects something the old schema accepted (string -> enum,
  number -> integer, a tighter pattern or length, an added enum), and a newly required field.
* forward: a consumer on the old contract must still accept what producers on the new one send, and still find
  what it reads. Removing (or renaming) a field breaks it, so does a field that is no longer required, and so does
  widening: consumers validate values (semester 3 goes to the dead-letter topic), so a new enum value or a longer
  maximum is rejected by every reader that has not upgraded.

Adding an optional field is the one structural change that is safe: readers are tolerant and ignore unknown
fields. Annotations (title, description, examples, default) may change freely. Anything this checker does not
understand counts as a break: it must err on the side of a new type name (e.g. ``EnrolmentCreated.v2``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

JsonSchema = Mapping[str, Any]

BreakKind = Literal["removed", "newly-required", "no-longer-required", "narrowed", "widened", "changed"]

ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly", "writeOnly", "$schema", "$id"}
)
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum", "minContains")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum", "maxContains")
# Keywords whose meaning this module handles itself; every other validation keyword must stay exactly the same.
_HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "properties",
        "required",
        "additionalProperties",
        "items",
        *_LOWER_BOUNDS,
        *_UPPER_BOUNDS,
    }
)
# Compared by equality, but an added one narrows and a removed one widens.
_RESTRICTIONS = ("pattern", "format", "multipleOf", "uniqueItems", "contentMediaType", "contentEncoding")


@dataclass(frozen=True)
class Break:
    """One incompatible difference, at a path in the message (e.g. ``data.microcredential.courses[].semester``)."""

    path: str
    kind: BreakKind
    detail: str
    keyword: str = ""
    """The schema keyword that changed, where the checker knows it (``pattern`` for a changed pattern)."""

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.kind}: {self.detail}"


def compatibility_breaks(old: JsonSchema, new: JsonSchema) -> list[Break]:
    """Every difference between `old` (as released) and `new` that would break a producer or consumer."""
    comparison = _Comparison(old_root=old, new_root=new)
    comparison.compare(old, new, "")
    return comparison.breaks


def compare_releases(baseline: Mapping[str, JsonSchema], current: Mapping[str, JsonSchema]) -> dict[str, list[Break]]:
    """Breaks per released type name; a released type that disappeared is a break of its own."""
    result: dict[str, list[Break]] = {}
    for name, released in baseline.items():
        if name not in current:
            result[name] = [Break("", "removed", f"event type {name!r} no longer exists; consumers still expect it")]
            continue
        breaks = compatibility_breaks(released, current[name])
        if breaks:
            result[name] = breaks
    return result


def is_tightening(item: Break) -> bool:
    """A break that can only make the new contract reject more, never accept something new: a limit or
    restriction added or tightened, or a changed pattern (which the checker cannot prove narrower, so whoever
    releases it vouches for that). Old consumers still accept everything new producers send; what new consumers
    reject is dead-lettered with its reason. Removed, newly required or widened fields are never tightenings."""
    return item.kind == "narrowed" or (item.kind == "changed" and item.keyword in ("pattern", "format"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _canonical(value: Any) -> str:
    # Distinguishes 1 from true and "1" (Python's == would not), and is order-independent for objects.
    return _json_type(value) + ":" + json.dumps(value, sort_keys=True)


def _validation_keywords(node: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key not in ANNOTATIONS}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@dataclass
class _Comparison:
    old_root: JsonSchema
    new_root: JsonSchema
    breaks: list[Break] = field(default_factory=list)
    _active: set[tuple[str, str]] = field(default_factory=set)

    def add(self, path: str, kind: BreakKind, detail: str) -> None:
        self.breaks.append(Break(path, kind, detail))

    # --- reading schemas --------------------------------------------------------------------------------------

    def resolve(self, node: Mapping[str, Any], root: JsonSchema) -> dict[str, Any]:
        """Follow local `$ref`s and single-entry `allOf`s, keeping sibling keywords (2020-12 allows them)."""
        resolved = dict(node)
        for _ in range(64):
            if "$ref" in resolved:
                ref = resolved.pop("$ref")
                resolved = {**self.pointer(root, ref), **resolved}
            elif isinstance(resolved.get("allOf"), list) and len(resolved["allOf"]) == 1:
                (only,) = resolved.pop("allOf")
                resolved = {**only, **resolved}
            else:
                return resolved
        raise ValueError("$ref chain too long (a $ref cycle?)")

    @staticmethod
    def pointer(root: JsonSchema, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        target: Any = root
        for part in (p for p in ref[1:].split("/") if p):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(target, Mapping):
            raise ValueError(f"$ref {ref!r} does not point at a schema")
        return dict(target)

    def branches(self, node: Mapping[str, Any], root: JsonSchema) -> list[dict[str, Any]]:
        """The schema as alternatives of one JSON type each ("any" where no type is given)."""
        resolved = self.resolve(node, root)
        for combinator in ("anyOf", "oneOf"):
            if combinator in resolved:
                siblings = {k: v for k, v in resolved.items() if k != combinator}
                result: list[dict[str, Any]] = []
                for sub in resolved[combinator]:
                    for branch in self.branches(sub, root):
                        result.append({**siblings, **branch})
                return result
        if "const" in resolved or "enum" in resolved:
            values = [resolved["const"]] if "const" in resolved else list(resolved["enum"])
            rest = {k: v for k, v in resolved.items() if k not in ("const", "enum", "type")}
            by_type: dict[str, list[Any]] = {}
            for value in values:
                by_type.setdefault(_json_type(value), []).append(value)
            return [{**rest, "type": kind, "enum": kind_values} for kind, kind_values in by_type.items()]
        declared = resolved.get("type")
        if declared is None:
            return [{**resolved, "type": "any"}]
        if isinstance(declared, list):
            return [{**resolved, "type": kind} for kind in declared]
        return [resolved]

    # --- comparing --------------------------------------------------------------------------------------------

    def compare(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        # A recursive schema ($ref back to a definition being compared) would recurse forever: stop at the cycle.
        token = (str(old.get("$ref")), str(new.get("$ref")))
        recursive = "$ref" in old and "$ref" in new
        if recursive and token in self._active:
            return
        if recursive:
            self._active.add(token)
        try:
            self._compare_branches(self.branches(old, self.old_root), self.branches(new, self.new_root), path)
        finally:
            if recursive:
                self._active.discard(token)

    def _compare_branches(self, old: list[dict[str, Any]], new: list[dict[str, Any]], path: str) -> None:
        old_by_kind = _group(old)
        new_by_kind = _group(new)
        if "any" in old_by_kind and "any" not in new_by_kind:
            self.add(path, "narrowed", f"any JSON value was accepted, now only {_kinds(new_by_kind)}")
        elif "any" in new_by_kind and "any" not in old_by_kind:
            self.add(path, "widened", f"only {_kinds(old_by_kind)} was accepted, now any JSON value")
        else:
            self._compare_kinds(old_by_kind, new_by_kind, path)
        for kind in old_by_kind.keys() & new_by_kind.keys():
            olds, news = old_by_kind[kind], new_by_kind[kind]
            if len(olds) == 1 and len(news) == 1:
                self.compare_branch(olds[0], news[0], path)
            elif sorted(map(_canonical, olds)) != sorted(map(_canonical, news)):
                self.add(path, "changed", f"the alternatives of type {kind} changed")

    def _compare_kinds(
        self, old_by_kind: dict[str, list[dict[str, Any]]], new_by_kind: dict[str, list[dict[str, Any]]], path: str
    ) -> None:
        gone = old_by_kind.keys() - new_by_kind.keys()
        added = new_by_kind.keys() - old_by_kind.keys()
        # integer is a subset of number: number -> integer narrows, integer -> number widens.
        if "number" in gone and "integer" in added:
            self.add(path, "narrowed", "number became integer")
            self.compare_branch(old_by_kind["number"][0], new_by_kind["integer"][0], path)
            gone, added = gone - {"number"}, added - {"integer"}
        if "integer" in gone and "number" in added:
            self.add(path, "widened", "integer became number")
            self.compare_branch(old_by_kind["integer"][0], new_by_kind["number"][0], path)
            gone, added = gone - {"integer"}, added - {"number"}
        for kind in sorted(gone):
            self.add(path, "narrowed", f"no longer accepts {kind}")
        for kind in sorted(added):
            self.add(path, "widened", f"now also accepts {kind}")

    def compare_branch(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        self._compare_enum(old.get("enum"), new.get("enum"), path)
        self._compare_bounds(old, new, path)
        for keyword in _RESTRICTIONS:
            self._compare_restriction(keyword, old.get(keyword), new.get(keyword), path)
        if "properties" in old or "properties" in new or "required" in old or "required" in new:
            self._compare_object(old, new, path)
        self._compare_additional(old.get("additionalProperties"), new.get("additionalProperties"), path)
        if "items" in old or "items" in new:
            self._compare_items(old.get("items"), new.get("items"), path)
        handled = _HANDLED | ANNOTATIONS | set(_RESTRICTIONS)
        for keyword in sorted((old.keys() | new.keys()) - handled):
            if _canonical(old.get(keyword)) != _canonical(new.get(keyword)):
                self.add(path, "changed", f"{keyword} changed (not understood by the checker, so assumed breaking)")

    def _compare_enum(self, old: list[Any] | None, new: list[Any] | None, path: str) -> None:
        if old is None and new is None:
            return
        if old is None:
            self.add(path, "narrowed", f"restricted to {_values(new or [])}")
            return
        if new is None:
            self.add(path, "widened", f"no longer restricted to {_values(old)}")
            return
        old_set = {_canonical(v): v for v in old}
        new_set = {_canonical(v): v for v in new}
        removed = [old_set[k] for k in old_set.keys() - new_set.keys()]
        added = [new_set[k] for k in new_set.keys() - old_set.keys()]
        if removed:
            self.add(path, "narrowed", f"no longer accepts {_values(removed)}")
        if added:
            self.add(path, "widened", f"now also accepts {_values(added)}")

    def _compare_bounds(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            lower = keyword in _LOWER_BOUNDS
            if before is None:
                self.add(path, "narrowed", f"{keyword} {after} added")
            elif after is None:
                self.add(path, "widened", f"{keyword} {before} removed")
            elif (after > before) == lower:
                self.add(path, "narrowed", f"{keyword} {before} -> {after}")
            else:
                self.add(path, "widened", f"{keyword} {before} -> {after}")

    def _compare_restriction(self, keyword: str, old: Any, new: Any, path: str) -> None:
        if old == new or (keyword == "uniqueItems" and not old and not new):
            return
        if old is None or old is False:
            self.add(path, "narrowed", f"{keyword} {new!r} added")
        elif new is None or new is False:
            self.add(path, "widened", f"{keyword} {old!r} removed")
        else:
            # Whether one regex (or format) accepts a subset of another is undecidable in general: any change counts.
            self.breaks.append(Break(path, "changed", f"{keyword} {old!r} -> {new!r}", keyword))

    def _compare_object(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        closed = old.get("additionalProperties") is False
        for name in old_props:
            if name not in new_props:
                self.add(_join(path, name), "removed", "field removed (or renamed); consumers still read it")
        for name in new_props:
            if name in old_props:
                self.compare(old_props[name], new_props[name], _join(path, name))
            elif name in new_required:
                self.add(_join(path, name), "newly-required", "new required field; old producers do not send it")
            elif closed:
                self.add(_join(path, name), "widened", "new field where old readers reject unknown fields")
        for name in sorted(new_required - old_required):
            if name in old_props or name not in new_props:
                self.add(_join(path, name), "newly-required", "now required; old producers may leave it out")
        for name in sorted(old_required - new_required):
            if name in new_props or name not in old_props:
                self.add(_join(path, name), "no-longer-required", "may now be missing; old consumers require it")

    def _compare_additional(self, old: Any, new: Any, path: str) -> None:
        def openness(value: Any) -> Any:
            return True if value is None or value is True or value == {} else value

        before, after = openness(old), openness(new)
        if before is True and after is True:
            return
        if before is True:
            self.add(_join(path, "*"), "narrowed", "unknown fields are no longer accepted freely")
        elif after is True:
            self.add(_join(path, "*"), "widened", "unknown fields were restricted, now accepted freely")
        elif before is False or after is False:
            if before != after:
                self.add(_join(path, "*"), "changed", "additionalProperties changed")
        else:
            self.compare(before, after, _join(path, "*"))

    def _compare_items(self, old: Any, new: Any, path: str) -> None:
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            self.compare(old, new, path + "[]")
        elif _canonical(old) != _canonical(new):
            self.add(path + "[]", "changed", "items changed")


def _group(branches: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for branch in branches:
        grouped.setdefault(str(branch["type"]), []).append(_validation_keywords(branch))
    return grouped


def _kinds(by_kind: Mapping[str, object]) -> str:
    return " or ".join(sorted(by_kind)) or "nothing"


def _values(values: list[Any]) -> str:
    return ", ".join(sorted(json.dumps(v) for v in values))


def iter_breaks(result: Mapping[str, list[Break]]) -> Iterator[str]:
    """Human-readable lines, one per break, prefixed with the event type."""
    for name, breaks in result.items():
        for item in breaks:
            yield f"{name}: {item}"
