"""Load and validate the micro-credential catalogue: one YAML file per academic year, e.g. ``2026-2027.yaml``.

The whole directory is checked before anything is returned, and every problem found is reported at once, each
naming the file, the entry (index and id) and the field: whoever edits the catalogue fixes it in one pass, and
a service never starts with half a catalogue.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from contracts.currencies import ISO_4217_CODES

from enrolment.domain.catalogue import (
    FORMATS,
    Catalogue,
    CatalogueAwardingBody,
    CatalogueCourse,
    CatalogueTuition,
    Format,
    MicroCredential,
    Semester,
)

CATALOGUE_DIRECTORY = Path(__file__).resolve().parent
"""The catalogue shipped with the service (package data next to this module)."""

DEFAULT_CREDIT_BOUNDS: tuple[Decimal, Decimal] = (Decimal(3), Decimal(19))
"""The University of Antwerp's micro-credentials total between 3 and 19 credits."""

CATALOGUE_SUFFIXES = (".yaml", ".yml")

_YEAR = re.compile(r"^(\d{4})-(\d{4})$")
# "/" is excluded because the catalogue topic's key is "<year>/<id>"; the rest keeps ids safe in URLs.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_MONEY = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_URL = re.compile(r"^https?://\S+$")

_TOP_FIELDS = ("academic_year", "microcredentials")
_ENTRY_FIELDS = (
    "id",
    "title",
    "description",
    "language",
    "format",
    "courses",
    "tuition",
    "learning_outcomes",
    "eqf_level",
    "cycle",
    "assessment_type",
    "participation_form",
    "quality_assurance",
    "awarding_body",
    "prerequisites",
    "stackability",
)
_COURSE_FIELDS = ("id", "title", "credits", "semester")
_TUITION_FIELDS = ("currency", "fixed_fee", "per_credit")
_AWARDING_BODY_FIELDS = ("name", "url", "country", "region")

# Longest texts the wire contract (MicroCredentialPublished) accepts; checked here so publishing cannot fail.
_MAX_LENGTH = {
    "title": 300,
    "description": 5000,
    "cycle": 100,
    "assessment_type": 500,
    "participation_form": 500,
    "quality_assurance": 1000,
    "prerequisites": 2000,
    "stackability": 2000,
}
_MAX_OUTCOME_LENGTH = 2000

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogueIssue:
    """One problem in a catalogue file: where it is (file, entry, field) and what is wrong."""

    file: str
    entry: str | None
    """E.g. ``microcredentials[2] 'mc-port-logistics'``; None for the file itself (its name, its header)."""
    field: str | None
    """Path of the field inside the entry (or the file), e.g. ``courses[1].credits``."""
    problem: str

    def __str__(self) -> str:
        where = [self.file, self.entry if self.entry is not None else "(file)"]
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return ": ".join([*where, self.problem])


class CatalogueError(ValueError):
    """A catalogue that must not be loaded; `issues` lists every problem found."""

    def __init__(self, issues: Iterable[CatalogueIssue]) -> None:
        self.issues = tuple(issues)
        if len(self.issues) == 1:
            message = f"invalid micro-credential catalogue: {self.issues[0]}"
        else:
            lines = "\n".join(f"  - {issue}" for issue in self.issues)
            message = f"invalid micro-credential catalogue, {len(self.issues)} problems:\n{lines}"
        super().__init__(message)


def load_catalogue(
    directory: Path | None = None,
    credit_bounds: tuple[Decimal | int | str, Decimal | int | str] = DEFAULT_CREDIT_BOUNDS,
) -> Catalogue:
    """Load every ``<academic year>.yaml`` in `directory` (default: the shipped catalogue).

    `credit_bounds` are the inclusive minimum and maximum of a micro-credential's total credits.
    Raises CatalogueError listing every problem of every file.
    """
    directory = CATALOGUE_DIRECTORY if directory is None else directory
    low, high = _check_bounds(credit_bounds)
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
    low, high = _check_bounds(credit_bounds)
    entries, issues = _load_file(path, low, high)
    if issues:
        raise CatalogueError(issues)
    return entries


# --- one file ---------------------------------------------------------------------------------------------


