"""The consumer's handlers on SQLite and PostgreSQL, without a broker: our own events read back change nothing,
other systems' events are recorded, a cancellation may come first, and conflicts are rejected with a reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from enrolment.domain import Catalogue
from enrolment.entrypoints.kafka import event_handlers
from enrolment.store import EnrolmentRow, Store
from enrolment.usecases import SOURCE
from reliability.consumer import RejectEvent
from reliability.database import transaction
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tests.enrolment.enrolment_support import (
    CAMPUS,
    MC,
    YEAR,
    enrolment_count,
    enrolment_request,
    foreign_cancelled,
    foreign_created,
    outbox_events,
    pending_ids,
)

ENROLLED_AT = datetime(2026, 9, 20, 8, 0, tzinfo=UTC)
CANCELLED_AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def apply(engine, event) -> None:
    """What the kit's consumer does for one event: the handler inside one transaction."""
    with transaction(engine) as session:
        event_handlers()[event.type](session, event)


def stored(engine, enrolment_id):
    with Session(engine) as session:
        return Store(session).enrolment(enrolment_id)


def rows(engine):
    with Session(engine) as session:
        return [row.model_dump() for row in session.scalars(select(EnrolmentRow))]


async def test_our_own_events_read_back_change_nothing(client, engine):
    created = (await client.post("/enrolments", json=enrolment_request())).json()
    await client.post(f"/enrolments/{created['id']}/cancellation", json={"reason": "moved abroad"})
    before = rows(engine)
    own_events = outbox_events(engine)
    assert [event.type for event in own_events] == ["EnrolmentCreated", "EnrolmentCancelled"]

    for event in own_events:
        apply(engine, event)

    assert rows(engine) == before
    assert len(outbox_events(engine)) == 2  # nothing republished
    assert pending_ids(engine) == []


async def test_our_own_creation_read_back_after_a_cancellation_keeps_it_cancelled(client, engine):
    created = (await client.post("/enrolments", json=enrolment_request())).json()
    await client.post(f"/enrolments/{created['id']}/cancellation", json={})
    before = rows(engine)
    apply(engine, outbox_events(engine)[0])  # the EnrolmentCreated arrives late, e.g. after a rebalance
    assert rows(engine) == before


def test_foreign_enrolment_is_recorded_with_its_origin_and_student(engine, catalogue: Catalogue):
    event = foreign_created("sisa-1", ENROLLED_AT, catalogue_entry=catalogue.get(YEAR, MC))
    apply(engine, event)
    record = stored(engine, "sisa-1")
    assert record is not None and record.created_via == "event"
    assert record.enrolment.origin == CAMPUS and record.enrolment.is_active
    assert record.enrolment.enrolled_at == ENROLLED_AT
    assert record.student == event.data.student
    assert [c.id for c in record.enrolment.microcredential.courses] == [c.id for c in catalogue.get(YEAR, MC).courses]
    assert outbox_events(engine) == []  # another system's fact is never republished


def test_foreign_enrolment_published_again_under_a_new_event_id_is_a_duplicate(engine):
    apply(engine, foreign_created("sisa-2", ENROLLED_AT))
    before = rows(engine)
    apply(engine, foreign_created("sisa-2", ENROLLED_AT + timedelta(hours=1)))
    assert rows(engine) == before


def test_foreign_enrolment_contradicting_the_registry_is_rejected_with_the_reason(engine):
    apply(engine, foreign_created("sisa-3", ENROLLED_AT, student_id="s1"))
    conflicting = foreign_created("sisa-3", ENROLLED_AT, student_id="s2")
    with pytest.raises(RejectEvent) as rejected:
        apply(engine, conflicting)
    assert "sisa-3" in rejected.value.reason and conflicting.id in rejected.value.reason
    assert "already exists" in rejected.value.reason
    assert stored(engine, "sisa-3").student.id == "s1"


def test_foreign_cancellation_of_a_known_enrolment_is_applied_once(engine):
    apply(engine, foreign_created("sisa-4", ENROLLED_AT))
    apply(engine, foreign_cancelled("sisa-4", CANCELLED_AT, reason="student request"))
    apply(engine, foreign_cancelled("sisa-4", CANCELLED_AT + timedelta(days=3), reason="again"))
    enrolment = stored(engine, "sisa-4").enrolment
    assert not enrolment.is_active
    assert (enrolment.cancelled_at, enrolment.reason) == (CANCELLED_AT, "student request")


