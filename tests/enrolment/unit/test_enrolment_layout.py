"""The service's interior keeps its shape (issue 9): arrows that run against it fail here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import enrolment

PACKAGE = Path(enrolment.__file__).resolve().parent
SOURCES = sorted(path for path in PACKAGE.rglob("*.py") if "versions" not in path.parts)

# The kit's database pieces, which only the store may use.
DATABASE = ("sqlalchemy", "sqlmodel", "reliability.database", "reliability.outbox", "reliability.tables")
DATABASE += ("reliability.columns", "reliability.lease", "reliability.store")
IO = ("aiokafka", "fastapi", "yaml", "uuid", "logging", "reliability", "enrolment.store", "enrolment.usecases")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def importing(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    found = {}
    for path in SOURCES:
        hits = {name for name in imports_of(path) if name.startswith(prefixes)}
        if hits:
            found[str(path.relative_to(PACKAGE))] = hits
    return found


def test_only_the_store_touches_the_database_and_the_kits_database_pieces() -> None:
    assert set(importing(DATABASE)) == {"store.py"}


def test_the_domain_imports_nothing_with_io() -> None:
    assert {path: hits for path, hits in importing(IO).items() if path.startswith("domain/")} == {}


def test_http_routes_never_import_the_kafka_entrypoint() -> None:
    assert {path for path in importing(("enrolment.entrypoints.kafka",)) if "entrypoints/http" in path} == set()


def test_no_function_is_a_screen_long_and_no_file_passes_400_lines() -> None:
    too_long = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                if node.end_lineno - node.lineno + 1 > 60:
                    too_long.append(f"{path.name}: {node.name}")
    assert too_long == []