def _load_file(path: Path, low: Decimal, high: Decimal) -> tuple[tuple[MicroCredential, ...], list[CatalogueIssue]]:
    file = str(path)
    issues: list[CatalogueIssue] = []

    def file_issue(field: str | None, problem: str) -> tuple[tuple[MicroCredential, ...], list[CatalogueIssue]]:
        issues.append(CatalogueIssue(file, None, field, problem))
        return (), issues

    if _academic_year_problem(path.stem) is not None:
        return file_issue("academic_year", f"the file name must be <academic year>{path.suffix}, e.g. 2026-2027.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return file_issue(None, f"cannot be read: {error}")
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as error:
        return file_issue(None, "is not valid YAML: " + " ".join(str(error).split()))
    if not isinstance(document, dict):
        return file_issue(None, f"must be a YAML mapping with {' and '.join(_TOP_FIELDS)}")

    for key in document:
        if key not in _TOP_FIELDS:
            issues.append(CatalogueIssue(file, None, str(key), _unknown_field(key, _TOP_FIELDS)))
    year = document.get("academic_year")
    if year is None:
        issues.append(CatalogueIssue(file, None, "academic_year", "is required"))
    elif not isinstance(year, str) or _academic_year_problem(year) is not None:
        issues.append(
            CatalogueIssue(
                file, None, "academic_year", f'must be text like "2026-2027" (two consecutive years), got {year!r}'
            )
        )
        year = None
    elif year != path.stem:
        issues.append(
            CatalogueIssue(
                file, None, "academic_year", f"is {year!r} but the file is named for {path.stem!r}; they must match"
            )
        )
        year = None

    raw_entries = document.get("microcredentials")
    if raw_entries is None:
        issues.append(CatalogueIssue(file, None, "microcredentials", "is required (a list of micro-credentials)"))
        return (), issues
    if not isinstance(raw_entries, list) or not raw_entries:
        issues.append(CatalogueIssue(file, None, "microcredentials", "must be a non-empty list of micro-credentials"))
        return (), issues

    entries: list[MicroCredential] = []
    first_index_of: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        reader = _EntryReader(file, index, raw, issues)
        entry = reader.read(year or path.stem, low, high)
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
    return tuple(entries), issues


class _EntryReader:
    """Reads one micro-credential mapping, recording issues instead of stopping at the first one."""

    def __init__(self, file: str, index: int, raw: Any, issues: list[CatalogueIssue]) -> None:
        self.file = file
        self.raw = raw
        self.issues = issues
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        self.raw_id: str | None = raw_id if isinstance(raw_id, str) and raw_id else None
        self.label = f"microcredentials[{index}]" + (f" {self.raw_id!r}" if self.raw_id is not None else "")
        self.ok = True

    def issue(self, field: str | None, problem: str) -> None:
        self.ok = False
        self.issues.append(CatalogueIssue(self.file, self.label, field, problem))

    def read(self, academic_year: str, low: Decimal, high: Decimal) -> MicroCredential | None:
        raw = self.raw
        if not isinstance(raw, dict):
            self.issue(None, "must be a mapping with the fields of a micro-credential")
            return None
        self._unknown_fields(raw, _ENTRY_FIELDS, "")
        entry_id = self._identifier(raw, "id", "id")
        title = self._text(raw, "title", "title", required=True)
        description = self._text(raw, "description", "description") or ""
        language = self._required(raw, "language", "language", _language)
        format_ = self._required(raw, "format", "format", _format)
        courses = self._courses(raw.get("courses"))
        tuition = self._tuition(raw.get("tuition"))
        outcomes = self._outcomes(raw.get("learning_outcomes"))
        eqf_level = self._optional(raw, "eqf_level", "eqf_level", _eqf_level)
        awarding_body = self._awarding_body(raw.get("awarding_body"))
        texts = {name: self._text(raw, name, name) for name in _MAX_LENGTH if name not in ("title", "description")}

        if courses is not None:
            total = sum((course.credits for course in courses), Decimal(0))
            shown = format(total.normalize(), "f")  # "9", not "9.0" or "9E+0"
            if total < low:
                self.issue("courses", f"total credits {shown} is below the minimum of {low} (bounds {low}-{high})")
            elif total > high:
                self.issue("courses", f"total credits {shown} is above the maximum of {high} (bounds {low}-{high})")

        if not self.ok:
            return None
        # Every value was checked above; the casts only tell the type checker what `ok` already guarantees.
        return MicroCredential(
            id=cast(str, entry_id),
            academic_year=academic_year,
            title=cast(str, title),
            description=description,
            language=cast(str, language),
            format=cast(Format, format_),
            courses=cast(tuple[CatalogueCourse, ...], courses),
            tuition=cast(CatalogueTuition, tuition),
            learning_outcomes=outcomes,
            eqf_level=eqf_level,
            cycle=texts["cycle"],
            assessment_type=texts["assessment_type"],
            participation_form=texts["participation_form"],
            quality_assurance=texts["quality_assurance"],
            awarding_body=awarding_body,
            prerequisites=texts["prerequisites"],
            stackability=texts["stackability"],
        )

    # --- parts ---

    def _courses(self, raw: Any) -> tuple[CatalogueCourse, ...] | None:
        if raw is None:
            self.issue("courses", "is required (a list of courses with id, title, credits, semester)")
            return None
        if not isinstance(raw, list) or not raw:
            self.issue("courses", "must be a non-empty list of courses")
            return None
        courses: list[CatalogueCourse] = []
        first_index_of: dict[str, int] = {}
        failed = False
        for index, item in enumerate(raw):
            path = f"courses[{index}]"
            if not isinstance(item, dict):
                self.issue(path, "must be a mapping with id, title, credits and semester")
                failed = True
                continue
            self._unknown_fields(item, _COURSE_FIELDS, path + ".")
            course_id = self._identifier(item, "id", f"{path}.id")
            title = self._text(item, "title", f"{path}.title", required=True, max_length=300)
            credits = self._required(item, "credits", f"{path}.credits", _credits)
            semester = self._required(item, "semester", f"{path}.semester", _semester)
            if course_id is not None:
                if course_id in first_index_of:
                    self.issue(
                        f"{path}.id",
                        f"duplicate course id {course_id!r} (first at courses[{first_index_of[course_id]}])",
                    )
                    failed = True
                    continue
                first_index_of[course_id] = index
            if course_id is None or title is None or credits is None or semester is None:
                failed = True
                continue
            courses.append(CatalogueCourse(id=course_id, title=title, credits=credits, semester=semester))
        return None if failed else tuple(courses)

    def _tuition(self, raw: Any) -> CatalogueTuition | None:
        if raw is None:
            self.issue("tuition", "is required (currency, fixed_fee, per_credit)")
            return None
        if not isinstance(raw, dict):
            self.issue("tuition", "must be a mapping with currency, fixed_fee and per_credit")
            return None
        self._unknown_fields(raw, _TUITION_FIELDS, "tuition.")
        currency = self._required(raw, "currency", "tuition.currency", _currency)
        fixed_fee = self._required(raw, "fixed_fee", "tuition.fixed_fee", _money)
        per_credit = self._required(raw, "per_credit", "tuition.per_credit", _money)
        if currency is None or fixed_fee is None or per_credit is None:
            return None
        return CatalogueTuition(currency=currency, fixed_fee=fixed_fee, per_credit=per_credit)

    def _awarding_body(self, raw: Any) -> CatalogueAwardingBody | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.issue("awarding_body", "must be a mapping with name, url, country and region")
            return None
        self._unknown_fields(raw, _AWARDING_BODY_FIELDS, "awarding_body.")
        name = self._text(raw, "name", "awarding_body.name", required=True, max_length=300)
        url = self._optional(raw, "url", "awarding_body.url", _url)
        country = self._required(raw, "country", "awarding_body.country", _country)
        region = self._text(raw, "region", "awarding_body.region", max_length=200)
        if name is None or country is None:
            return None
        return CatalogueAwardingBody(name=name, url=url, country=country, region=region)

    def _outcomes(self, raw: Any) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.issue("learning_outcomes", "must be a list of texts")
            return ()
        outcomes: list[str] = []
        for index, item in enumerate(raw):
            problem = _text_problem(item, _MAX_OUTCOME_LENGTH)
            if problem is not None:
                self.issue(f"learning_outcomes[{index}]", problem)
            else:
                outcomes.append(item.strip())
        return tuple(outcomes)

    # --- single values ---

    def _identifier(self, raw: dict[Any, Any], key: str, path: str) -> str | None:
        return self._required(raw, key, path, _identifier)

    def _text(
        self, raw: dict[Any, Any], key: str, path: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        limit = max_length if max_length is not None else _MAX_LENGTH[key]

        def parse(value: Any) -> str:
            problem = _text_problem(value, limit)
            if problem is not None:
                raise ValueError(problem)
            return cast(str, value).strip()

        return self._required(raw, key, path, parse) if required else self._optional(raw, key, path, parse)

    def _required(self, raw: dict[Any, Any], key: str, path: str, parse: Callable[[Any], T]) -> T | None:
        if raw.get(key) is None:
            self.issue(path, "is required")
            return None
        return self._optional(raw, key, path, parse)

    def _optional(self, raw: dict[Any, Any], key: str, path: str, parse: Callable[[Any], T]) -> T | None:
        value = raw.get(key)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            self.issue(path, str(error))
            return None

    def _unknown_fields(self, raw: dict[Any, Any], allowed: tuple[str, ...], prefix: str) -> None:
        # A misspelt optional field ("learning_outcome") would otherwise vanish silently from the credential.
        for key in raw:
            if key not in allowed:
                self.issue(f"{prefix}{key}", _unknown_field(key, allowed))


# --- value parsers: return the value or raise ValueError with the reason ------------------------------------


def _identifier(value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(
            f"must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit; got {value!r}"
        )
    return value


def _text_problem(value: Any, max_length: int) -> str | None:
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__} {value!r}"
    if not value.strip():
        return "must not be empty"
    if len(value.strip()) > max_length:
        return f"must be at most {max_length} characters, got {len(value.strip())}"
    return None


def _language(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 35 or not _LANGUAGE.match(value):
        raise ValueError(f'must be a BCP 47 language tag such as "en" or "nl-BE", got {value!r}')
    return value


def _format(value: Any) -> Format:
    if value not in FORMATS:
        raise ValueError(f"must be one of {', '.join(FORMATS)}; got {value!r}")
    return cast(Format, value)


def _credits(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number of credits such as 6 or 1.5, got {value!r}")
    try:
        # str() of a YAML float is its shortest repr (1.5 -> "1.5"), so no binary noise reaches the Decimal.
        credits = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number of credits such as 6 or 1.5, got {value!r}") from None
    if not credits.is_finite() or credits <= 0:
        raise ValueError(f"must be a positive number of credits, got {value!r}")
    if credits != credits.quantize(Decimal("0.1")):
        raise ValueError(f"must have at most one decimal (e.g. 1.5), got {value!r}")
    if credits >= 1000:
        raise ValueError(f"must be below 1000, got {value!r}")
    # One canonical form ("6", "1.5") so the contract's credits pattern accepts every value we publish.
    return credits.quantize(Decimal(1)) if credits == credits.to_integral_value() else credits.quantize(Decimal("0.1"))


def _semester(value: Any) -> Semester:
    if isinstance(value, bool) or value not in (1, 2):
        raise ValueError(f"must be 1 or 2 (a micro-credential spans one or two semesters), got {value!r}")
    return cast(Semester, value)


def _money(value: Any) -> Decimal:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A YAML number is a binary float; money must not pass through one, so it is written as text.
        raise ValueError(f'must be a quoted decimal string such as "11.90", got the number {value!r}')
    if not isinstance(value, str) or not _MONEY.match(value.strip()):
        raise ValueError(f'must be a non-negative amount with at most 2 decimals, such as "245.00"; got {value!r}')
    return Decimal(value.strip()).quantize(Decimal("0.01"))


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value not in ISO_4217_CODES:
        raise ValueError(f'must be an ISO 4217 currency code such as "EUR", got {value!r}')
    return value


def _eqf_level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
        raise ValueError(f"must be a whole number from 1 to 8 (European Qualifications Framework), got {value!r}")
    return value


def _country(value: Any) -> str:
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise ValueError(f'must be an ISO 3166-1 alpha-2 country code such as "BE", got {value!r}')
    return value


def _url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000 or not _URL.match(value):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


def _academic_year_problem(value: str) -> str | None:
    match = _YEAR.match(value)
    if match is None or int(match.group(2)) != int(match.group(1)) + 1:
        return f'academic year must look like "2026-2027" (two consecutive years), got {value!r}'
    return None


def _unknown_field(key: Any, allowed: tuple[str, ...]) -> str:
    suggestion = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {suggestion[0]!r}? " if suggestion else ""
    return f"unknown field; {hint}allowed: {', '.join(allowed)}"


def _check_bounds(bounds: tuple[Decimal | int | str, Decimal | int | str]) -> tuple[Decimal, Decimal]:
    low, high = (Decimal(str(bound)) for bound in bounds)
    if not 0 < low <= high:
        raise ValueError(f"credit bounds must satisfy 0 < minimum <= maximum, got {bounds!r}")
    return low, high


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
