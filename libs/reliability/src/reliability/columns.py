"""Column types that keep the same meaning on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always read back timezone-aware.

    SQLite has no time zones: a plain DateTime(timezone=True) comes back naive there, and comparing a naive
    value with an aware one raises. Naive values are refused on the way in, so no local time sneaks in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime; give it a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, `process_bind_param` and the dialect's text in one step instead of two Python calls (the
        second builds a dictionary of fields per value); a small gain, measured in docs/benchmark.md (6 December)."""
        if dialect.name == "sqlite" and self.impl_instance.dialect_impl(dialect)._storage_format == _SQLITE_FORMAT:  # type: ignore[attr-defined]
            return _as_sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLAlchemy's default text for a DATETIME on SQLite: what `isoformat(" ", "microseconds")` writes of a naive value.
_SQLITE_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def _as_sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("refusing to store a naive datetime; give it a time zone")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """An exact amount with 2 decimals; SQLite's NUMERIC would round through a float, so it is kept as text there."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(String(20) if dialect.name == "sqlite" else Numeric(14, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, got {type(value).__name__}")
        quantized = value.quantize(_CENT)
        return format(quantized, "f") if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))
