"""The events certification publishes: their source, their deterministic ids, and the clock of the use cases."""

from __future__ import annotations

from datetime import UTC, datetime

from reliability.events import EventIds

SOURCE = "/services/certification"
"""CloudEvents `source` of every event this service publishes."""

EVENT_IDS = EventIds("certification")


def issued_event_id(enrolment_id: str) -> str:
    """A retried transaction or a replay announces the same CredentialIssued, which consumers drop as a duplicate."""
    return EVENT_IDS.of("credential-issued", enrolment_id)


def revoked_event_id(enrolment_id: str) -> str:
    return EVENT_IDS.of("credential-revoked", enrolment_id)


def now() -> datetime:
    """When a row was received or recorded (bookkeeping; the issuer's clock dates credentials and revocations)."""
    return datetime.now(UTC)
