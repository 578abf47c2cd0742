"""Scalar types of the wire contract, with the validation every producer and consumer agrees on."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, PlainSerializer, WithJsonSchema

from contracts.currencies import ISO_4217_CODES

_MONEY_PATTERN = re.compile(r"^\d{1,12}\.\d{2}$")
_CREDITS_PATTERN = re.compile(r"^\d{1,3}(\.\d)?$")
_ACADEMIC_YEAR_PATTERN = re.compile(r"^(\d{4})-(\d{4})$")


def _parse_money(value: Any) -> Decimal:
    # Money travels as a string so that no producer ever rounds it through a binary float.
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str):
        raise ValueError('money must be a decimal string with 2 decimals, e.g. "120.00" (not a JSON number)')
    if not _MONEY_PATTERN.match(value):
        raise ValueError(f"money must be a non-negative decimal string with exactly 2 decimals, got {value!r}")
    return Decimal(value)


def _format_money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _parse_credits(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("credits must be a number or a decimal string, not a boolean")
    if isinstance(value, int | float):
        # str() of a float gives its shortest repr (1.5 -> "1.5"), so no binary noise reaches Decimal.
        value = str(value)
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str):
        raise ValueError("credits must be a number or a decimal string")
    if not _CREDITS_PATTERN.match(value):
        raise ValueError(f"credits must be a positive number with at most one decimal, got {value!r}")
    credits = Decimal(value)
    if credits <= 0:
        raise ValueError("credits must be greater than 0")
    return credits


def _format_credits(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _check_currency(value: str) -> str:
    if value not in ISO_4217_CODES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _check_academic_year(value: str) -> str:
    match = _ACADEMIC_YEAR_PATTERN.match(value)
    if not match or int(match.group(2)) != int(match.group(1)) + 1:
        raise ValueError(f'academic year must look like "2026-2027" (two consecutive years), got {value!r}')
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    PlainSerializer(_format_money, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,12}\.\d{2}$", "examples": ["120.00"]}),
]
"""A non-negative amount of money: a decimal string with exactly two decimals."""

Credits = Annotated[
    Decimal,
    BeforeValidator(_parse_credits),
    PlainSerializer(_format_credits, return_type=str),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\d{1,3}(\.\d)?$"},
                {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.1},
            ],
            "examples": ["6", "1.5", 3],
        }
    ),
]
"""ECTS credits: greater than 0, at most one decimal; a decimal string or a JSON number."""

CurrencyCode = Annotated[
    str, AfterValidator(_check_currency), WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})
]
AcademicYear = Annotated[
    str,
    AfterValidator(_check_academic_year),
    WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{4}$", "examples": ["2026-2027"]}),
]
EnrolmentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]
Instant = AwareDatetime
"""An RFC 3339 instant WITH an offset; one without an offset is invalid, because policy dates depend on it."""

__all__ = [
    "AcademicYear",
    "Credits",
    "CurrencyCode",
    "EnrolmentId",
    "Identifier",
    "Instant",
    "Money",
    "datetime",
]
