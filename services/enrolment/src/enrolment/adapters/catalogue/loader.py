"""Load and validate the micro-credential catalogue: one YAML file per academic year, e.g. ``2026-2027.yaml``.

The whole directory is checked before anything is returned, and every problem found is reported at once, each
naming the file, the entry (index and id) and the field: whoever edits the catalogue fixes it in one pass, and
a service never starts with half a catalogue.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import yaml

from enrolment.adapters.catalogue.entries import EntryReader
from enrolment.adapters.catalogue.issues import CatalogueError, CatalogueIssue
from enrolment.adapters.catalogue.values import (
    CATALOGUE_SUFFIXES,
    TOP_FIELDS,
    academic_year_problem,
    check_bounds,
    unknown_field,
)
from enrolment.domain.catalogue import Catalogue, MicroCredential

CATALOGUE_DIRECTORY = Path(__file__).resolve().parents[2] / "catalogue"
"""The catalogue shipped with the service (package data: ``enrolment/catalogue/<academic year>.yaml``)."""

DEFAULT_CREDIT_BOUNDS: tuple[Decimal, Decimal] = (Decimal(3), Decimal(19))
"""The University of Antwerp's micro-credentials total between 3 and 19 credits."""


def load_catalogue(
    directory: Path | None = None,
    credit_bounds: tuple[Decimal | int | str, Decimal | int | str] = DEFAULT_CREDIT_BOUNDS,
) -> Catalogue:
    """Load every ``<academic year>.yaml`` in `directory` (default: the shipped catalogue).

    `credit_bounds` are the inclusive minimum and maximum of a micro-credential's total credits.
    Raises CatalogueError listing every problem of every file.
    """
    directory = CATALOGUE_DIRECTORY if directory is None else directory
    low, high = check_bounds(credit_bounds)
    if not directory.is_dir():
        raise CatalogueError([CatalogueIssue(str(directory), None, None, "is not a directory")])
    paths = sorted(path for path in directory.iterdir() if path.suffix in CATALOGUE_SUFFIXES and path.is_file())
    if not paths:
        raise CatalogueError(
            [CatalogueIssue(str(directory), None, None, "holds no catalogue file (<academic year>.yaml)")]
        )
    issues: list[CatalogueIssue] = []
    entries: list[MicroCredential] = []
    files_by_year: dict[str, Path] = {}
    for path in paths:
        if path.stem in files_by_year:
            issues.append(
                CatalogueIssue(
                    str(path), None, "academic_year", f"{files_by_year[path.stem].name} already holds {path.stem}"
                )
            )
            continue
        files_by_year[path.stem] = path
        file_entries, file_issues = _load_file(path, low, high)
        entries.extend(file_entries)
        issues.extend(file_issues)
    if issues:
        raise CatalogueError(issues)
    return Catalogue.of(entries)


def load_catalogue_file(
    path: Path, credit_bounds: tuple[Decimal | int | str, Decimal | int | str] = DEFAULT_CREDIT_BOUNDS
) -> tuple[MicroCredential, ...]:
    """Load and validate a single catalogue file; raises CatalogueError."""
    low, high = check_bounds(credit_bounds)
    entries, issues = _load_file(path, low, high)
    if issues:
        raise CatalogueError(issues)
    return entries


# --- one file ---------------------------------------------------------------------------------------------


def _load_file(path: Path, low: Decimal, high: Decimal) -> tuple[tuple[MicroCredential, ...], list[CatalogueIssue]]:
    issues: list[CatalogueIssue] = []
    document = _read_document(path, issues)
    if document is None:
        return (), issues
    year = _academic_year(path, document, issues)
    raw_entries = document.get("microcredentials")
    if raw_entries is None:
        issues.append(CatalogueIssue(str(path), None, "microcredentials", "is required (a list of micro-credentials)"))
        return (), issues
    if not isinstance(raw_entries, list) or not raw_entries:
        issues.append(
            CatalogueIssue(str(path), None, "microcredentials", "must be a non-empty list of micro-credentials")
        )
        return (), issues
    return _read_entries(str(path), raw_entries, year or path.stem, low, high, issues), issues


def _read_document(path: Path, issues: list[CatalogueIssue]) -> dict[Any, Any] | None:
    """The file's YAML mapping, or None after recording why there is none."""
    file = str(path)
    problem: tuple[str | None, str] | None = None
    document: Any = None
    if academic_year_problem(path.stem) is not None:
        problem = ("academic_year", f"the file name must be <academic year>{path.suffix}, e.g. 2026-2027.yaml")
    else:
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
        except (OSError, UnicodeDecodeError) as error:
            problem = (None, f"cannot be read: {error}")
        except yaml.YAMLError as error:
            problem = (None, "is not valid YAML: " + " ".join(str(error).split()))
        else:
            if not isinstance(document, dict):
                problem = (None, f"must be a YAML mapping with {' and '.join(TOP_FIELDS)}")
    if problem is not None:
        issues.append(CatalogueIssue(file, None, *problem))
        return None
    return cast(dict[Any, Any], document)


def _academic_year(path: Path, document: dict[Any, Any], issues: list[CatalogueIssue]) -> str | None:
    """The file's academic_year if it is valid and matches the file name; records the unknown top-level fields."""
    file = str(path)
    for key in document:
        if key not in TOP_FIELDS:
            issues.append(CatalogueIssue(file, None, str(key), unknown_field(key, TOP_FIELDS)))
    year = document.get("academic_year")
    if year is None:
        issues.append(CatalogueIssue(file, None, "academic_year", "is required"))
    elif not isinstance(year, str) or academic_year_problem(year) is not None:
        problem = f'must be text like "2026-2027" (two consecutive years), got {year!r}'
        issues.append(CatalogueIssue(file, None, "academic_year", problem))
        return None
    elif year != path.stem:
        problem = f"is {year!r} but the file is named for {path.stem!r}; they must match"
        issues.append(CatalogueIssue(file, None, "academic_year", problem))
        return None
    return year


def _read_entries(
    file: str, raw_entries: list[Any], academic_year: str, low: Decimal, high: Decimal, issues: list[CatalogueIssue]
) -> tuple[MicroCredential, ...]:
    entries: list[MicroCredential] = []
    first_index_of: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        reader = EntryReader(file, index, raw, issues)
        entry = reader.read(academic_year, low, high)
        entry_id = reader.raw_id
        if entry_id is not None:
            if entry_id in first_index_of:
                reader.issue(
                    "id", f"duplicate micro-credential id (first at microcredentials[{first_index_of[entry_id]}])"
                )
                continue
            first_index_of[entry_id] = index
        if entry is not None:
            entries.append(entry)
    return tuple(entries)


# --- YAML --------------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key repeated in one mapping (PyYAML would silently keep the last value)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        # Keys merged in with "<<: *anchor" may be overridden on purpose; only keys written here must be unique.
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key_node.value)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
