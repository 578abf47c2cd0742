"""Provenance checks a consumer makes before it believes an event (defence in depth behind Kafka's ACLs)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from contracts.envelope import URI_REFERENCE_PATTERN

from contracts import EVENT_TYPES

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


# --- Which systems may publish which events: the source allow-list -------------------------------------------

EVENT_SOURCES_FILE_NAME = "event-sources.yaml"
REPOSITORY_EVENT_SOURCES = Path(__file__).resolve().parents[4] / "deploy" / EVENT_SOURCES_FILE_NAME
"""The checked-in allow-list, the default when a service runs from a checkout of the repository."""

SOURCE_NOT_ALLOWED = "source not allowed"
"""How every refusal's reason starts (the DLQ header `dlq-reason`), so operators can filter on it."""

_MAX_SOURCE_IN_REASON = 200


class EventSourcesError(ValueError):
    """The allow-list is missing or malformed: the service refuses to start rather than trust every source."""


@dataclass(frozen=True)
class EventSources:
    """Per contract topic (without TOPIC_PREFIX) and event type, the exact CloudEvents `source` values accepted.

    Exact strings only, no prefixes or patterns: a source names one producing system, and a prefix such as
    ``/campus/`` would let any future system write anything under it without anyone deciding so.
    """

    accepted: Mapping[tuple[str, str], frozenset[str]]
    origin: str
    """Where the list was read from (named in startup logs and errors)."""

    def refusal(self, topic: str, event_type: str, source: str) -> str | None:
        """Why an event of this type from `source` on `topic` is refused, or None when that source may publish it."""
        if source in self.accepted.get((topic, event_type), frozenset()):
            return None
        shown = source if len(source) <= _MAX_SOURCE_IN_REASON else source[:_MAX_SOURCE_IN_REASON] + "..."
        return f"{SOURCE_NOT_ALLOWED}: {shown!r} may not publish {event_type} on {topic} by the event-source allow-list"


def event_sources_path(configured: Path | None) -> Path:
    """The allow-list to load: the configured file, else the repository's. Installed without a checkout (the
    image), nothing is found and the service must be told (EVENT_SOURCES_FILE; the Dockerfile sets it)."""
    if configured is not None:
        return configured
    if REPOSITORY_EVENT_SOURCES.is_file():
        return REPOSITORY_EVENT_SOURCES
    raise EventSourcesError(
        "EVENT_SOURCES_FILE is not set and no repository checkout provides deploy/event-sources.yaml: "
        "a service will not consume without knowing which event sources to accept"
    )


def load_event_sources(path: Path) -> EventSources:
    """Read and check the allow-list: every topic and type of the contract listed, each with its sources."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EventSourcesError(f"cannot read the event-source allow-list {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise EventSourcesError(f"{path} is not valid YAML: {error}") from error
    return parse_event_sources(document, origin=str(path))


def parse_event_sources(document: object, *, origin: str) -> EventSources:
    """Check a loaded document; every problem is named at once, so one edit fixes the file."""
    topics = document.get("topics") if isinstance(document, dict) else None
    if not isinstance(topics, dict):
        raise EventSourcesError(f"{origin}: expected a mapping with a `topics:` mapping (topic -> type -> sources)")
    contract = {(model.topic, name) for name, model in EVENT_TYPES.items()}
    listed: set[tuple[object, object]] = set()
    accepted: dict[tuple[str, str], frozenset[str]] = {}
    problems: list[str] = []
    for topic, types in topics.items():
        if not isinstance(types, dict):
            problems.append(f"topic {topic!r}: expected a mapping of event type -> list of sources")
            continue
        for event_type, sources in types.items():
            listed.add((topic, event_type))
            if (topic, event_type) not in contract:
                problems.append(f"{topic} / {event_type}: not an event type of that topic in the contract")
            elif not isinstance(sources, list) or not all(isinstance(source, str) for source in sources):
                problems.append(f"{topic} / {event_type}: expected a list of source strings ([] accepts none)")
            else:
                bad = [source for source in sources if not re.fullmatch(URI_REFERENCE_PATTERN, source)]
                problems += [f"{topic} / {event_type}: {source!r} is not a URI-reference" for source in bad]
                accepted[(topic, event_type)] = frozenset(sources)
    # A contract type left out would dead-letter every such event; saying so explicitly ([]) is a decision.
    unlisted = sorted(pair for pair in contract if pair not in listed)
    problems += [f"{topic} / {event_type}: not listed ([] accepts none)" for topic, event_type in unlisted]
    if problems:
        raise EventSourcesError(f"{origin}: malformed event-source allow-list: " + "; ".join(problems))
    return EventSources(accepted=accepted, origin=origin)
