"""Provenance checks a consumer makes before it believes an event (defence in depth behind Kafka's ACLs)."""

from __future__ import annotations

from datetime import datetime, timedelta

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock an event's `time` may be before it is refused: clocks of campus systems drift."""


def future_time_reason(event_time: datetime, now: datetime, skew: timedelta = CLOCK_SKEW) -> str | None:
    """Why an event dated in the future is refused, or None when its time is plausible.

    A future-dated catalogue entry would win every "latest entry" comparison until that date, so one forged
    or mis-clocked event could freeze a micro-credential's description; refusing it keeps later entries effective.
    """
    if event_time.tzinfo is None or now.tzinfo is None:
        raise ValueError("event_time and now must be timezone-aware")
    ahead = event_time - now
    if ahead <= skew:
        return None
    return f"event time {event_time.isoformat()} is {_minutes(ahead)} ahead of this service's clock (allowed: {_minutes(skew)})"


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f} min"