def test_cancellation_before_its_creation_is_kept_pending_then_applied(engine):
    apply(engine, foreign_cancelled("sisa-5", CANCELLED_AT, reason="first"))
    apply(engine, foreign_cancelled("sisa-5", CANCELLED_AT + timedelta(days=1), reason="second"))
    assert stored(engine, "sisa-5") is None and pending_ids(engine) == ["sisa-5"]

    apply(engine, foreign_created("sisa-5", ENROLLED_AT))
    enrolment = stored(engine, "sisa-5").enrolment
    assert not enrolment.is_active
    assert (enrolment.cancelled_at, enrolment.reason) == (CANCELLED_AT, "first")  # the first one kept wins
    assert pending_ids(engine) == []


def test_pending_cancellation_dated_before_the_enrolment_is_dropped(engine):
    apply(engine, foreign_cancelled("sisa-6", ENROLLED_AT - timedelta(days=1)))
    apply(engine, foreign_created("sisa-6", ENROLLED_AT))
    assert stored(engine, "sisa-6").enrolment.is_active
    assert pending_ids(engine) == []


def test_cancellation_dated_before_a_known_enrolment_is_rejected(engine):
    apply(engine, foreign_created("sisa-7", ENROLLED_AT))
    with pytest.raises(RejectEvent, match="before it was created"):
        apply(engine, foreign_cancelled("sisa-7", ENROLLED_AT - timedelta(days=1)))
    assert stored(engine, "sisa-7").enrolment.is_active


def test_text_that_cannot_be_stored_is_rejected_not_retried(engine):
    event = foreign_created("sisa-8", ENROLLED_AT)
    broken = event.data.model_copy(
        update={"student": event.data.student.model_copy(update={"given_name": "Jo\x00nas"})}
    )
    with pytest.raises(RejectEvent, match="NUL"):
        apply(engine, dataclasses.replace(event, data=broken))
    assert enrolment_count(engine) == 0


async def test_foreign_enrolment_shows_over_http_and_blocks_a_second_one(client, engine, catalogue: Catalogue):
    event = foreign_created("sisa-9", ENROLLED_AT, student_id="s0300000", catalogue_entry=catalogue.get(YEAR, MC))
    apply(engine, event)
    listed = (await client.get("/enrolments", params={"student_id": "s0300000"})).json()
    assert [(e["id"], e["origin"], e["student"]["family_name"]) for e in listed] == [("sisa-9", CAMPUS, "Claes")]
    again = await client.post("/enrolments", json=enrolment_request("s0300000"))
    assert again.status_code == 409 and again.json()["error"]["existing_enrolment_id"] == "sisa-9"


def test_other_systems_may_hold_two_active_enrolments_the_api_may_not(engine):
    # Facts from the topic are stored as published (a replay may apply a creation before an older cancellation);
    # the unique index only guards enrolments made through our API.
    apply(engine, foreign_created("sisa-10", ENROLLED_AT, student_id="s0400000"))
    apply(engine, foreign_created("sisa-11", ENROLLED_AT, student_id="s0400000"))
    assert enrolment_count(engine) == 2

    first = stored(engine, "sisa-10")
    api_copy = first.enrolment.__class__(**{**first.enrolment.__dict__, "id": "enr-api-1", "origin": SOURCE})
    with transaction(engine) as session:
        Store(session).add_enrolment(api_copy, first.student, "api", recorded_at=ENROLLED_AT)
    second = api_copy.__class__(**{**api_copy.__dict__, "id": "enr-api-2"})
    with pytest.raises(IntegrityError), transaction(engine) as session:
        Store(session).add_enrolment(second, first.student, "api", recorded_at=ENROLLED_AT)


def test_one_batch_in_one_transaction_applies_like_separate_ones(engine):
    # The kit applies a partition's batch in one transaction: rows added earlier in the batch must be seen.
    events = [
        foreign_created("sisa-20", ENROLLED_AT),
        foreign_cancelled("sisa-20", CANCELLED_AT, reason="in batch"),
        foreign_cancelled("sisa-21", CANCELLED_AT, reason="early"),
        foreign_cancelled("sisa-21", CANCELLED_AT + timedelta(days=1), reason="later"),
        foreign_created("sisa-21", ENROLLED_AT),
        foreign_created("sisa-20", ENROLLED_AT),
    ]
    with transaction(engine) as session:
        for event in events:
            with session.begin_nested():
                event_handlers()[event.type](session, event)
    first, second = stored(engine, "sisa-20").enrolment, stored(engine, "sisa-21").enrolment
    assert (first.status.value, first.reason) == ("cancelled", "in batch")
    assert (second.status.value, second.reason) == ("cancelled", "early")
    assert pending_ids(engine) == [] and enrolment_count(engine) == 2
