"""The consumed events (enrolment.events, assessment.events, catalogue.microcredentials) -> their use cases.

The kit's consumer calls each handler with the session of the event's transaction (and its savepoint); the
handler wraps it in a Store and calls one use case. Committing, the processed-event record, retries and the
dead-letter topic are the kit's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reliability.consumer import Handler

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

if TYPE_CHECKING:  # the kit's session of the event's transaction, handed on to the Store unopened
    from sqlmodel import Session


def event_handlers(issuer: Issuer) -> dict[str, Handler]:
    """Event type -> handler, the kit's handler table."""

    def on_enrolment_created(session: Session, event: CloudEvent[Any]) -> None:
        usecases.record_enrolment(Store(session), event, issuer)

    def on_enrolment_cancelled(session: Session, event: CloudEvent[Any]) -> None:
        usecases.record_cancellation(Store(session), event)

    def on_course_completed(session: Session, event: CloudEvent[Any]) -> None:
        usecases.record_outcome(Store(session), event, issuer)

    def on_microcredential_published(session: Session, event: CloudEvent[Any]) -> None:
        usecases.record_catalogue_entry(Store(session), event, issuer)

    return {
        EnrolmentCreated.event_type: on_enrolment_created,
        EnrolmentCancelled.event_type: on_enrolment_cancelled,
        CourseCompleted.event_type: on_course_completed,
        MicroCredentialPublished.event_type: on_microcredential_published,
    }
