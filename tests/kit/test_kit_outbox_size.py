"""An event over the contract's size limit is refused when it is queued, in the use case, never at the relay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from contracts.limits import MAX_EVENT_BYTES
from fastapi import FastAPI
from reliability.consumer import RejectEvent
from reliability.database import transaction
from reliability.http import service_app
from reliability.outbox import EventTooLarge, add_to_outbox, outbox_row
from reliability.tables import OutboxMessage
from sqlalchemy import func, select
from sqlmodel import Session

from contracts import CloudEvent, CredentialIssued, new_event
from tests.kit.kit_support import cancellation, make_engine


def credential_with_courses(count: int) -> CloudEvent[CredentialIssued]:
    """The issue's case: a CredentialIssued whose credential lists `count` courses (2,000 made 1.09 MB)."""
    achievements = [
        {
            "type": ["Achievement"],
            "id": f"urn:course:{n:05d}",
            "name": f"Course {n:05d}: advanced topics in the study of something long enough to be realistic",
            "criteria": {"narrative": "Passed the written exam and the project, supervised, identity verified." * 5},
            "creditsAvailable": 6,
        }
        for n in range(count)
    ]
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "credentialSubject": {"achievement": {"hasPart": achievements}},
    }
    # model_construct: the contract may come to bound the document itself; the outbox must refuse regardless.
    payload = CredentialIssued.model_construct(
        enrolment_id="ENR-2026-000001",
        credential_id=str(uuid.uuid4()),
        student_id="STU-1",
        microcredential_id="MC-1",
        issued_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
        credential_url="https://credentials.example/c/1",
        credential=credential,
    )
    return new_event(payload, source="/test/certification")


def outbox_rows(engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def test_a_credential_of_2000_courses_is_refused_at_insert_and_nothing_is_written(database_url):
    engine = make_engine(database_url)
    event = credential_with_courses(2000)
    size = len(event.to_kafka().value)
    assert size > 1_000_000  # the issue's 1.09 MB credential, four times the limit
    with pytest.raises(EventTooLarge) as refused, transaction(engine) as session:
        add_to_outbox(session, cancellation("enr-before"))  # the use case's other writes roll back with it
        add_to_outbox(session, event)
    assert outbox_rows(engine) == 0
    error = refused.value
    assert (error.event_type, error.size, error.limit) == ("CredentialIssued", size, MAX_EVENT_BYTES)
    assert isinstance(error, RejectEvent)  # a consumed event that would produce it is dead-lettered, not retried
    assert str(size) in error.reason and "ENR-2026-000001" not in error.reason


def test_the_many_rows_path_refuses_the_same_event_and_takes_one_at_the_limit():
    too_large = credential_with_courses(2000).to_kafka()
    with pytest.raises(EventTooLarge):
        outbox_row(too_large, "event-1")
    record = cancellation("enr-1").to_kafka()
    padded = record.value + b" " * (MAX_EVENT_BYTES - len(record.value))
    assert len(padded) == MAX_EVENT_BYTES
    row = outbox_row(type(record)(record.topic, record.key, padded, record.headers), "event-2")
    assert row["value"] == padded
    with pytest.raises(EventTooLarge):
        outbox_row(type(record)(record.topic, record.key, padded + b" ", record.headers), "event-3")


async def test_an_http_use_case_whose_event_is_too_large_answers_422_and_writes_nothing(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    app: FastAPI = service_app("test", "the outbox size limit over HTTP", engine)

    @app.post("/credentials")
    def issue() -> dict[str, str]:
        with transaction(engine) as session:
            add_to_outbox(session, credential_with_courses(2000))
        return {"status": "issued"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/credentials")
    assert response.status_code == 422
    assert "CredentialIssued" in response.json()["error"]["message"]
    assert outbox_rows(engine) == 0
