"""Plain-text tables and value rendering; no third-party dependency, so the CLI runs anywhere the services run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    """Left-aligned columns separated by two spaces; numbers right-aligned so offsets line up."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], len(value))
    numeric = [
        any(isinstance(row[index], int) for row in rows) and all(isinstance(row[index], int | None) for row in rows)
        for index in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [value.rjust(widths[i]) if numeric[i] else value.ljust(widths[i]) for i, value in enumerate(values)]
        return "  ".join(parts).rstrip()

    print(line(list(headers)), file=out)
    for row in cells:
        print(line(row), file=out)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return str(value)


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line: reasons may hold newlines
    return text if len(text) <= width else text[: width - 1] + "…"


def decode_text(value: bytes | None) -> str | None:
    """Bytes as text for people; undecodable bytes are shown escaped rather than hidden."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return repr(value)


def parse_json(value: bytes | None) -> Any:
    """The value as JSON, or None when it is not UTF-8 JSON (a poison message often isn't)."""
    if value is None:
        return None
    try:
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def kafka_timestamp(timestamp_ms: int | None) -> str | None:
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="seconds")


def dump_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), file=out)
