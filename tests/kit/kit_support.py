"""A tiny service used to test the kit: it records every event it applies, so doubles would show."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from reliability.consumer import RejectEvent
from reliability.database import create_database_engine
from reliability.outbox import add_to_outbox
from reliability.tables import KIT_TABLES
from sqlalchemy import Column, Integer, String, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from contracts import CloudEvent, EnrolmentCancelled, new_event


class AppliedEvent(SQLModel, table=True):
    __tablename__ = "kit_test_applied_event"

    row: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    enrolment_id: str = Field(sa_column=Column(String(64), nullable=False))


def make_engine(url: str) -> Engine:
    engine = create_database_engine(url)
    SQLModel.metadata.create_all(engine, tables=[*KIT_TABLES, AppliedEvent.__table__])  # type: ignore[attr-defined]
    return engine


def record_cancellation(session: Session, event: CloudEvent[EnrolmentCancelled]) -> None:
    """Handler: reject reasons in the event's `reason` field steer the test cases."""
    if event.data.reason == "reject me":
        raise RejectEvent("this enrolment can never be cancelled (test rejection)")
    session.add(AppliedEvent(event_id=event.id, enrolment_id=event.data.enrolment_id))


def applied_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.execute(
            select(AppliedEvent.event_id, func.count()).group_by(AppliedEvent.event_id)  # type: ignore[call-overload]
        )
        return {event_id: count for event_id, count in rows}


def cancellation(
    enrolment_id: str, reason: str | None = None, event_id: str | None = None
) -> CloudEvent[EnrolmentCancelled]:
    return new_event(
        EnrolmentCancelled(
            enrolment_id=enrolment_id, cancelled_at=datetime(2026, 11, 30, 12, tzinfo=UTC), reason=reason
        ),
        source="/test/kit",
        event_id=event_id or str(uuid.uuid4()),
    )


async def publish(producer: AIOKafkaProducer, prefix: str, events: list[CloudEvent[EnrolmentCancelled]]) -> None:
    for event in events:
        record = event.to_kafka()
        await producer.send_and_wait(prefix + record.topic, key=record.key, value=record.value, headers=record.headers)


def queue_in_outbox(engine: Engine, events: list[CloudEvent[EnrolmentCancelled]], fail: bool = False) -> None:
    with Session(engine) as session, session.begin():
        for event in events:
            add_to_outbox(session, event)
        if fail:
            raise RuntimeError("the state change failed after queuing its events")
