"""With tracing off (no tracer provider installed) the kit makes no span per consumed event, yet what the event
leads to still carries the trace context of the change that published it, as the no-op tracer's span did."""

from __future__ import annotations

import pytest
from reliability import tracing

PUBLISHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other tests of the session may have installed a provider, which OpenTelemetry lets nobody remove.
    monkeypatch.setattr(tracing, "tracing_on", lambda: False)


def test_an_event_applied_with_tracing_off_publishes_with_its_publishers_traceparent() -> None:
    headers = [("content-type", b"application/cloudevents+json"), ("traceparent", PUBLISHER.encode())]
    with tracing.consuming("EnrolmentCancelled", "evt-1", "enr-1", headers):
        assert tracing.trace_headers() == [("traceparent", PUBLISHER.encode())]
    assert tracing.trace_headers() == []  # and the context ends with the event


def test_an_event_without_a_trace_publishes_without_one() -> None:
    with tracing.consuming("EnrolmentCancelled", "evt-1", "enr-1", [("content-type", b"x")]):
        assert tracing.trace_headers() == []
    with tracing.consuming("EnrolmentCancelled", "evt-2", "enr-2", [("traceparent", b"00-not-a-trace")]):
        assert tracing.trace_headers() == []
