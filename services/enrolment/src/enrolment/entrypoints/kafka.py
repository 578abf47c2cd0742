"""What the service's consumer applies from enrolment.events: decoded event -> one use case, in the kit's
transaction (the processed-event record, the state change and its outbox rows commit together)."""

from __future__ import annotations

from reliability.consumer import Handler

from contracts import EnrolmentCancelled, EnrolmentCreated
from enrolment import usecases
from enrolment.store import Store


def event_handlers() -> dict[str, Handler]:
    """The handler of each CloudEvents type the service consumes: (session, event) -> use case on a Store."""
    return {
        EnrolmentCreated.event_type: lambda session, event: usecases.record_foreign_enrolment(Store(session), event),
        EnrolmentCancelled.event_type: lambda session, event: usecases.record_foreign_cancellation(
            Store(session), event
        ),
    }
