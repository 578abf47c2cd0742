"""Certification's handlers and storage on SQLite and PostgreSQL, called as the kit's consumer calls them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from certification import store as storage
from certification import usecases as use_cases
from certification.store import Database, Store
from certification.usecases import issuing
from reliability.consumer import RejectEvent
from reliability.database import transaction
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tests.certification.certification_support import (
    AI,
    AI_COURSES,
    HERITAGE,
    HERITAGE_COURSES,
    ai_enrolment_created,
    ai_published,
    apply,
    brussels,
    course_completed,
    credential_of,
    credentials,
    enrolment_cancelled,
    enrolment_created,
    held,
    heritage_published,
    passes,
    queued_events,
)

FIRST, SECOND = (course_id for course_id, _, _ in HERITAGE_COURSES)


def issued_events(engine):
    return queued_events(engine, "CredentialIssued")


def test_all_courses_passed_issues_one_credential_and_announces_it(engine, handlers, issuer):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))

    [row] = credentials(engine)
    assert row.enrolment_id == "enr-1"
    assert row.url == f"{issuer.base_url}/credentials/{row.id}"
    assert row.document["id"] == row.url
    assert row.document["proof"]["verificationMethod"] == f"{issuer.issuer_id}#key-2026"
    [event] = issued_events(engine)
    assert event.id == use_cases.issued_event_id("enr-1")  # deterministic: a replay announces the same event
    assert event.subject == "enr-1"
    assert event.source == use_cases.SOURCE
    assert event.data.credential_id == row.id
    assert event.data.credential_url == row.url
    assert event.data.student_id == "s0201234"
    assert event.data.microcredential_id == HERITAGE
    assert event.data.credential == row.document
    assert event.time == event.data.issued_at == row.issued_at
    assert issuer.verify(event.data.credential, lambda list_id: _status_list(engine, list_id)).verified


def _status_list(engine, list_id):
    with Session(engine) as session:
        row = Store(session).status_list(list_id)
        return None if row is None else row.credential


def test_a_failed_first_attempt_then_a_passed_resit_completes(engine, handlers):
    apply(
        engine,
        handlers,
        heritage_published(),
        enrolment_created("enr-1"),
        course_completed("enr-1", FIRST, passed=False, grade="7", assessed_at=brussels(2026, 1, 20, 10)),
        course_completed("enr-1", SECOND, grade="16", assessed_at=brussels(2026, 1, 22, 10)),
    )
    assert credentials(engine) == []  # the first course's only attempt failed

    apply(engine, handlers, course_completed("enr-1", FIRST, grade="12", assessed_at=brussels(2026, 6, 28, 10)))

    [row] = credentials(engine)
    results = row.document["credentialSubject"]["result"]
    assert [(r["value"], r["assessmentDate"]) for r in results] == [
        ("12", "2026-06-28T08:00:00Z"),  # the re-sit counts, not the failed attempt
        ("16", "2026-01-22T09:00:00Z"),
    ]


def test_events_in_any_order_give_the_same_outcome(engine, handlers):
    # Re-sit pass first, the older failed attempt after it, the catalogue last, the enrolment in between.
    apply(
        engine,
        handlers,
        course_completed("enr-1", FIRST, grade="12", assessed_at=brussels(2026, 6, 28, 10)),
        course_completed("enr-1", SECOND, grade="16", assessed_at=brussels(2026, 1, 22, 10)),
        enrolment_created("enr-1"),
        course_completed("enr-1", FIRST, passed=False, grade="7", assessed_at=brussels(2026, 1, 20, 10)),
    )
    assert credentials(engine) == []
    assert [h.missing for h in held(engine)] == [["catalogue entry"]]

    apply(engine, handlers, heritage_published())

    [row] = credentials(engine)
    assert row.document["credentialSubject"]["result"][0]["value"] == "12"
    assert held(engine) == []
    assert len(issued_events(engine)) == 1


def test_duplicate_outcomes_and_enrolments_issue_one_credential(engine, handlers):
    created = enrolment_created("enr-1")
    outcomes = passes("enr-1")
    # The same facts again under new event ids (a producer re-sent them), then once more after issuance.
    again = [
        course_completed("enr-1", e.data.course_id, grade=e.data.grade.value, assessed_at=e.data.assessed_at)
        for e in outcomes
    ]
    apply(engine, handlers, heritage_published(), created, *outcomes, *again)
    apply(engine, handlers, enrolment_created("enr-1"), *passes("enr-1"))

    assert len(credentials(engine)) == 1
    assert len(issued_events(engine)) == 1


def test_try_issue_after_issuance_changes_nothing(engine, handlers, issuer):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    with transaction(engine) as session:
        assert use_cases.issue_credential(Store(session), "enr-1", issuer) is use_cases.IssueOutcome.ALREADY_ISSUED
    assert len(credentials(engine)) == 1


def test_the_database_refuses_a_second_credential_for_an_enrolment(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    [row] = credentials(engine)
    copy = storage.CredentialRow(
        **{**row.model_dump(), "id": "another-id", "status_index": (row.status_index + 1) % 131072}
    )
    with pytest.raises(IntegrityError), transaction(engine) as session:
        session.add(copy)


def test_cancellation_before_the_last_pass_means_no_credential(engine, handlers):
    first, second = passes("enr-1")
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), first)
    apply(engine, handlers, enrolment_cancelled("enr-1"), second)

    assert credentials(engine) == []
    assert issued_events(engine) == []
    assert held(engine) == []


def test_cancellation_that_arrives_before_its_enrolment_still_counts(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_cancelled("enr-1"), *passes("enr-1"))
    apply(engine, handlers, enrolment_created("enr-1"))

    assert credentials(engine) == []
    with Session(engine) as session:
        enrolment = Store(session).enrolment("enr-1")
        assert enrolment.status == storage.CANCELLED
        assert session.get(storage.PendingCancellationRow, "enr-1") is None


def test_cancellation_after_issuance_does_not_undo_the_credential(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    apply(engine, handlers, enrolment_cancelled("enr-1", brussels(2026, 2, 1)))

    [row] = credentials(engine)
    assert row.revoked_at is None  # revoking is an explicit decision (POST /credentials/{id}/revocation)


def test_a_later_failed_assessment_does_not_undo_an_issued_credential(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    apply(engine, handlers, course_completed("enr-1", FIRST, passed=False, grade="5", assessed_at=brussels(2026, 3, 1)))

    [row] = credentials(engine)
    assert row.revoked_at is None
    assert len(issued_events(engine)) == 1


def test_outcomes_before_their_enrolment_are_kept_and_counted_on_arrival(engine, handlers):
    apply(engine, handlers, heritage_published(), *passes("enr-1"))
    assert credentials(engine) == []

    apply(engine, handlers, enrolment_created("enr-1"))

    assert credential_of(engine, "enr-1") is not None


def test_outcome_for_a_course_not_in_the_enrolment_is_rejected(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"))
    foreign = course_completed("enr-1", "2026MCAIP1")

    with pytest.raises(RejectEvent) as rejected, transaction(engine) as session:
        handlers[foreign.type](session, foreign)

    assert "'2026MCAIP1' is not part of enrolment enr-1" in rejected.value.reason
    assert HERITAGE in rejected.value.reason


def test_foreign_outcome_kept_before_its_enrolment_is_reported_and_never_counts(engine, handlers):
    # A pass of another micro-credential's course plus one real course: must not complete anything.
    apply(
        engine,
        handlers,
        heritage_published(),
        course_completed("enr-1", FIRST),
        course_completed("enr-1", "2026MCAIP1"),
        enrolment_created("enr-1"),
    )
    with Session(engine) as session:
        [rejected] = Store(session).rejected_assessments()
    assert rejected.course_id == "2026MCAIP1"
    assert "is not part of enrolment enr-1" in rejected.rejected_reason
    assert credentials(engine) == []

    apply(engine, handlers, course_completed("enr-1", SECOND))
    assert credential_of(engine, "enr-1") is not None


def test_missing_metadata_holds_the_credential_until_it_is_published(engine, handlers):
    apply(engine, handlers, ai_published(), ai_enrolment_created("enr-ai"), *passes("enr-ai", AI_COURSES))

    assert credentials(engine) == []
    [waiting] = held(engine)
    assert (waiting.enrolment_id, waiting.microcredential_id) == ("enr-ai", AI)
    assert waiting.missing == ["learning_outcomes", "eqf_level"]

    apply(engine, handlers, ai_published(complete=True))

    row = credential_of(engine, "enr-ai")
    assert row is not None
    achievement = row.document["credentialSubject"]["achievement"]
    assert achievement["learningOutcomes"] == ["Explain the obligations of the EU AI Act for a public body."]
    assert achievement["alignment"][0]["targetCode"] == "6"
    assert held(engine) == []
    assert len(issued_events(engine)) == 1


def test_an_older_catalogue_record_does_not_replace_a_newer_one(engine, handlers):
    apply(engine, handlers, ai_published(complete=True), ai_published(complete=False))
    apply(engine, handlers, ai_enrolment_created("enr-ai"), *passes("enr-ai", AI_COURSES))
    assert credential_of(engine, "enr-ai") is not None


def test_unusable_metadata_holds_the_credential_rather_than_dead_letter_the_assessment(engine, handlers):
    broken = heritage_published(
        awarding_body={"name": "University of Antwerp", "url": "www.uantwerpen.be", "country": "BE"}
    )
    apply(engine, handlers, broken, enrolment_created("enr-1"), *passes("enr-1"))

    [waiting] = held(engine)
    assert waiting.missing == ["awarding_body.url (an absolute http(s) URL)"]
    apply(engine, handlers, heritage_published(event_time=brussels(2025, 6, 1)))
    assert credential_of(engine, "enr-1") is not None


def test_a_conflicting_second_enrolment_created_is_rejected(engine, handlers):
    apply(engine, handlers, enrolment_created("enr-1"))
    conflicting = enrolment_created("enr-1", courses=HERITAGE_COURSES[:1])
    with pytest.raises(RejectEvent, match="already recorded"), transaction(engine) as session:
        handlers[conflicting.type](session, conflicting)


def test_a_snapshot_that_disagrees_with_the_catalogue_is_held_with_what_disagrees(engine, handlers):
    forged_courses = (("2026MCHAR1", "Reading Historic Buildings", "30"), ("FORGED-2", "Forgery Studio", "30"))
    forged = enrolment_created("enr-forged", title="Master of Forgery", courses=forged_courses)
    apply(engine, handlers, heritage_published(), forged, *passes("enr-forged", forged_courses))

    assert credential_of(engine, "enr-forged") is None and issued_events(engine) == []
    [waiting] = held(engine)
    assert waiting.enrolment_id == "enr-forged"
    assert waiting.missing == [
        "snapshot disagrees with the catalogue: title (the catalogue's is 'Heritage and Adaptive Reuse')",
        "snapshot disagrees with the catalogue: course ids (the catalogue's are 2026MCHAR1, 2026MCHAR2; "
        "the snapshot lacks 2026MCHAR2 and adds FORGED-2)",
        "snapshot disagrees with the catalogue: credits of 2026MCHAR1 (the catalogue's: 3)",
    ]


def test_a_snapshot_in_the_wrong_semester_is_held(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1", semester=2), *passes("enr-1"))
    assert credential_of(engine, "enr-1") is None
    assert [row.missing for row in held(engine)] == [
        [
            "snapshot disagrees with the catalogue: semester of 2026MCHAR1 (the catalogue's: 1)",
            "snapshot disagrees with the catalogue: semester of 2026MCHAR2 (the catalogue's: 1)",
        ]
    ]


def test_a_held_disagreement_is_settled_by_a_newer_catalogue_entry_that_agrees(engine, handlers, issuer):
    renamed = "Heritage and Adaptive Reuse (revised)"
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1", title=renamed), *passes("enr-1"))
    assert credential_of(engine, "enr-1") is None and len(held(engine)) == 1

    apply(engine, handlers, heritage_published(title=renamed, event_time=brussels(2025, 6, 1)))
    row = credential_of(engine, "enr-1")
    assert row is not None and held(engine) == []
    assert row.document["credentialSubject"]["achievement"]["name"] == renamed


def test_a_catalogue_entry_dated_beyond_the_clock_skew_is_rejected(engine, handlers, issuer):
    ahead = issuer.clock() + timedelta(minutes=6)
    future = heritage_published(event_time=ahead)
    with pytest.raises(RejectEvent, match="catalogue entry 2025-2026/mc-heritage-adaptive-reuse refused: event time"):
        apply(engine, handlers, future)
    assert _catalogue_entry(engine) is None
    # Within the skew (a campus clock a little fast) it is recorded.
    apply(engine, handlers, heritage_published(event_time=issuer.clock() + timedelta(minutes=4)))
    assert _catalogue_entry(engine) is not None


def _catalogue_entry(engine):
    with Session(engine) as session:
        return Store(session).catalogue_entry("2025-2026", HERITAGE)


def test_every_credential_gets_its_own_status_bit(engine, handlers):
    apply(engine, handlers, heritage_published())
    for n in range(5):
        apply(engine, handlers, enrolment_created(f"enr-{n}"), *passes(f"enr-{n}"))
    rows = credentials(engine)
    assert len(rows) == 5
    assert len({(row.status_list_id, row.status_index) for row in rows}) == 5
    assert {row.status_list_id for row in rows} == {"1"}


def test_a_sparse_list_is_not_read_whole_to_allocate_a_bit(engine, handlers, monkeypatch):
    # Each credential used to read every allocated index of its list: up to 131 072 rows per credential.
    def read_whole(self, status_list_id):
        raise AssertionError("the status list's allocated indices were read whole")

    monkeypatch.setattr(Store, "allocated_indices", read_whole)
    apply(engine, handlers, heritage_published())
    for n in range(3):
        apply(engine, handlers, enrolment_created(f"enr-{n}"), *passes(f"enr-{n}"))
    assert len({(row.status_list_id, row.status_index) for row in credentials(engine)}) == 3


def test_when_every_candidate_is_taken_the_list_is_read_whole_for_a_free_bit(engine, handlers, monkeypatch):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    [first] = credentials(engine)
    monkeypatch.setattr(issuing, "random_candidates", lambda length: [first.status_index])
    apply(engine, handlers, enrolment_created("enr-2"), *passes("enr-2"))
    second = next(row for row in credentials(engine) if row.enrolment_id == "enr-2")
    assert (second.status_list_id, second.status_index) != (first.status_list_id, first.status_index)


def test_revocation_sets_the_bit_resigns_the_list_and_announces_it_once(engine, handlers, issuer):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    [row] = credentials(engine)
    before = _status_list(engine, "1")

    outcome = use_cases.revoke_credential(Database(engine), row.id, "issued in error", issuer)
    again = use_cases.revoke_credential(Database(engine), row.id, "another reason", issuer)

    assert outcome.changed and not again.changed
    assert again.credential.revocation_reason == "issued in error"
    after = _status_list(engine, "1")
    assert after["credentialSubject"]["encodedList"] != before["credentialSubject"]["encodedList"]
    result = issuer.verify(row.document, lambda list_id: _status_list(engine, list_id))
    assert result.revoked is True and not result.verified
    [event] = queued_events(engine, "CredentialRevoked")
    assert event.id == use_cases.revoked_event_id("enr-1")
    assert (event.data.credential_id, event.data.reason) == (row.id, "issued in error")
