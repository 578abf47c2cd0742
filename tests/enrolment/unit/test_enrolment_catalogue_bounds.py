"""The catalogue loader refuses what the contract's MicroCredentialPublished would refuse, so publishing an entry
it loaded can never fail: list sizes, text lengths, characters, and ASCII-only values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contracts.limits import MAX_COURSES, MAX_LEARNING_OUTCOME_LENGTH, MAX_LEARNING_OUTCOMES
from enrolment.adapters.catalogue import CATALOGUE_DIRECTORY, load_catalogue
from enrolment.adapters.catalogue.values import academic_year_problem
from enrolment.domain.wire import to_microcredential_published

from contracts import MicroCredentialPublished
from tests.enrolment.unit.test_enrolment_catalogue import assert_names, course, entry, refused, write


def test_the_shipped_catalogue_still_loads_and_every_entry_meets_the_contract() -> None:
    catalogue = load_catalogue(CATALOGUE_DIRECTORY)
    for year in catalogue.years():
        for item in catalogue.entries(year):
            published = to_microcredential_published(item)
            assert MicroCredentialPublished.model_validate(published.model_dump()) == published


def test_the_most_courses_and_outcomes_the_contract_allows_load(tmp_path: Path) -> None:
    courses = [course(f"C{index}", credits="0.4") for index in range(MAX_COURSES)]
    outcomes = ["é" * MAX_LEARNING_OUTCOME_LENGTH] * MAX_LEARNING_OUTCOMES
    write(tmp_path, [entry(courses=courses, learning_outcomes=outcomes)])
    loaded = load_catalogue(tmp_path).get("2026-2027", "mc-a")
    assert len(loaded.courses) == MAX_COURSES
    assert to_microcredential_published(loaded).courses[-1].id == f"C{MAX_COURSES - 1}"


TOO_MUCH: list[tuple[dict[str, Any], str]] = [
    ({"courses": [course(f"C{index}", credits="0.4") for index in range(MAX_COURSES + 1)]}, "courses"),
    ({"learning_outcomes": ["Do X."] * (MAX_LEARNING_OUTCOMES + 1)}, "learning_outcomes"),
    ({"learning_outcomes": ["é" * (MAX_LEARNING_OUTCOME_LENGTH + 1)]}, "learning_outcomes[0]"),
    ({"courses": [{**course("C1"), "title": "T" * 201}, course("C2", 3, 2)]}, "courses[0].title"),
    ({"id": "m" * 65}, "id"),
    ({"id": "mc-a\n"}, "id"),
    ({"courses": [course("C1\n"), course("C2", 3, 2)]}, "courses[0].id"),
    ({"title": "Data \u202eLiteracy"}, "title"),
    ({"title": "Data\tLiteracy"}, "title"),
    ({"description": "Hidden \u2066text\u2069"}, "description"),
    ({"description": "bell\x07"}, "description"),
    ({"learning_outcomes": ["C1\x85control"]}, "learning_outcomes[0]"),
    ({"tuition": {"currency": "EUR", "fixed_fee": "٢٤٥.٠٠", "per_credit": "11.90"}}, "tuition.fixed_fee"),
    ({"awarding_body": {"name": "U", "url": "https://université.example", "country": "BE"}}, "awarding_body.url"),
    ({"awarding_body": {"name": "U\u202d", "country": "BE"}}, "awarding_body.name"),
]


@pytest.mark.parametrize(("change", "field"), TOO_MUCH, ids=[field for _, field in TOO_MUCH])
def test_what_the_contract_refuses_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    write(tmp_path, [entry(**change)])
    # An entry whose own id is refused is named by its position instead.
    assert_names(refused(tmp_path), "2026-2027.yaml", None if field == "id" else "mc-a", field)


@pytest.mark.parametrize("year", ["٢٠٢٦-٢٠٢٧", "２０２６-２０２７", "2026-2027\n"], ids=ascii)
def test_an_academic_year_in_other_digits_or_with_a_newline_is_refused(year: str) -> None:
    assert academic_year_problem(year) is not None
    assert academic_year_problem("2026-2027") is None


def test_multi_line_descriptions_and_names_in_every_script_still_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        [
            entry(
                title="Ἀρχαία ἱστορία — 古代史",
                description="Line one.\nLine two.",
                awarding_body={"name": "Université d'Anvers", "country": "BE"},
            )
        ],
    )
    assert load_catalogue(tmp_path).get("2026-2027", "mc-a").title == "Ἀρχαία ἱστορία — 古代史"
