"""Decimal money helpers shared by invoicing and reimbursement.

Amounts are always :class:`decimal.Decimal`; a float never enters a money path.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# A private context so that a caller who changed the thread's decimal context (precision, traps)
# cannot change how an invoice is rounded; 50 digits is far beyond any tuition amount.
_MONEY_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def round_to_cent(value: Decimal) -> Decimal:
    """Round to the cent, half away from zero (49.995 -> 50.00), as tuition is invoiced in cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_MONEY_CONTEXT)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    """Exact product under the private context (one-decimal credits x cent rates never need rounding)."""
    return _MONEY_CONTEXT.multiply(a, b)


def add(*values: Decimal) -> Decimal:
    total = ZERO
    for value in values:
        total = _MONEY_CONTEXT.add(total, value)
    return total


def require_decimal(value: object, name: str) -> Decimal:
    # bool is an int and float is inexact; both are refused so that a wire value can never
    # silently become an amount with binary rounding error.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def require_currency(code: object) -> str:
    if not isinstance(code, str) or _CURRENCY_CODE.fullmatch(code) is None:
        raise ValueError(f"currency must be an ISO 4217 alphabetic code (three capital letters), got {code!r}")
    return code
