"""Use cases of the consumed events: record what each says, then ask `issue_credential` whether a credential is due."""

from __future__ import annotations

import logging
from typing import Any

from reliability.consumer import RejectEvent
from reliability.events import require_storable
from reliability.provenance import future_time_reason

from certification.adapters.issuer import Issuer
from certification.domain.issuing import foreign_course_reason
from certification.store import (
    ACTIVE,
    CANCELLED,
    AssessmentRow,
    CatalogueEntryRow,
    EnrolmentRow,
    PendingCancellationRow,
    Store,
)
from certification.usecases.events import now
from certification.usecases.issuing import issue_credential
from contracts import CloudEvent, CourseCompleted, EnrolmentCancelled, EnrolmentCreated, MicroCredentialPublished

log = logging.getLogger(__name__)


def record_enrolment(store: Store, event: CloudEvent[EnrolmentCreated], issuer: Issuer) -> None:
    """Record the enrolment (with a cancellation that came first), settle outcomes kept for it, try to issue."""
    data = event.data
    student, snapshot = data.student, data.microcredential
    texts = [student.id, student.given_name, student.family_name, student.email, snapshot.title]
    require_storable(*texts, *(course.title for course in snapshot.courses))
    courses: list[dict[str, Any]] = [
        {"id": c.id, "title": c.title, "credits": format(c.credits.normalize(), "f"), "semester": c.semester}
        for c in snapshot.courses
    ]
    store.lock_enrolment(data.enrolment_id)
    existing = store.enrolment(data.enrolment_id, for_update=True)
    if existing is not None:
        if _same_enrolment(existing, data, courses):
            log.info("enrolment already recorded", extra={"enrolment_id": data.enrolment_id, "event_id": event.id})
            return
        raise RejectEvent(
            f"enrolment {data.enrolment_id} was already recorded from event {existing.created_event_id} with a "
            "different student, micro-credential or courses; an enrolment's content never changes"
        )
    row = _enrolment_row(event, courses)
    pending = store.take_pending_cancellation(data.enrolment_id)
    if pending is not None:
        row.status, row.cancelled_at = CANCELLED, pending.cancelled_at
    store.save(row)
    _reject_kept_foreign_assessments(store, row)
    log.info("enrolment recorded", extra={"enrolment_id": data.enrolment_id, "status": row.status})
    issue_credential(store, data.enrolment_id, issuer)


def _enrolment_row(event: CloudEvent[EnrolmentCreated], courses: list[dict[str, Any]]) -> EnrolmentRow:
    data = event.data
    student, snapshot = data.student, data.microcredential
    return EnrolmentRow(
        id=data.enrolment_id,
        student_id=student.id,
        student_given_name=student.given_name,
        student_family_name=student.family_name,
        student_email=student.email,
        microcredential_id=snapshot.id,
        microcredential_title=snapshot.title,
        academic_year=snapshot.academic_year,
        courses=courses,
        enrolled_at=data.enrolled_at,
        status=ACTIVE,
        created_event_source=event.source,
        created_event_id=event.id,
        recorded_at=now(),
    )


def _reject_kept_foreign_assessments(store: Store, enrolment: EnrolmentRow) -> None:
    course_ids = set(enrolment.course_ids)
    for assessment in store.assessments_of(enrolment.id):
        if assessment.course_id not in course_ids and assessment.rejected_reason is None:
            # Its message is long committed, so it cannot go to the dead-letter topic any more: it stays here,
            # never counts, and GET /assessments/rejected reports it with the reason the DLQ would have carried.
            assessment.rejected_reason = _foreign_course_reason(assessment.course_id, enrolment)
            store.save(assessment)
            log.warning(
                "kept assessment rejected: course not in the enrolment",
                extra={"enrolment_id": enrolment.id, "event_id": assessment.event_id},
            )


def record_cancellation(store: Store, event: CloudEvent[EnrolmentCancelled]) -> None:
    """A cancelled enrolment gets no credential; one already issued stays until someone revokes it."""
    data = event.data
    store.lock_enrolment(data.enrolment_id)
    row = store.enrolment(data.enrolment_id, for_update=True)
    if row is None:
        if store.pending_cancellation(data.enrolment_id) is None:
            store.save(
                PendingCancellationRow(
                    enrolment_id=data.enrolment_id,
                    cancelled_at=data.cancelled_at,
                    event_source=event.source,
                    event_id=event.id,
                    received_at=now(),
                )
            )
        log.info("cancellation kept until its enrolment arrives", extra={"enrolment_id": data.enrolment_id})
        return
    if row.status == CANCELLED:
        return
    row.status, row.cancelled_at = CANCELLED, data.cancelled_at
    store.save(row)
    store.release_held(data.enrolment_id)
    credential = store.credential_of_enrolment(data.enrolment_id)
    if credential is not None:
        log.warning(
            "enrolment cancelled after its credential was issued; the credential stands until it is revoked",
            extra={"enrolment_id": data.enrolment_id, "credential_id": credential.id},
        )
    else:
        log.info("enrolment cancelled", extra={"enrolment_id": data.enrolment_id})


