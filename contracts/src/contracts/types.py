"""Scalar types of the wire contract, with the validation every producer and consumer agrees on."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, PlainSerializer, WithJsonSchema

from contracts.currencies import ISO_4217_CODES
from contracts.text import Identifier, fullmatch

# ASCII digits only, and every Python-side check is a fullmatch (see contracts.text): `\d` would take "١٢٠.٠٠"
# (Arabic-Indic digits) for 120.00, and `re.match` with `$` would take "120.00\n".
MONEY_PATTERN = r"^[0-9]{1,12}\.[0-9]{2}$"
# No leading zeros and no zero: the JSON Schema states exactly what the validator accepts, without look-aheads
# (which are outside the regex subset JSON Schema recommends).
CREDITS_PATTERN = r"^([1-9][0-9]{0,2}(\.[0-9])?|0\.[1-9])$"
CREDITS_OR_ZERO_PATTERN = r"^(0|[1-9][0-9]{0,2})(\.[0-9])?$"
# RFC 3339 date-time: seconds are mandatory and so is the offset ("Z" or "+hh:mm"); a space may stand for "T".
# At most nanoseconds (what Java's Instant prints), so an instant is never a megabyte of fraction digits.
INSTANT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
ACADEMIC_YEAR_PATTERN = r"^([0-9]{4})-([0-9]{4})$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

_MONEY_PATTERN = re.compile(MONEY_PATTERN)
_CREDITS_PATTERN = re.compile(CREDITS_PATTERN)
_CREDITS_OR_ZERO_PATTERN = re.compile(CREDITS_OR_ZERO_PATTERN)
_INSTANT_PATTERN = re.compile(INSTANT_PATTERN)
_ACADEMIC_YEAR_PATTERN = re.compile(ACADEMIC_YEAR_PATTERN)
_CURRENCY_PATTERN = re.compile(CURRENCY_PATTERN)


def _parse_money(value: Any) -> Decimal:
    # Money travels as a string so that no producer ever rounds it through a binary float.
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str):
        raise ValueError('money must be a decimal string with 2 decimals, e.g. "120.00" (not a JSON number)')
    if _MONEY_PATTERN.fullmatch(value) is None:
        raise ValueError(f"money must be a non-negative decimal string with exactly 2 decimals, got {value!r}")
    return Decimal(value)


_CENT = Decimal("0.01")


def _format_money(value: Decimal) -> str:
    return format(value.quantize(_CENT), "f")


def _credits_text(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("credits must be a number or a decimal string, not a boolean")
    if isinstance(value, int | float):
        # str() of a float gives its shortest repr (1.5 -> "1.5"), so no binary noise reaches Decimal.
        value = str(value)
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str):
        raise ValueError("credits must be a number or a decimal string")
    return value


def _parse_credits(value: Any) -> Decimal:
    text = _credits_text(value)
    if _CREDITS_PATTERN.fullmatch(text) is None:
        raise ValueError(f"credits must be greater than 0 with at most one decimal (max 999.9), got {text!r}")
    return Decimal(text)


def _parse_credits_or_zero(value: Any) -> Decimal:
    text = _credits_text(value)
    if _CREDITS_OR_ZERO_PATTERN.fullmatch(text) is None:
        raise ValueError(f"credits must be 0 or more with at most one decimal (max 999.9), got {text!r}")
    return Decimal(text)


def _parse_instant(value: Any) -> Any:
    # Python producers hand in datetimes (AwareDatetime then checks the offset); on the wire only RFC 3339 strings
    # count. Pydantic alone would also take Unix timestamps, "+0100" offsets and times without seconds.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError('instant must be an RFC 3339 string with an offset, e.g. "2026-09-01T09:00:00+02:00"')
    if _INSTANT_PATTERN.fullmatch(value) is None:
        raise ValueError(
            f'instant must be RFC 3339 with seconds and an offset ("Z" or "+02:00"), e.g. "2026-09-01T09:00:00+02:00"; got {value!r}'
        )
    return value


def _format_credits(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _check_currency(value: Any) -> Any:
    # Before Pydantic strips the value: "EUR\n" is not a currency code.
    if not isinstance(value, str):
        return value
    if _CURRENCY_PATTERN.fullmatch(value) is None or value not in ISO_4217_CODES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _check_academic_year(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = _ACADEMIC_YEAR_PATTERN.fullmatch(value)
    if not match or int(match.group(2)) != int(match.group(1)) + 1:
        raise ValueError(f'academic year must look like "2026-2027" (two consecutive years), got {value!r}')
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    PlainSerializer(_format_money, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": "Non-negative amount: a decimal string with exactly 2 decimals (never a JSON number).",
            "examples": ["120.00"],
        }
    ),
]
"""A non-negative amount of money: a decimal string with exactly two decimals."""

Credits = Annotated[
    Decimal,
    BeforeValidator(_parse_credits),
    PlainSerializer(_format_credits, return_type=str),
    WithJsonSchema(
        {
            "description": "ECTS credits > 0 with at most one decimal (1.25 is invalid): a decimal string or a number.",
            # No multipleOf 0.1 on the number: validators that compute it in binary floating point reject 0.3.
            "oneOf": [
                {"type": "string", "pattern": CREDITS_PATTERN},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 999.9},
            ],
            "examples": ["6", "1.5", 3],
        }
    ),
]
"""ECTS credits: greater than 0, at most one decimal; a decimal string or a JSON number."""

CreditsOrZero = Annotated[
    Decimal,
    BeforeValidator(_parse_credits_or_zero),
    PlainSerializer(_format_credits, return_type=str),
    WithJsonSchema(
        {
            "description": "ECTS credits >= 0 with at most one decimal: a decimal string or a number.",
            "oneOf": [
                {"type": "string", "pattern": CREDITS_OR_ZERO_PATTERN},
                {"type": "number", "minimum": 0, "maximum": 999.9},
            ],
            "examples": ["6", "0"],
        }
    ),
]
"""Credits where a zero is meaningful (e.g. a semester without courses on an invoice line)."""

CurrencyCode = Annotated[
    str,
    BeforeValidator(_check_currency),
    # A pattern, not an enum of today's codes: adding a code to an enum would count as a contract change.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CURRENCY_PATTERN,
            "description": "An active ISO 4217 currency code.",
            "examples": ["EUR"],
        }
    ),
]
AcademicYear = Annotated[
    str,
    BeforeValidator(_check_academic_year),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{4}$",
            "description": "Two consecutive years.",
            "examples": ["2026-2027"],
        }
    ),
]
ENROLMENT_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
EnrolmentId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=ENROLMENT_ID_PATTERN),
    fullmatch(ENROLMENT_ID_PATTERN, "1-64 of A-Z a-z 0-9 . _ : -"),
]
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_parse_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": INSTANT_PATTERN,
            "description": "RFC 3339 date-time with an offset.",
            "examples": ["2026-09-01T09:00:00+02:00"],
        }
    ),
]
"""An RFC 3339 instant WITH an offset; one without an offset is invalid, because policy dates depend on it."""

__all__ = [
    "AcademicYear",
    "Credits",
    "CreditsOrZero",
    "CurrencyCode",
    "EnrolmentId",
    "Identifier",
    "Instant",
    "Money",
    "datetime",
]
