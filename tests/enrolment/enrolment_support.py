"""Helpers shared by the enrolment service's tests."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from enrolment.config import EnrolmentSettings
from enrolment.store import EnrolmentRow, PendingCancellationRow
from reliability.tables import OutboxMessage, ProcessedEvent
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import (
    CloudEvent,
    EnrolmentCancelled,
    EnrolmentCreated,
    EventPayload,
    MicroCredentialSnapshot,
    Student,
    TuitionTerms,
    decode_event,
    new_event,
)

TOKEN = secrets.token_urlsafe(32)  # generated per run; at least 32 characters, as static tokens must be
API_TOKENS = f"tests:{TOKEN}:enrolments:read enrolments:write"
YEAR = "2026-2027"
MC = "mc-data-analysis-python"
CAMPUS = "/campus/student-administration"


def settings_for(database_url: str, **overrides: Any) -> EnrolmentSettings:
    return EnrolmentSettings(database_url=database_url, api_tokens=API_TOKENS, **overrides)


def enrolment_request(
    student_id: str | None = None, microcredential_id: str = MC, academic_year: str = YEAR, **student: Any
) -> dict[str, Any]:
    return {
        "student": {
            "id": student_id or f"s{uuid.uuid4().hex[:7]}",
            "given_name": "Amira",
            "family_name": "Peeters",
            "email": "amira.peeters@student.example.org",
            **student,
        },
        "microcredential_id": microcredential_id,
        "academic_year": academic_year,
    }


# --- database ----------------------------------------------------------------------------------------------


def outbox_events(engine: Engine) -> list[CloudEvent[EventPayload]]:
    """Every event queued in the outbox, in order, decoded as a consumer would."""
    with Session(engine) as session:
        rows = session.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        return [decode_event(row.value, key=row.key) for row in rows]


def outbox_events_of(engine: Engine, event_type: str) -> list[CloudEvent[Any]]:
    return [event for event in outbox_events(engine) if event.type == event_type]


def enrolment_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(EnrolmentRow)) or 0)


def pending_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(select(col(PendingCancellationRow.enrolment_id))))


def processed_ids(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(col(ProcessedEvent.event_id))))


# --- events as other campus systems publish them -----------------------------------------------------------


def foreign_created(
    enrolment_id: str,
    enrolled_at: datetime,
    student_id: str = "s0200000",
    microcredential_id: str = MC,
    source: str = CAMPUS,
    catalogue_entry: Any = None,
) -> CloudEvent[EnrolmentCreated]:
    entry = catalogue_entry
    courses = (
        [{"id": c.id, "title": c.title, "credits": c.credits, "semester": c.semester} for c in entry.courses]
        if entry is not None
        else [{"id": "C1", "title": "Course one", "credits": "3", "semester": 1}]
    )
    title = entry.title if entry is not None else "A micro-credential"
    tuition = (
        TuitionTerms(currency="EUR", fixed_fee=entry.tuition.fixed_fee, per_credit=entry.tuition.per_credit)
        if entry is not None
        else TuitionTerms(currency="EUR", fixed_fee="100.00", per_credit="10.00")
    )
    return new_event(
        EnrolmentCreated(
            enrolment_id=enrolment_id,
            student=Student(id=student_id, given_name="Jonas", family_name="Claes", email="jonas.claes@example.org"),
            microcredential=MicroCredentialSnapshot(
                id=microcredential_id, title=title, academic_year=YEAR, courses=courses
            ),
            tuition=tuition,
            enrolled_at=enrolled_at,
        ),
        source=source,
    )


def foreign_cancelled(
    enrolment_id: str, cancelled_at: datetime, reason: str | None = None, source: str = CAMPUS
) -> CloudEvent[EnrolmentCancelled]:
    return new_event(
        EnrolmentCancelled(enrolment_id=enrolment_id, cancelled_at=cancelled_at, reason=reason), source=source
    )


# --- broker --------------------------------------------------------------------------------------------------


async def read_records(
    bootstrap: str, topic: str, expected: int, timeout: float = 30.0, settle: float = 0.0
) -> list[ConsumerRecord]:
    """Read `topic` from the start until `expected` records arrived; then keep reading `settle` seconds more,
    so a test can also see records that should NOT be there."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    records: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                for batch in (await reader.getmany(timeout_ms=200)).values():
                    records.extend(batch)
        deadline = asyncio.get_running_loop().time() + settle
        while asyncio.get_running_loop().time() < deadline:
            for batch in (await reader.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await reader.stop()
    return sorted(records, key=lambda record: (record.timestamp, record.partition, record.offset))


async def eventually(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll until `condition` holds; fails with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)
