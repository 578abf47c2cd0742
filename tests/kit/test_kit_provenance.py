from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from reliability.provenance import CLOCK_SKEW, future_time_reason

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_an_event_within_the_allowed_skew_is_plausible() -> None:
    assert future_time_reason(NOW + timedelta(minutes=5), NOW) is None
    assert future_time_reason(NOW - timedelta(days=400), NOW) is None


def test_an_event_beyond_the_skew_is_refused_with_how_far_ahead_it_is() -> None:
    reason = future_time_reason(NOW + timedelta(hours=2), NOW)
    assert reason is not None
    assert "120 min ahead" in reason and "allowed: 5 min" in reason


def test_zones_are_compared_as_instants() -> None:
    brussels = ZoneInfo("Europe/Brussels")
    # 12:04 UTC written as 13:04 in Brussels (CET, UTC+1 in December) is within the skew.
    assert future_time_reason(datetime(2026, 12, 1, 13, 4, tzinfo=brussels), NOW) is None
    assert future_time_reason(datetime(2026, 12, 1, 13, 6, tzinfo=brussels), NOW) is not None


def test_naive_times_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        future_time_reason(datetime(2026, 12, 1, 12, 0), NOW)
    assert CLOCK_SKEW == timedelta(minutes=5)
