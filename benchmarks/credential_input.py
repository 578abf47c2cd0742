"""Certification's input at volume: per learner one EnrolmentCreated and a passing CourseCompleted per course.

What certification needs before it issues (certification.usecases): the catalogue entry of the micro-credential
with every Annex I element a credential cannot do without (learning outcomes, EQF level, assessment type,
participation form, quality assurance, awarding body) and a snapshot in the enrolment that agrees with it (title,
course ids, credits, semesters); the enrolment, active; and a pass as the latest assessment of every course. Each
event claims the source the allow-list (deploy/event-sources.yaml) lets publish it: the catalogue the enrolment
service, enrolments student administration, assessments exam administration. Every date is in the past, so the
catalogue entry is not refused as future-dated.

As in `benchmarks.workload`, the events are built once with `new_event` and then stamped with a learner's
enrolment id, student id and event ids by byte substitution (the same seed gives the same bytes).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from benchmarks.workload import HEADERS, fast_producer
from contracts import (
    AwardingBody,
    Course,
    CourseCompleted,
    EnrolmentCreated,
    Grade,
    MicroCredentialPublished,
    MicroCredentialSnapshot,
    Student,
    TuitionTerms,
    new_event,
    topics,
)

_CET = timezone(timedelta(hours=1))
_ENROLMENT = "CERT-PLACEHOLDER-00000000000000"
_STUDENT = "S-PLACEHOLDER-000000000"
_EVENT_ID = "00000000-0000-4000-8000-00000000beef"
_NAMESPACE = uuid.UUID("9b2e6c1a-4f3d-4a8e-b7c5-d1e2f3a4b5c6")

YEAR = "2025-2026"
MICROCREDENTIAL = "mc-bench-data-stewardship"
TITLE = "Data Stewardship"
COURSES = (
    Course(id="BENCH-DS-1", title="Research Data Management", credits=Decimal("3"), semester=1),
    Course(id="BENCH-DS-2", title="Open Science in Practice", credits=Decimal("3"), semester=2),
)
TUITION = TuitionTerms(currency="EUR", fixed_fee=Decimal("100.00"), per_credit=Decimal("40.00"))
EVENTS_PER_LEARNER = 1 + len(COURSES)
"""The enrolment and one pass per course; the catalogue entry comes once, before them."""


def catalogue_event() -> tuple[bytes, bytes]:
    """(key, value) of the complete catalogue entry, as the enrolment service publishes it."""
    payload = MicroCredentialPublished(
        microcredential_id=MICROCREDENTIAL,
        academic_year=YEAR,
        title=TITLE,
        description="Plan, document and share research data so others can find and reuse it.",
        language="en",
        format="evening",
        courses=list(COURSES),
        tuition=TUITION,
        learning_outcomes=["Write a data management plan", "Publish a data set under FAIR principles"],
        eqf_level=7,
        assessment_type="data management plan and oral defence",
        participation_form="on-site, evenings",
        quality_assurance="Internal quality assurance of the institution, accredited by NVAO",
        awarding_body=AwardingBody(name="Example University", url="https://www.example.edu", country="BE"),
    )
    at = datetime(2025, 5, 15, 12, tzinfo=_CET)
    event_id = str(uuid.uuid5(_NAMESPACE, "catalogue"))
    record = new_event(payload, source="/services/enrolment", event_id=event_id, time=at).to_kafka()
    return record.key, record.value


def _enrolment_template() -> bytes:
    payload = EnrolmentCreated(
        enrolment_id=_ENROLMENT,
        student=Student(id=_STUDENT, given_name="Ada", family_name="Peeters", email="ada.peeters@example.org"),
        microcredential=MicroCredentialSnapshot(id=MICROCREDENTIAL, title=TITLE, academic_year=YEAR, courses=COURSES),
        tuition=TUITION,
        enrolled_at=datetime(2025, 9, 1, 10, tzinfo=_CET),
    )
    event = new_event(payload, source="/campus/student-administration", event_id=_EVENT_ID, time=payload.enrolled_at)
    return event.to_kafka().value


def _pass_template(course: Course) -> bytes:
    at = datetime(2026, 1, 20 + course.semester, 14, tzinfo=_CET)
    payload = CourseCompleted(
        enrolment_id=_ENROLMENT,
        course_id=course.id,
        passed=True,
        grade=Grade(value="15", scale="0-20"),
        assessed_at=at,
        assessment_type="written exam",
        supervised=True,
        identity_verified=True,
    )
    return new_event(payload, source="/campus/exam-administration", event_id=_EVENT_ID, time=at).to_kafka().value


ENROLMENT_TEMPLATE = _enrolment_template()
PASS_TEMPLATES = tuple(_pass_template(course) for course in COURSES)


def enrolment_id(seed: str, index: int) -> str:
    return f"CERT-{seed}-{index:09d}"


def _stamp(template: bytes, enrolment: bytes, student: bytes, event_id: bytes) -> bytes:
    return (
        template.replace(_ENROLMENT.encode(), enrolment)
        .replace(_STUDENT.encode(), student)
        .replace(_EVENT_ID.encode(), event_id)
    )


def learner(seed: str, index: int) -> tuple[bytes, bytes, tuple[bytes, ...]]:
    """(key, EnrolmentCreated value, CourseCompleted values) of learner number `index`."""
    key = enrolment_id(seed, index).encode()
    student = f"S-{index:09d}".encode()

    def event_id(kind: str) -> bytes:
        return str(uuid.uuid5(_NAMESPACE, f"{seed}:{index}:{kind}")).encode()

    created = _stamp(ENROLMENT_TEMPLATE, key, student, event_id("created"))
    passes = tuple(
        _stamp(template, key, student, event_id(f"passed-{course.id}"))
        for template, course in zip(PASS_TEMPLATES, COURSES, strict=True)
    )
    return key, created, passes


def learners(seed: str, count: int) -> Iterator[tuple[bytes, bytes, tuple[bytes, ...]]]:
    for index in range(count):
        yield learner(seed, index)


async def prefill(bootstrap: str, prefix: str, seed: str, count: int) -> float:
    """The catalogue entry, then `count` learners' enrolments and passes on `prefix`'s topics; seconds taken."""
    started = time.perf_counter()
    producer = fast_producer(bootstrap, f"bench-prefill-cert-{seed}")
    await producer.start()
    try:
        key, value = catalogue_event()
        await producer.send_and_wait(prefix + topics.CATALOGUE, key=key, value=value, headers=HEADERS)
        pending: list[asyncio.Future[object]] = []
        for key, created, passes in learners(seed, count):
            pending.append(
                await producer.send(prefix + topics.ENROLMENT_EVENTS, key=key, value=created, headers=HEADERS)
            )
            for value in passes:
                pending.append(
                    await producer.send(prefix + topics.ASSESSMENT_EVENTS, key=key, value=value, headers=HEADERS)
                )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started
