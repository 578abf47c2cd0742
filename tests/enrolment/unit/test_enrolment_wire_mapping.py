"""Catalogue entries and domain events become valid contract payloads, and survive a CloudEvents round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from enrolment.adapters.catalogue import load_catalogue
from enrolment.domain import (
    Catalogue,
    EnrolledMicroCredential,
    EnrolmentCancelledEvent,
    EnrolmentCreatedEvent,
    enrol,
)
from enrolment.domain.wire import (
    enrolled_from_wire,
    to_enrolment_cancelled,
    to_enrolment_created,
    to_microcredential_published,
    to_snapshot,
    to_tuition_terms,
)

from contracts import (
    EnrolmentCreated,
    MicroCredentialPublished,
    Student,
    catalogue_key,
    decode_event,
    new_event,
    topics,
)

SOURCE = "urn:uantwerpen:enrolment-service"
ENROLLED_AT = datetime(2026, 9, 15, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_every_shipped_entry_is_a_valid_catalogue_record(catalogue: Catalogue) -> None:
    for entry in catalogue:
        record = new_event(to_microcredential_published(entry), source=SOURCE).to_kafka()
        assert record.topic == topics.CATALOGUE == "catalogue.microcredentials"
        assert record.key == f"{entry.academic_year}/{entry.id}".encode()
        decoded = decode_event(record.value, key=record.key)
        assert isinstance(decoded.data, MicroCredentialPublished)
        assert decoded.data == to_microcredential_published(entry)


def test_published_record_carries_the_descriptive_metadata(catalogue: Catalogue) -> None:
    payload = to_microcredential_published(catalogue.get("2026-2027", "mc-port-logistics")).model_dump(mode="json")
    assert payload["format"] == "distance"
    assert [course["credits"] for course in payload["courses"]] == ["1.5", "1.5", "1.5"]
    assert payload["tuition"] == {"currency": "EUR", "fixed_fee": "120.00", "per_credit": "25.00"}
    assert payload["eqf_level"] == 7 and payload["cycle"] is None
    assert len(payload["learning_outcomes"]) == 3
    assert payload["awarding_body"] == {
        "name": "University of Antwerp",
        "url": "https://www.uantwerpen.be",
        "country": "BE",
        "region": "Flanders",
    }
    assert "NVAO" in payload["quality_assurance"]


def test_incomplete_entry_is_published_with_its_gaps_visible(catalogue: Catalogue) -> None:
    payload = to_microcredential_published(catalogue.get("2026-2027", "mc-ai-public-services"))
    assert payload.learning_outcomes == [] and payload.eqf_level is None
    assert payload.subject() == catalogue_key("2026-2027", "mc-ai-public-services")


def test_snapshot_and_tuition_terms_of_an_entry(catalogue: Catalogue) -> None:
    entry = catalogue.get("2026-2027", "mc-sustainable-finance")
    snapshot = to_snapshot(entry).model_dump(mode="json")
    assert snapshot == {
        "id": "mc-sustainable-finance",
        "title": "Sustainable Finance",
        "academic_year": "2026-2027",
        "courses": [
            {"id": "2026MCSFI1", "title": "Foundations of Sustainable Finance", "credits": "6", "semester": 1},
            {"id": "2026MCSFI2", "title": "ESG Data and Sustainability Reporting", "credits": "4", "semester": 1},
            {"id": "2026MCSFI3", "title": "Climate Risk in Banking and Insurance", "credits": "6", "semester": 2},
            {"id": "2026MCSFI4", "title": "Impact Investing Seminar", "credits": "3", "semester": 2},
        ],
    }
    assert to_tuition_terms(entry).model_dump(mode="json") == {
        "currency": "EUR",
        "fixed_fee": "245.00",
        "per_credit": "11.90",
    }


def test_enrolment_events_become_contract_payloads(catalogue: Catalogue) -> None:
    decision = enrol(
        catalogue,
        student_ref="s0123456",
        academic_year="2026-2027",
        microcredential_id="mc-port-logistics",
        enrolled_at=ENROLLED_AT,
        origin=SOURCE,
        enrolment_id="enr-0123456789abcdef0123456789abcdef",
    )
    student = Student(id="s0123456", given_name="Lotte", family_name="Peeters", email="lotte.peeters@example.org")
    (created_event,) = decision.events
    assert isinstance(created_event, EnrolmentCreatedEvent)
    created = to_enrolment_created(created_event, student)
    record = new_event(created, source=SOURCE).to_kafka()
    assert record.topic == "enrolment.events" and record.key == decision.enrolment.id.encode()
    decoded = decode_event(record.value, key=record.key).data
    assert isinstance(decoded, EnrolmentCreated)
    assert decoded.tuition.per_credit == to_tuition_terms(decision.enrolment.microcredential).per_credit
    # Another system's EnrolmentCreated maps back to the same domain snapshot.
    assert enrolled_from_wire(decoded.microcredential, decoded.tuition) == decision.enrolment.microcredential

    (cancelled_event,) = decision.enrolment.cancel(ENROLLED_AT + timedelta(days=30), "moved abroad").events
    assert isinstance(cancelled_event, EnrolmentCancelledEvent)
    cancelled = to_enrolment_cancelled(cancelled_event)
    assert cancelled.model_dump(mode="json") == {
        "enrolment_id": decision.enrolment.id,
        "cancelled_at": "2026-10-15T08:00:00Z",
        "reason": "moved abroad",
    }


def test_student_must_be_the_enrolled_one(catalogue: Catalogue) -> None:
    entry = catalogue.get("2026-2027", "mc-research-integrity")
    event = enrol(
        catalogue,
        student_ref="s1",
        academic_year="2026-2027",
        microcredential_id=entry.id,
        enrolled_at=ENROLLED_AT,
        origin=SOURCE,
        enrolment_id="enr-0123456789abcdef0123456789abcdef",
    ).events[0]
    assert isinstance(event, EnrolmentCreatedEvent)
    other = Student(id="s2", given_name="A", family_name="B", email="a.b@example.org")
    with pytest.raises(ValueError, match="s1"):
        to_enrolment_created(event, other)
    assert EnrolledMicroCredential.from_entry(entry).tuition.fixed_fee == 0
