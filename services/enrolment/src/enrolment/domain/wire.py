"""Mapping between the domain objects and the wire contract's payloads.

Pure functions over the contract's pydantic models: building a payload validates it, so a catalogue entry
that would break the contract fails here, in a unit test, rather than on the topic.
"""

from __future__ import annotations

from contracts import (
    AwardingBody,
    Course,
    EnrolmentCancelled,
    EnrolmentCreated,
    MicroCredentialPublished,
    MicroCredentialSnapshot,
    Student,
    TuitionTerms,
)
from enrolment.domain.catalogue import (
    CatalogueAwardingBody,
    CatalogueCourse,
    CatalogueTuition,
    MicroCredential,
)
from enrolment.domain.enrolment import EnrolledMicroCredential, EnrolmentCancelledEvent, EnrolmentCreatedEvent


def to_course(course: CatalogueCourse) -> Course:
    return Course(id=course.id, title=course.title, credits=course.credits, semester=course.semester)


def to_tuition_terms(source: MicroCredential | EnrolledMicroCredential | CatalogueTuition) -> TuitionTerms:
    tuition = source if isinstance(source, CatalogueTuition) else source.tuition
    return TuitionTerms(currency=tuition.currency, fixed_fee=tuition.fixed_fee, per_credit=tuition.per_credit)


def to_snapshot(source: MicroCredential | EnrolledMicroCredential) -> MicroCredentialSnapshot:
    """The `microcredential` of EnrolmentCreated: id, title, year and courses (the tuition travels beside it)."""
    return MicroCredentialSnapshot(
        id=source.id,
        title=source.title,
        academic_year=source.academic_year,
        courses=[to_course(course) for course in source.courses],
    )


def to_awarding_body(body: CatalogueAwardingBody) -> AwardingBody:
    return AwardingBody(name=body.name, url=body.url, country=body.country, region=body.region)


def to_microcredential_published(entry: MicroCredential) -> MicroCredentialPublished:
    """The record the enrolment service puts on the compacted topic `catalogue.microcredentials`.

    Missing credential metadata stays missing (empty list / None): certification must see the gap and hold
    the credential, so nothing is filled in with a default here.
    """
    return MicroCredentialPublished(
        microcredential_id=entry.id,
        academic_year=entry.academic_year,
        title=entry.title,
        description=entry.description,
        language=entry.language,
        format=entry.format,
        courses=[to_course(course) for course in entry.courses],
        tuition=to_tuition_terms(entry),
        learning_outcomes=list(entry.learning_outcomes),
        eqf_level=entry.eqf_level,
        cycle=entry.cycle,
        assessment_type=entry.assessment_type,
        participation_form=entry.participation_form,
        quality_assurance=entry.quality_assurance,
        awarding_body=None if entry.awarding_body is None else to_awarding_body(entry.awarding_body),
        prerequisites=entry.prerequisites,
        stackability=entry.stackability,
    )


def to_enrolment_created(event: EnrolmentCreatedEvent, student: Student) -> EnrolmentCreated:
    """The contract payload of a created enrolment; the service supplies the student's name and e-mail."""
    if student.id != event.student_ref:
        raise ValueError(f"student {student.id!r} is not the enrolled student {event.student_ref!r}")
    return EnrolmentCreated(
        enrolment_id=event.enrolment_id,
        student=student,
        microcredential=to_snapshot(event.microcredential),
        tuition=to_tuition_terms(event.microcredential),
        enrolled_at=event.enrolled_at,
    )


def to_enrolment_cancelled(event: EnrolmentCancelledEvent) -> EnrolmentCancelled:
    return EnrolmentCancelled(enrolment_id=event.enrolment_id, cancelled_at=event.cancelled_at, reason=event.reason)


def enrolled_from_wire(snapshot: MicroCredentialSnapshot, tuition: TuitionTerms) -> EnrolledMicroCredential:
    """The domain snapshot of an EnrolmentCreated another system published (for apply_foreign_created)."""
    return EnrolledMicroCredential(
        id=snapshot.id,
        title=snapshot.title,
        academic_year=snapshot.academic_year,
        courses=tuple(
            CatalogueCourse(id=course.id, title=course.title, credits=course.credits, semester=course.semester)
            for course in snapshot.courses
        ),
        tuition=CatalogueTuition(currency=tuition.currency, fixed_fee=tuition.fixed_fee, per_credit=tuition.per_credit),
    )