def record_outcome(store: Store, event: CloudEvent[CourseCompleted], issuer: Issuer) -> None:
    """Store the assessment (every attempt is kept) and try to issue."""
    data = event.data
    require_storable(data.course_id, *(v for v in (data.assessment_type,) if v is not None))
    if data.grade is not None:
        require_storable(data.grade.value, data.grade.scale)
    store.lock_enrolment(data.enrolment_id)
    enrolment = store.enrolment(data.enrolment_id, for_update=True)
    if enrolment is not None and data.course_id not in enrolment.course_ids:
        raise RejectEvent(_foreign_course_reason(data.course_id, enrolment))
    store.save(
        AssessmentRow(
            enrolment_id=data.enrolment_id,
            course_id=data.course_id,
            passed=data.passed,
            grade_value=None if data.grade is None else data.grade.value,
            grade_scale=None if data.grade is None else data.grade.scale,
            assessed_at=data.assessed_at,
            assessment_type=data.assessment_type,
            supervised=data.supervised,
            identity_verified=data.identity_verified,
            event_source=event.source,
            event_id=event.id,
            received_at=now(),
        )
    )
    if enrolment is None:
        log.info("assessment kept until its enrolment arrives", extra={"enrolment_id": data.enrolment_id})
        return
    issue_credential(store, data.enrolment_id, issuer)


def record_catalogue_entry(store: Store, event: CloudEvent[MicroCredentialPublished], issuer: Issuer) -> None:
    """Keep the latest catalogue entry per key; issue the credentials held for want of it. An entry dated in the
    future is refused (dead-lettered): it would win every "latest entry" comparison until that date."""
    data = event.data
    too_early = future_time_reason(event.time, issuer.clock())
    if too_early is not None:
        raise RejectEvent(f"catalogue entry {data.subject()} refused: {too_early}")
    store.lock_catalogue_entry(data.academic_year, data.microcredential_id, shared=False)
    current = store.catalogue_entry(data.academic_year, data.microcredential_id)
    if current is not None and event.time < current.event_time:
        # Compaction keeps the latest record per key, but a replay or a second producer can deliver an older one.
        log.info("older catalogue entry ignored", extra={"key": data.subject(), "event_id": event.id})
        return
    if current is None:
        current = CatalogueEntryRow(
            academic_year=data.academic_year,
            microcredential_id=data.microcredential_id,
            data={},
            event_source=event.source,
            event_id=event.id,
            event_time=event.time,
            received_at=now(),
        )
    current.data = data.model_dump(mode="json")
    current.event_source, current.event_id, current.event_time = event.source, event.id, event.time
    current.received_at = now()
    store.save(current)
    held = store.held_of_microcredential(data.academic_year, data.microcredential_id)
    log.info("catalogue entry recorded", extra={"key": data.subject(), "held": len(held)})
    for enrolment_id in held:
        issue_credential(store, enrolment_id, issuer)


def _same_enrolment(row: EnrolmentRow, data: EnrolmentCreated, courses: list[dict[str, Any]]) -> bool:
    return (
        row.student_id == data.student.id
        and row.student_given_name == data.student.given_name
        and row.student_family_name == data.student.family_name
        and row.student_email == data.student.email
        and row.microcredential_id == data.microcredential.id
        and row.academic_year == data.microcredential.academic_year
        and _same_courses(row.courses, courses)
    )


def _same_courses(recorded: list[dict[str, Any]], incoming: list[dict[str, Any]]) -> bool:
    # Enrolments recorded before the semester was kept have none; a redelivery of theirs is still the same.
    return recorded == incoming or recorded == [
        {name: value for name, value in course.items() if name != "semester"} for course in incoming
    ]


def _foreign_course_reason(course_id: str, enrolment: EnrolmentRow) -> str:
    return foreign_course_reason(
        course_id,
        enrolment_id=enrolment.id,
        microcredential_id=enrolment.microcredential_id,
        academic_year=enrolment.academic_year,
        course_ids=enrolment.course_ids,
    )
