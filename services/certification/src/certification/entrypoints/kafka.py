"""Certification's FastStream subscribers (enrolment.events, assessment.events, catalogue.microcredentials): decoded
event -> its use case.

The kit calls each handler with the session of the event's transaction (and its savepoint); the handler wraps it
in a Store and calls one use case. Committing (offsets after the database), the processed-event record, retries
and the dead-letter topic are the kit's (`reliability.subscribers`).
"""

from __future__ import annotations

from typing import Any

from reliability.consumer import EventSession, Handler
from reliability.subscribers import KafkaKit, Subscribers

from certification import usecases
from certification.adapters.issuer import Issuer
from certification.store import Store
from contracts import (
    CloudEvent,
    CourseCompleted,
    EnrolmentCancelled,
    EnrolmentCreated,
    MicroCredentialPublished,
)


def subscribers(issuer: Issuer) -> Subscribers:
    def declare(kit: KafkaKit) -> None:
        @kit.handler(EnrolmentCreated)
        def on_enrolment_created(session: EventSession, event: CloudEvent[Any]) -> None:
            usecases.record_enrolment(Store(session), event, issuer)

        @kit.handler(EnrolmentCancelled)
        def on_enrolment_cancelled(session: EventSession, event: CloudEvent[Any]) -> None:
            usecases.record_cancellation(Store(session), event)

        @kit.handler(CourseCompleted)
        def on_course_completed(session: EventSession, event: CloudEvent[Any]) -> None:
            usecases.record_outcome(Store(session), event, issuer)

        @kit.handler(MicroCredentialPublished)
        def on_microcredential_published(session: EventSession, event: CloudEvent[Any]) -> None:
            usecases.record_catalogue_entry(Store(session), event, issuer)

    return declare


def event_handlers(issuer: Issuer) -> dict[str, Handler]:
    """Event type -> handler, as the subscribers apply them (for applying events without a broker)."""
    return KafkaKit.declared(subscribers(issuer)).handlers()
