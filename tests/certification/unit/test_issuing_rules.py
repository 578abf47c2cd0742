"""The rules issue_credential decides with (domain/issuing.py), without a database: what a catalogue entry lacks,
and what the credential of an enrolment describes."""

from __future__ import annotations

from decimal import Decimal

from certification.domain.issuing import described_microcredential, foreign_course_reason, missing_metadata

from contracts import AwardingBody
from tests.certification.certification_support import HERITAGE_TITLE, UANTWERP, ai_published, heritage_published

COURSES = [
    {"id": "2026MCHAR1", "title": "Reading Historic Buildings", "credits": "3"},
    {"id": "2026MCHAR2", "title": "Adaptive Reuse Design Studio", "credits": "3.5"},
]


def test_a_complete_catalogue_entry_lacks_nothing():
    assert missing_metadata(heritage_published().data) == []


def test_an_entry_without_outcomes_and_eqf_level_names_both():
    assert missing_metadata(ai_published().data) == ["learning_outcomes", "eqf_level"]


def test_blank_outcomes_count_as_none_and_a_non_web_url_is_named():
    body = AwardingBody(name="University of Antwerp", url="not a url", country="BE")
    entry = heritage_published(learning_outcomes=["  "], awarding_body=body).data
    assert missing_metadata(entry) == ["learning_outcomes", "awarding_body.url (an absolute http(s) URL)"]


def test_the_credential_describes_what_was_enrolled_in_by_the_catalogue_entry():
    described = described_microcredential(
        microcredential_id="mc-heritage-adaptive-reuse",
        title=HERITAGE_TITLE,
        academic_year="2025-2026",
        courses=COURSES,
        published=heritage_published().data,
        issuer_url="https://credentials.test.example",
    )
    assert described.ects_credits == Decimal("6.5")
    assert [course.id for course in described.courses] == ["2026MCHAR1", "2026MCHAR2"]
    assert described.awarding_body.url == UANTWERP.url
    assert described.eqf_level == 7


def test_an_awarding_body_without_a_web_site_is_represented_by_the_issuer():
    body = AwardingBody(name="University of Antwerp", country="BE")
    described = described_microcredential(
        microcredential_id="mc",
        title="t",
        academic_year="2025-2026",
        courses=COURSES,
        published=heritage_published(awarding_body=body, description="").data,
        issuer_url="https://credentials.test.example",
    )
    assert described.awarding_body.url == "https://credentials.test.example"
    assert described.description == heritage_published().data.title


def test_a_foreign_course_reason_names_the_enrolments_courses():
    reason = foreign_course_reason(
        "X1", enrolment_id="enr-1", microcredential_id="mc", academic_year="2025-2026", course_ids=["A", "B"]
    )
    assert reason == "course 'X1' is not part of enrolment enr-1 (micro-credential mc 2025-2026: courses A, B)"
