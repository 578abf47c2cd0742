"""Write the contract's generated files: JSON Schemas, the AsyncAPI document and the README examples.

    uv run python -m contracts.export            # regenerate contracts/schemas, asyncapi.yaml, README examples
    uv run python -m contracts.export --check    # exit 1 when a checked-in file differs from the models
    uv run python -m contracts.export --release  # also snapshot contracts/baseline (refused if it would break)
    uv run python -m contracts.export --release --accept-tightening  # also release limits and patterns tightened

The baseline is the schema of each type as released; the compatibility test compares the models against it.
`--release` adds baselines for new types and updates those whose change is compatible (an added optional field),
and refuses when a change would break consumers: such a change needs a new type name (`EnrolmentCreated.v2`).
`--accept-tightening` also releases changes that only make the contract reject more (a bound added, a pattern
made ASCII-only): the README's "Changes" section says when that is allowed, and the commit must say why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.asyncapi import render_asyncapi
from contracts.compat import Break, compare_releases, is_tightening, iter_breaks
from contracts.envelope import CloudEvent
from contracts.events import EventPayload
from contracts.examples import example_events
from contracts.schemas import JsonSchema, all_event_schemas

EXAMPLES_BEGIN = "<!-- BEGIN GENERATED EXAMPLES: `uv run python -m contracts.export` writes this part; do not edit -->"
EXAMPLES_END = "<!-- END GENERATED EXAMPLES -->"


def contracts_dir() -> Path:
    """The `contracts/` project directory (this file is contracts/src/contracts/export.py)."""
    return Path(__file__).resolve().parents[2]


def schema_text(schema: JsonSchema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def value_text(event: CloudEvent[EventPayload]) -> str:
    """The example's Kafka value, pretty-printed (any JSON whitespace is fine on the wire)."""
    return json.dumps(event.to_json(), indent=2, ensure_ascii=False)


def render_examples(events: dict[str, CloudEvent[EventPayload]]) -> str:
    parts = [EXAMPLES_BEGIN, ""]
    for name, event in events.items():
        record = event.to_kafka()
        parts += [
            f"### {name}",
            "",
            f"Topic `{record.topic}`, schema [`schemas/{name}.json`](schemas/{name}.json).",
            "",
            "| Kafka | |",
            "| --- | --- |",
            f"| key | `{record.key.decode('utf-8')}` |",
            *(f"| header | `{header}: {value.decode('utf-8')}` |" for header, value in record.headers),
            "",
            "```json",
            value_text(event),
            "```",
            "",
        ]
    parts.append(EXAMPLES_END)
    return "\n".join(parts)


def readme_with_examples(readme: str, events: dict[str, CloudEvent[EventPayload]]) -> str:
    start, end = readme.find(EXAMPLES_BEGIN), readme.find(EXAMPLES_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the markers {EXAMPLES_BEGIN!r} ... {EXAMPLES_END!r}")
    return readme[:start] + render_examples(events) + readme[end + len(EXAMPLES_END) :]


def generated_files(root: Path | None = None) -> dict[Path, str]:
    """Every generated file (relative to `contracts/`) with the content the models give it now."""
    root = root or contracts_dir()
    files: dict[Path, str] = {
        Path("schemas") / f"{name}.json": schema_text(schema) for name, schema in all_event_schemas().items()
    }
    files[Path("asyncapi.yaml")] = render_asyncapi()
    readme = root / "README.md"
    files[Path("README.md")] = readme_with_examples(readme.read_text(encoding="utf-8"), example_events())
    return files


def stale_schema_files(root: Path, files: dict[Path, str]) -> list[Path]:
    """Schema files of types that no longer exist."""
    directory = root / "schemas"
    if not directory.is_dir():
        return []
    return sorted(path.relative_to(root) for path in directory.glob("*.json") if path.relative_to(root) not in files)


def drift(root: Path | None = None) -> list[str]:
    """Generated files whose checked-in content differs from what the models give (empty when in sync)."""
    root = root or contracts_dir()
    files = generated_files(root)
    problems = []
    for relative, text in files.items():
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{relative}: differs from the models")
    problems += [f"{relative}: no such event type any more" for relative in stale_schema_files(root, files)]
    return problems


def write(root: Path | None = None) -> list[Path]:
    """Write every generated file whose content changed; returns the paths written or removed."""
    root = root or contracts_dir()
    files = generated_files(root)
    changed = []
    for relative, text in files.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(relative)
    for relative in stale_schema_files(root, files):
        (root / relative).unlink()
        changed.append(relative)
    return changed


def load_baselines(directory: Path) -> dict[str, Any]:
    """Released schemas by type name (file name without `.json`)."""
    return {
        path.name.removesuffix(".json"): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def baseline_breaks(current: dict[str, JsonSchema] | None = None, directory: Path | None = None) -> list[str]:
    """One line per break between the released baselines and `current` (the models' schemas by default)."""
    current = all_event_schemas() if current is None else current
    directory = directory or contracts_dir() / "baseline"
    return list(iter_breaks(compare_releases(load_baselines(directory), current)))


def release(root: Path | None = None, *, accept_tightening: bool = False) -> tuple[list[str], list[Path]]:
    """Snapshot the current schemas as released, unless that would break consumers. Returns (breaks, written).

    With `accept_tightening`, breaks that only reject more (`compat.is_tightening`) do not stop the release."""
    root = root or contracts_dir()
    directory = root / "baseline"
    current = all_event_schemas()
    found = compare_releases(load_baselines(directory), current)
    kept: dict[str, list[Break]] = {
        name: [item for item in items if not (accept_tightening and is_tightening(item))]
        for name, items in found.items()
    }
    breaks = list(iter_breaks({name: items for name, items in kept.items() if items}))
    if breaks:
        return breaks, []
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in current.items():
        path = directory / f"{name}.json"
        text = schema_text(schema)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path.relative_to(root))
    return [], written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.export", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    mode.add_argument("--release", action="store_true", help="also snapshot contracts/baseline (if compatible)")
    parser.add_argument(
        "--accept-tightening", action="store_true", help="with --release: also release bounds and patterns tightened"
    )
    args = parser.parse_args(argv)
    if args.accept_tightening and not args.release:
        parser.error("--accept-tightening only goes with --release")
    if args.check:
        problems = drift() + baseline_breaks()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `uv run python -m contracts.export` (and fix breaking changes)", file=sys.stderr)
        return 1 if problems else 0
    for path in write():
        print(f"wrote contracts/{path}")
    if args.release:
        if args.accept_tightening:
            for line in baseline_breaks():
                print(f"releasing a tightening: {line}")
        breaks, written = release(accept_tightening=args.accept_tightening)
        if breaks:
            print(
                "refusing to release: these changes would break consumers; use a new type name instead", file=sys.stderr
            )
            for line in breaks:
                print(f"  {line}", file=sys.stderr)
            return 1
        for path in written:
            print(f"released contracts/{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
