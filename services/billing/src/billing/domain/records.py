"""What billing keeps about an enrolment it invoiced, an enrolment that waits for its catalogue entry, and a
cancellation that arrived before its enrolment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.domain.tuition import EnrolmentSnapshot

WAITING = "waiting"
"""The enrolment has not arrived yet."""
SETTLED = "settled"
"""The enrolment arrived and this cancellation's reimbursement was computed."""
SUPERSEDED = "superseded"
"""The enrolment arrived, but an earlier cancellation of it was settled first."""
REJECTED = "rejected"
"""The enrolment arrived and showed this cancellation can never apply (e.g. dated before the enrolment); or the
catalogue entry arrived and this waiting enrolment disagreed with it."""
INVOICED = "invoiced"
"""The catalogue entry arrived, the waiting enrolment agreed with it and was invoiced."""
ALREADY_INVOICED = "already-invoiced"
"""The catalogue entry arrived, and this waiting enrolment had been announced (and invoiced) before."""


class Outcome:
    """What became of an enrolment event, as the batch's log line counts it."""

    INVOICED = INVOICED
    ALREADY_INVOICED = ALREADY_INVOICED
    WAITING_FOR_CATALOGUE = "waiting-for-catalogue"
    REIMBURSED = "reimbursed"
    ALREADY_REIMBURSED = "already-reimbursed"
    WAITING_FOR_ENROLMENT = "waiting-for-enrolment"


@dataclass(frozen=True, slots=True)
class BilledEnrolment:
    """An invoiced enrolment: the snapshot it was priced from (and any reimbursement is), and where it came from."""

    enrolment_id: str
    student_id: str
    microcredential_id: str
    snapshot: EnrolmentSnapshot
    created_event_source: str
    created_event_id: str

    def describes_the_same_enrolment_as(self, other: BilledEnrolment) -> bool:
        """True for the same enrolment announced again (a new event id); False if courses or terms differ."""
        return (
            self.student_id == other.student_id
            and self.microcredential_id == other.microcredential_id
            and self.snapshot == other.snapshot
        )


@dataclass(frozen=True, eq=False, slots=True)
class WaitingCancellation:
    """An EnrolmentCancelled kept until its enrolment arrives; compared by identity, as each is one stored row."""

    enrolment_id: str
    event_source: str
    event_id: str
    event_time: datetime
    cancelled_at: datetime


@dataclass(frozen=True, eq=False, slots=True)
class WaitingEnrolment:
    """An EnrolmentCreated kept until the catalogue entry it must agree with arrives (the topics are not
    ordered with each other); `enrolment` is what the event claimed, `event_time` becomes the invoice's time."""

    enrolment: BilledEnrolment
    event_time: datetime

    @property
    def catalogue_key(self) -> str:
        return f"{self.enrolment.snapshot.academic_year}/{self.enrolment.microcredential_id}"
