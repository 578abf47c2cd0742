"""The kit's column types: what UTCDateTime writes on SQLite is what SQLAlchemy's two steps would write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability.columns import UTCDateTime, _as_sqlite_text
from sqlalchemy import TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite

SQLITE = sqlite.dialect()
ZONES = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
)


def by_two_steps(value: datetime | None) -> object:
    """SQLAlchemy's composition: the decorator's `process_bind_param`, then SQLite's DATETIME processor."""
    process = TypeDecorator.bind_processor(UTCDateTime().dialect_impl(SQLITE), SQLITE)
    assert process is not None
    return process(value)


@given(st.datetimes(timezones=ZONES, min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_an_instant_is_written_on_sqlite_as_sqlalchemys_two_steps_write_it(value: datetime) -> None:
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is _as_sqlite_text  # the one-step path is the one under test
    assert process(value) == by_two_steps(value)


def test_none_stays_null_and_a_naive_instant_is_refused_on_sqlite() -> None:
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process(None) is None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 12, 6, 12, 0))
    assert process(datetime(2026, 12, 6, 12, 0, tzinfo=UTC)) == "2026-12-06 12:00:00.000000"


def test_postgresql_keeps_sqlalchemys_processing() -> None:
    dialect = postgresql.dialect()
    value = datetime(2026, 12, 6, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None and process(value) == datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
