"""Every service's interior keeps the one shape (issue 9): arrows that run against it fail here, not in review.

domain/ does no I/O; only the store touches the database and the kit's database pieces; HTTP routes never import
the Kafka entrypoint and open no transaction; use cases know no framework; functions fit on a screen.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SERVICES = ("enrolment", "billing", "certification")

# The kit's database pieces, which only the store may use.
DATABASE = ("sqlalchemy", "sqlmodel", "reliability.database", "reliability.outbox", "reliability.tables")
DATABASE += ("reliability.columns", "reliability.lease", "reliability.store")
FRAMEWORKS = ("aiokafka", "faststream", "fastapi", "starlette", "uvicorn")
IO = (*FRAMEWORKS, "yaml", "uuid", "logging", "importlib", "pathlib", "reliability", *DATABASE)


def sources(service: str) -> dict[str, Path]:
    package = Path(importlib.import_module(service).__file__ or "").resolve().parent
    paths = sorted(path for path in package.rglob("*.py") if "versions" not in path.parts)
    return {str(path.relative_to(package)): path for path in paths}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def importing(service: str, prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    found = {}
    for name, path in sources(service).items():
        hits = {module for module in imports_of(path) if module.startswith(prefixes)}
        if hits:
            found[name] = hits
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_store_touches_the_database_and_the_kits_database_pieces(service: str) -> None:
    # Alembic's env.py is the store's twin for migrations; the store is a module or a package.
    outside = {name for name in importing(service, DATABASE) if not name.startswith(("store", "migrations/"))}
    assert outside == set()


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_imports_nothing_with_io(service: str) -> None:
    own = (f"{service}.store", f"{service}.usecases", f"{service}.adapters", f"{service}.entrypoints")
    hits = importing(service, (*IO, *own))
    assert {name: found for name, found in hits.items() if name.startswith("domain/")} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_use_cases_know_no_framework_and_no_entrypoint(service: str) -> None:
    hits = importing(service, (*FRAMEWORKS, f"{service}.entrypoints"))
    assert {name: found for name, found in hits.items() if name.startswith("usecases")} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_http_routes_never_import_the_kafka_entrypoint(service: str) -> None:
    hits = importing(service, (f"{service}.entrypoints.kafka", "faststream", "aiokafka"))
    assert {name for name in hits if name.startswith("entrypoints/http")} == set()


@pytest.mark.parametrize("service", SERVICES)
def test_no_function_is_a_screen_long_and_no_file_passes_400_lines(service: str) -> None:
    too_long = []
    for name, path in sources(service).items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 400:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                if node.end_lineno - node.lineno + 1 > 60:
                    too_long.append(f"{name}: {node.name}")
    assert too_long == []
