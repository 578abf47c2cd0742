"""The values a catalogue file may hold: its fields, their limits, and one parser per kind of value.

A parser returns the value or raises ValueError with a reason written for whoever edits the catalogue.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from contracts.currencies import ISO_4217_CODES
from contracts.limits import MAX_COURSES, MAX_LEARNING_OUTCOME_LENGTH, MAX_LEARNING_OUTCOMES
from contracts.text import NAME_PATTERN, PARAGRAPH_PATTERN, URI_REFERENCE_PATTERN

from enrolment.domain.catalogue import FORMATS, Format, Semester

CATALOGUE_SUFFIXES = (".yaml", ".yml")

# Every pattern is used with fullmatch and ASCII classes: `\d` and `$` would let "٢٠٢٦-٢٠٢٧" or "abc\n" through.
_YEAR = re.compile(r"([0-9]{4})-([0-9]{4})")
# "/" is excluded because the catalogue topic's key is "<year>/<id>"; the rest keeps ids safe in URLs.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_MONEY = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_URL = re.compile(r"https?://\S+")
_ONE_LINE = re.compile(NAME_PATTERN)
_PARAGRAPH = re.compile(PARAGRAPH_PATTERN)
_URI = re.compile(URI_REFERENCE_PATTERN)

TOP_FIELDS = ("academic_year", "microcredentials")
ENTRY_FIELDS = (
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
COURSE_FIELDS = ("id", "title", "credits", "semester")
TUITION_FIELDS = ("currency", "fixed_fee", "per_credit")
AWARDING_BODY_FIELDS = ("name", "url", "country", "region")

# Longest texts the wire contract (MicroCredentialPublished) accepts; checked here so publishing cannot fail.
MAX_LENGTH = {
    "title": 300,
    "description": 5000,
    "cycle": 100,
    "assessment_type": 500,
    "participation_form": 500,
    "quality_assurance": 1000,
    "prerequisites": 2000,
    "stackability": 2000,
}
MAX_OUTCOME_LENGTH = MAX_LEARNING_OUTCOME_LENGTH
MAX_OUTCOMES = MAX_LEARNING_OUTCOMES
MAX_COURSES_PER_ENTRY = MAX_COURSES
MAX_COURSE_TITLE_LENGTH = 200  # the contract's Course.title
# Texts the contract takes as one line (names, titles); the others may span lines.
ONE_LINE_TEXTS = frozenset({"title", "cycle", "name", "region"})


# --- value parsers: return the value or raise ValueError with the reason ------------------------------------


def parse_identifier(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(
            f"must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit; got {value!r}"
        )
    return value


def text_problem(value: Any, max_length: int, *, one_line: bool = False) -> str | None:
    if not isinstance(value, str):
        return f"must be text, got {type(value).__name__} {value!r}"
    if not value.strip():
        return "must not be empty"
    if len(value.strip()) > max_length:
        return f"must be at most {max_length} characters, got {len(value.strip())}"
    if one_line and not _ONE_LINE.fullmatch(value.strip()):
        return "must be one line without control characters or bidirectional overrides (U+202A-U+202E, U+2066-U+2069)"
    if not _PARAGRAPH.fullmatch(value.strip()):
        return "must not contain control characters (other than tab and line breaks) or bidirectional overrides"
    return None


def parse_language(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 35 or not _LANGUAGE.fullmatch(value):
        raise ValueError(f'must be a BCP 47 language tag such as "en" or "nl-BE", got {value!r}')
    return value


def parse_format(value: Any) -> Format:
    if value not in FORMATS:
        raise ValueError(f"must be one of {', '.join(FORMATS)}; got {value!r}")
    return cast(Format, value)


def parse_credits(value: Any) -> Decimal:
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


def parse_semester(value: Any) -> Semester:
    if isinstance(value, bool) or value not in (1, 2):
        raise ValueError(f"must be 1 or 2 (a micro-credential spans one or two semesters), got {value!r}")
    return cast(Semester, value)


def parse_money(value: Any) -> Decimal:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A YAML number is a binary float; money must not pass through one, so it is written as text.
        raise ValueError(f'must be a quoted decimal string such as "11.90", got the number {value!r}')
    if not isinstance(value, str) or not _MONEY.fullmatch(value.strip()):
        raise ValueError(f'must be a non-negative amount with at most 2 decimals, such as "245.00"; got {value!r}')
    return Decimal(value.strip()).quantize(Decimal("0.01"))


def parse_currency(value: Any) -> str:
    if not isinstance(value, str) or value not in ISO_4217_CODES:
        raise ValueError(f'must be an ISO 4217 currency code such as "EUR", got {value!r}')
    return value


def parse_eqf_level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
        raise ValueError(f"must be a whole number from 1 to 8 (European Qualifications Framework), got {value!r}")
    return value


def parse_country(value: Any) -> str:
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        raise ValueError(f'must be an ISO 3166-1 alpha-2 country code such as "BE", got {value!r}')
    return value


def parse_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000 or not _URL.fullmatch(value) or not _URI.fullmatch(value):
        raise ValueError(f"must be an http(s) URL of RFC 3986 characters (percent-encode the rest), got {value!r}")
    return value


def academic_year_problem(value: str) -> str | None:
    match = _YEAR.fullmatch(value)
    if match is None or int(match.group(2)) != int(match.group(1)) + 1:
        return f'academic year must look like "2026-2027" (two consecutive years), got {value!r}'
    return None


def unknown_field(key: Any, allowed: tuple[str, ...]) -> str:
    suggestion = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {suggestion[0]!r}? " if suggestion else ""
    return f"unknown field; {hint}allowed: {', '.join(allowed)}"


def check_bounds(bounds: tuple[Decimal | int | str, Decimal | int | str]) -> tuple[Decimal, Decimal]:
    low, high = (Decimal(str(bound)) for bound in bounds)
    if not 0 < low <= high:
        raise ValueError(f"credit bounds must satisfy 0 < minimum <= maximum, got {bounds!r}")
    return low, high
