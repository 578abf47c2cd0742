"""Builders of contract events for billing tests, and readers of what billing stored and queued."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from billing import domain
from billing.store import Store
from billing.usecases import catalogue
from reliability.database import transaction
from reliability.tables import OutboxMessage
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import (
    CloudEvent,
    Course,
    EnrolmentCancelled,
    EnrolmentCreated,
    EventPayload,
    MicroCredentialPublished,
    MicroCredentialSnapshot,
    Student,
    TuitionTerms,
    decode_event,
    new_event,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
ENROLMENT_SOURCE = "/campus/student-administration"
CATALOGUE_SOURCE = "/services/enrolment"
CATALOGUE_TIME = datetime(2026, 6, 1, 9, tzinfo=ZoneInfo("Europe/Brussels"))
"""When the test catalogue was published: before every enrolment of the tests, and in the past of any clock."""
TOKEN = secrets.token_urlsafe(32)  # generated per run; at least 32 characters, as static tokens must be
API_TOKENS = f"finance:{TOKEN}:billing:read billing:export operations"


def brussels(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BRUSSELS)


def enrolment_created(
    enrolment_id: str,
    *,
    courses: Sequence[tuple[str, str, int]] = (("COURSE-1", "6", 1),),
    per_credit: str = "50.00",
    fixed_fee: str = "245.00",
    currency: str = "EUR",
    academic_year: str = "2026-2027",
    enrolled_at: datetime | None = None,
    microcredential_id: str = "mc-test",
    student_id: str = "student-1",
    event_id: str | None = None,
) -> CloudEvent[EnrolmentCreated]:
    """courses: (id, credits, semester)."""
    payload = EnrolmentCreated(
        enrolment_id=enrolment_id,
        student=Student(id=student_id, given_name="Ada", family_name="Peeters", email="ada.peeters@example.org"),
        microcredential=MicroCredentialSnapshot(
            id=microcredential_id,
            title="A micro-credential",
            academic_year=academic_year,
            courses=[
                Course(id=course_id, title=f"Course {course_id}", credits=credits, semester=semester)  # type: ignore[arg-type]
                for course_id, credits, semester in courses
            ],
        ),
        tuition=TuitionTerms(currency=currency, fixed_fee=fixed_fee, per_credit=per_credit),  # type: ignore[arg-type]
        enrolled_at=enrolled_at or brussels(2026, 9, 1, 10),
    )
    return new_event(payload, source=ENROLMENT_SOURCE, event_id=event_id or str(uuid.uuid4()), time=payload.enrolled_at)


def enrolment_cancelled(
    enrolment_id: str, cancelled_at: datetime, *, event_id: str | None = None
) -> CloudEvent[EnrolmentCancelled]:
    payload = EnrolmentCancelled(enrolment_id=enrolment_id, cancelled_at=cancelled_at, reason="personal reasons")
    return new_event(payload, source=ENROLMENT_SOURCE, event_id=event_id or str(uuid.uuid4()), time=cancelled_at)


def catalogue_entry(
    microcredential_id: str = "mc-test",
    *,
    courses: Sequence[tuple[str, str, int]] = (("COURSE-1", "6", 1),),
    per_credit: str = "50.00",
    fixed_fee: str = "245.00",
    currency: str = "EUR",
    academic_year: str = "2026-2027",
    time: datetime = CATALOGUE_TIME,
    event_id: str | None = None,
) -> CloudEvent[MicroCredentialPublished]:
    """A MicroCredentialPublished as the enrolment service publishes it; courses: (id, credits, semester)."""
    payload = MicroCredentialPublished(
        microcredential_id=microcredential_id,
        academic_year=academic_year,
        title="A micro-credential",
        language="en",
        format="evening",
        courses=[
            Course(id=course_id, title=f"Course {course_id}", credits=credits, semester=semester)  # type: ignore[arg-type]
            for course_id, credits, semester in courses
        ],
        tuition=TuitionTerms(currency=currency, fixed_fee=fixed_fee, per_credit=per_credit),  # type: ignore[arg-type]
    )
    return new_event(payload, source=CATALOGUE_SOURCE, event_id=event_id or str(uuid.uuid4()), time=time)


def catalogue_entry_for(
    enrolment: CloudEvent[EnrolmentCreated], **changes: Any
) -> CloudEvent[MicroCredentialPublished]:
    """The catalogue entry whose tuition and courses the enrolment's snapshot repeats (`changes` to differ)."""
    data = enrolment.data
    values: dict[str, Any] = {
        "courses": [(course.id, str(course.credits), course.semester) for course in data.microcredential.courses],
        "per_credit": str(data.tuition.per_credit),
        "fixed_fee": str(data.tuition.fixed_fee),
        "currency": data.tuition.currency,
        "academic_year": data.microcredential.academic_year,
    }
    return catalogue_entry(data.microcredential.id, **{**values, **changes})


def catalogue_of(*enrolments: CloudEvent[EnrolmentCreated]) -> list[CloudEvent[MicroCredentialPublished]]:
    """One entry per (academic year, micro-credential) of these enrolments, from the first enrolment of each."""
    entries: dict[tuple[str, str], CloudEvent[MicroCredentialPublished]] = {}
    for enrolment in enrolments:
        key = (enrolment.data.microcredential.academic_year, enrolment.data.microcredential.id)
        entries.setdefault(key, catalogue_entry_for(enrolment))
    return list(entries.values())


def record_catalogue(engine: Engine, policy: domain.CancellationPolicy, *entries: CloudEvent[Any]) -> None:
    """Apply catalogue entries as billing's consumer does, one transaction each, at the current time."""
    for entry in entries:
        with transaction(engine) as session:
            catalogue.record_catalogue_event(Store(session), entry, policy, datetime.now(UTC))


def ensure_catalogue_entry(engine: Engine, policy: domain.CancellationPolicy, enrolment: CloudEvent[Any]) -> None:
    """Before applying an enrolment: the catalogue entry it repeats, unless its key already has one."""
    microcredential = enrolment.data.microcredential
    with Session(engine) as session:
        keys = {(row.academic_year, row.microcredential_id) for row in Store(session).catalogue_entries()}
    if (microcredential.academic_year, microcredential.id) not in keys:
        record_catalogue(engine, policy, catalogue_entry_for(enrolment))


def queued_events(engine: Engine) -> list[CloudEvent[EventPayload]]:
    """Every event billing put in its outbox, in order, decoded as a consumer would."""
    with Session(engine) as session:
        rows = session.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [decode_event(row.value, key=row.key) for row in rows]


def queued_of_type(engine: Engine, event_type: str) -> list[CloudEvent[EventPayload]]:
    return [event for event in queued_events(engine) if event.type == event_type]


def wire_lines(event: CloudEvent[EventPayload]) -> list[tuple[int, str, str]]:
    """(semester, credits, amount) of a billing event, as strings on the wire."""
    data = event.to_json()["data"]
    return [(line["semester"], line["credits"], line["amount"]) for line in data["lines"]]
