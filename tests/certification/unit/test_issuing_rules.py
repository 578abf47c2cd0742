"""The rules issue_credential decides with (domain/issuing.py), without a database: what a catalogue entry lacks,
and what the credential of an enrolment describes."""

from __future__ import annotations

from decimal import Decimal

from certification.domain.issuing import (
    described_microcredential,
    foreign_course_reason,
    missing_metadata,
    snapshot_disagreements,
)

from contracts import AwardingBody, Course
from tests.certification.certification_support import HERITAGE_TITLE, UANTWERP, ai_published, heritage_published

SNAPSHOT = [
    {"id": "2026MCHAR1", "title": "Reading Historic Buildings", "credits": "3", "semester": 1},
    {"id": "2026MCHAR2", "title": "Adaptive Reuse Design Studio", "credits": "3", "semester": 1},
]


def test_a_complete_catalogue_entry_lacks_nothing():
    assert missing_metadata(heritage_published().data) == []


def test_an_entry_without_outcomes_and_eqf_level_names_both():
    assert missing_metadata(ai_published().data) == ["learning_outcomes", "eqf_level"]


def test_blank_outcomes_count_as_none_and_a_non_web_url_is_named():
    body = AwardingBody(name="University of Antwerp", url="www.uantwerpen.be", country="BE")
    entry = heritage_published(learning_outcomes=["  "], awarding_body=body).data
    assert missing_metadata(entry) == ["learning_outcomes", "awarding_body.url (an absolute http(s) URL)"]


def test_the_credential_describes_the_catalogue_entry_whole():
    courses = [Course(id="2026MCHAR1", title="Reading Historic Buildings", credits="3", semester=1)]  # type: ignore[arg-type]
    courses.append(Course(id="2026MCHAR2", title="Adaptive Reuse Design Studio", credits="3.5", semester=2))  # type: ignore[arg-type]
    described = described_microcredential(
        microcredential_id="mc-heritage-adaptive-reuse",
        academic_year="2025-2026",
        published=heritage_published(courses=courses).data,
        issuer_url="https://credentials.test.example",
    )
    assert described.title == "Heritage and Adaptive Reuse"
    assert described.ects_credits == Decimal("6.5")
    assert [(course.id, course.title) for course in described.courses] == [
        ("2026MCHAR1", "Reading Historic Buildings"),
        ("2026MCHAR2", "Adaptive Reuse Design Studio"),
    ]
    assert described.awarding_body.url == UANTWERP.url
    assert described.eqf_level == 7


def test_an_awarding_body_without_a_web_site_is_represented_by_the_issuer():
    body = AwardingBody(name="University of Antwerp", country="BE")
    described = described_microcredential(
        microcredential_id="mc",
        academic_year="2025-2026",
        published=heritage_published(awarding_body=body, description="").data,
        issuer_url="https://credentials.test.example",
    )
    assert described.awarding_body.url == "https://credentials.test.example"
    assert described.description == heritage_published().data.title


def test_a_snapshot_that_matches_the_catalogue_disagrees_in_nothing():
    assert snapshot_disagreements(title=HERITAGE_TITLE, courses=SNAPSHOT, published=heritage_published().data) == []


def test_a_snapshot_recorded_without_semesters_is_checked_on_the_rest():
    courses = [{key: value for key, value in course.items() if key != "semester"} for course in SNAPSHOT]
    assert snapshot_disagreements(title=HERITAGE_TITLE, courses=courses, published=heritage_published().data) == []


def test_a_forged_title_is_named_with_the_catalogues_title_not_the_forgery():
    reasons = snapshot_disagreements(title="Master of Forgery", courses=SNAPSHOT, published=heritage_published().data)
    assert reasons == [
        "snapshot disagrees with the catalogue: title (the catalogue's is 'Heritage and Adaptive Reuse')"
    ]


def test_courses_credits_and_semesters_that_differ_are_each_named():
    forged = [
        {"id": "2026MCHAR1", "title": "Reading Historic Buildings", "credits": "30", "semester": 2},
        {"id": "FORGED-1", "title": "Anything", "credits": "3", "semester": 1},
    ]
    reasons = snapshot_disagreements(title=HERITAGE_TITLE, courses=forged, published=heritage_published().data)
    assert reasons == [
        "snapshot disagrees with the catalogue: course ids (the catalogue's are 2026MCHAR1, 2026MCHAR2; "
        "the snapshot lacks 2026MCHAR2 and adds FORGED-1)",
        "snapshot disagrees with the catalogue: credits of 2026MCHAR1 (the catalogue's: 3)",
        "snapshot disagrees with the catalogue: semester of 2026MCHAR1 (the catalogue's: 1)",
    ]


def test_credits_are_compared_as_numbers():
    courses = [{**course, "credits": "3.00"} for course in SNAPSHOT]
    assert snapshot_disagreements(title=HERITAGE_TITLE, courses=courses, published=heritage_published().data) == []


def test_a_foreign_course_reason_names_the_enrolments_courses():
    reason = foreign_course_reason(
        "X1", enrolment_id="enr-1", microcredential_id="mc", academic_year="2025-2026", course_ids=["A", "B"]
    )
    assert reason == "course 'X1' is not part of enrolment enr-1 (micro-credential mc 2025-2026: courses A, B)"
