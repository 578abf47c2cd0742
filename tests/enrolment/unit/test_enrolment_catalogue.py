"""The catalogue loader: the shipped sample loads, and every broken file is refused naming file, entry and field."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from enrolment.adapters.catalogue import CATALOGUE_DIRECTORY, CatalogueError, load_catalogue, load_catalogue_file
from enrolment.domain import AcademicYearNotInCatalogue, Catalogue, UnknownMicroCredential

YEAR = "2026-2027"


def course(course_id: str, credits: Any = 3, semester: Any = 1) -> dict[str, Any]:
    return {"id": course_id, "title": f"Course {course_id}", "credits": credits, "semester": semester}


def entry(mc_id: str = "mc-a", courses: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": mc_id,
        "title": f"Micro-credential {mc_id}",
        "language": "en",
        "format": "online",
        "courses": courses if courses is not None else [course("C1", 3, 1), course("C2", 3, 2)],
        "tuition": {"currency": "EUR", "fixed_fee": "245.00", "per_credit": "11.90"},
        "learning_outcomes": ["Do something measurable."],
        "eqf_level": 7,
        "awarding_body": {"name": "University of Antwerp", "url": "https://www.uantwerpen.be", "country": "BE"},
    }
    data.update(fields)
    return data


def write(directory: Path, entries: list[Any], year: str = YEAR, file_year: str | None = None) -> Path:
    path = directory / f"{file_year or year}.yaml"
    path.write_text(yaml.safe_dump({"academic_year": year, "microcredentials": entries}, sort_keys=False))
    return path


def refused(directory: Path, **kwargs: Any) -> CatalogueError:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(directory, **kwargs)
    return caught.value


def assert_names(error: CatalogueError, file: str, entry: str | None, field: str) -> None:
    message = str(error)
    assert file in message
    if entry is not None:
        assert entry in message
    assert repr(field) in message, message
    assert any(issue.field == field and file in issue.file for issue in error.issues)


# --- the shipped sample ----------------------------------------------------------------------------------------


def test_shipped_catalogue_loads_every_file_and_entry() -> None:
    catalogue = load_catalogue()
    raw_counts = {
        path.stem: len(yaml.safe_load(path.read_text())["microcredentials"])
        for path in CATALOGUE_DIRECTORY.glob("*.yaml")
    }
    assert catalogue.years() == ("2026-2027", "2027-2028")
    assert {year: len(catalogue.entries(year)) for year in catalogue.years()} == raw_counts
    assert len(catalogue.entries("2026-2027")) >= 6
    assert len(catalogue.entries("2027-2028")) >= 2


def test_shipped_sample_covers_the_required_shapes() -> None:
    entries = load_catalogue().entries("2026-2027")
    semesters = {frozenset(course.semester for course in e.courses) for e in entries}
    assert {frozenset({1}), frozenset({2}), frozenset({1, 2})} <= semesters
    assert {e.format for e in entries} == {"evening", "online", "hybrid", "distance", "on-site"}
    assert any(e.tuition.fixed_fee == 0 for e in entries)
    assert any(e.tuition.fixed_fee > 0 for e in entries)
    assert any(course.credits == Decimal("1.5") for e in entries for course in e.courses)
    for e in entries:
        total = sum(course.credits for course in e.courses)
        assert 3 <= total <= 19
        assert e.tuition.currency == "EUR"
        assert Decimal("11.90") <= e.tuition.per_credit <= Decimal("50.00")
        assert Decimal("0") <= e.tuition.fixed_fee <= Decimal("245.00")
        assert e.language == "en"


def test_shipped_sample_has_exactly_one_entry_without_credential_metadata() -> None:
    incomplete = [e for e in load_catalogue() if not e.learning_outcomes or e.eqf_level is None]
    assert [e.id for e in incomplete] == ["mc-ai-public-services"]
    assert incomplete[0].missing_credential_metadata() == ("learning_outcomes", "eqf_level")
    text = (CATALOGUE_DIRECTORY / "2026-2027.yaml").read_text()
    assert "DELIBERATELY INCOMPLETE" in text


def test_complete_sample_entries_carry_uantwerp_metadata() -> None:
    for e in load_catalogue():
        if e.id == "mc-ai-public-services":
            continue
        assert e.eqf_level in (6, 7)
        assert e.learning_outcomes and e.assessment_type and e.participation_form
        assert e.quality_assurance is not None and "NVAO" in e.quality_assurance
        assert e.awarding_body is not None
        assert (e.awarding_body.name, e.awarding_body.url, e.awarding_body.country, e.awarding_body.region) == (
            "University of Antwerp",
            "https://www.uantwerpen.be",
            "BE",
            "Flanders",
        )


def test_half_credit_courses_add_up_exactly() -> None:
    port = load_catalogue().get("2026-2027", "mc-port-logistics")
    assert [course.credits for course in port.courses] == [Decimal("1.5")] * 3
    assert port.total_credits == Decimal("4.5")
    assert port.credits_in_semester(1) == Decimal("3")
    assert port.credits_in_semester(2) == Decimal("1.5")


# --- Catalogue lookups -------------------------------------------------------------------------------------------


def test_get_years_and_entries(tmp_path: Path) -> None:
    write(tmp_path, [entry("mc-a"), entry("mc-b")])
    write(tmp_path, [entry("mc-a")], year="2027-2028")
    catalogue = load_catalogue(tmp_path)
    assert catalogue.years() == ("2026-2027", "2027-2028")
    assert [e.id for e in catalogue.entries(YEAR)] == ["mc-a", "mc-b"]
    found = catalogue.get("2027-2028", "mc-a")
    assert (found.id, found.academic_year) == ("mc-a", "2027-2028")
    with pytest.raises(UnknownMicroCredential, match="mc-b"):
        catalogue.get("2027-2028", "mc-b")
    with pytest.raises(AcademicYearNotInCatalogue, match="2030-2031"):
        catalogue.entries("2030-2031")


def test_empty_catalogue_object_has_no_years() -> None:
    assert Catalogue().years() == ()
    with pytest.raises(AcademicYearNotInCatalogue):
        Catalogue().get(YEAR, "mc-a")


def test_values_are_parsed_exactly(tmp_path: Path) -> None:
    write(tmp_path, [entry(courses=[course("C1", "1.5", 1), course("C2", 1.5, 2), course("C3", 3.0, 2)])])
    e = load_catalogue(tmp_path).get(YEAR, "mc-a")
    assert [c.credits for c in e.courses] == [Decimal("1.5"), Decimal("1.5"), Decimal("3")]
    assert e.tuition.fixed_fee == Decimal("245.00") and e.tuition.per_credit == Decimal("11.90")
    assert e.description == "" and e.cycle is None and e.prerequisites is None


# --- broken catalogues: each names file, entry and field -------------------------------------------------------


@pytest.mark.parametrize(
    ("credits", "expected_problem"),
    [([1, 1], "below the minimum"), ([6, 6, 6, 2], "above the maximum")],
    ids=["total-2", "total-20"],
)
def test_total_credits_outside_default_bounds(tmp_path: Path, credits: list[int], expected_problem: str) -> None:
    courses = [course(f"C{index}", value, 1) for index, value in enumerate(credits)]
    path = write(tmp_path, [entry("mc-ok"), entry("mc-bad", courses=courses)])
    error = refused(tmp_path)
    assert_names(error, path.name, "'mc-bad'", "courses")
    assert "microcredentials[1]" in str(error)
    assert expected_problem in str(error)
    assert f"total credits {sum(credits)}" in str(error)


def test_bounds_are_inclusive_and_configurable(tmp_path: Path) -> None:
    write(
        tmp_path,
        [entry("mc-3", courses=[course("C1", 3)]), entry("mc-19", courses=[course("C1", 10), course("C2", 9)])],
    )
    assert len(load_catalogue(tmp_path)) == 2
    write(tmp_path, [entry("mc-2", courses=[course("C1", 2)])])
    assert [e.id for e in load_catalogue(tmp_path, credit_bounds=(1, 19))] == ["mc-2"]
    error = refused(tmp_path, credit_bounds=(Decimal("2.5"), 30))
    assert "below the minimum of 2.5" in str(error)


def test_invalid_bounds_are_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="credit bounds"):
        load_catalogue(tmp_path, credit_bounds=(19, 3))


def test_semester_3_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, [entry("mc-a", courses=[course("C1", 3, 1), course("C2", 3, 3)])])
    error = refused(tmp_path)
    assert_names(error, path.name, "'mc-a'", "courses[1].semester")
    assert "1 or 2" in str(error)


def test_duplicate_microcredential_ids_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, [entry("mc-a"), entry("mc-b"), entry("mc-a")])
    error = refused(tmp_path)
    assert_names(error, path.name, "microcredentials[2] 'mc-a'", "id")
    assert "first at microcredentials[0]" in str(error)


def test_same_microcredential_id_in_two_years_is_fine(tmp_path: Path) -> None:
    write(tmp_path, [entry("mc-a")])
    write(tmp_path, [entry("mc-a")], year="2027-2028")
    assert [e.academic_year for e in load_catalogue(tmp_path)] == ["2026-2027", "2027-2028"]


def test_duplicate_course_ids_within_a_microcredential_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, [entry("mc-a", courses=[course("C1"), course("C2"), course("C1")])])
    error = refused(tmp_path)
    assert_names(error, path.name, "'mc-a'", "courses[2].id")


def test_same_course_id_in_two_microcredentials_is_fine(tmp_path: Path) -> None:
    write(tmp_path, [entry("mc-a"), entry("mc-b")])  # both use C1 and C2
    assert len(load_catalogue(tmp_path)) == 2


@pytest.mark.parametrize("credits", [-3, 0, "-1.5"])
def test_non_positive_credits_are_refused(tmp_path: Path, credits: Any) -> None:
    path = write(tmp_path, [entry("mc-a", courses=[course("C1", 6), course("C2", credits)])])
    error = refused(tmp_path)
    assert_names(error, path.name, "'mc-a'", "courses[1].credits")
    assert "positive" in str(error)


@pytest.mark.parametrize("credits", [1.25, "1.25", "4.05"])
def test_credits_with_two_decimals_are_refused(tmp_path: Path, credits: Any) -> None:
    path = write(tmp_path, [entry("mc-a", courses=[course("C1", 6), course("C2", credits)])])
    error = refused(tmp_path)
    assert_names(error, path.name, "'mc-a'", "courses[1].credits")
    assert "at most one decimal" in str(error)


@pytest.mark.parametrize("credits", [True, "six", None])
def test_credits_that_are_not_numbers_are_refused(tmp_path: Path, credits: Any) -> None:
    path = write(tmp_path, [entry("mc-a", courses=[course("C1", 6), course("C2", credits)])])
    assert_names(refused(tmp_path), path.name, "'mc-a'", "courses[1].credits")


def test_academic_year_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, [entry()], year="2027-2028", file_year="2026-2027")
    error = refused(tmp_path)
    assert_names(error, "2026-2027.yaml", None, "academic_year")
    assert "2027-2028" in str(error)
    assert error.issues[0].file == str(path)


@pytest.mark.parametrize("name", ["2026-2028.yaml", "catalogue.yaml", "2026_2027.yaml"])
def test_file_name_must_be_an_academic_year(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(yaml.safe_dump({"academic_year": YEAR, "microcredentials": [entry()]}))
    assert_names(refused(tmp_path), name, None, "academic_year")


def test_two_files_for_one_year_are_refused(tmp_path: Path) -> None:
    write(tmp_path, [entry()])
    (tmp_path / "2026-2027.yml").write_text((tmp_path / "2026-2027.yaml").read_text())
    assert_names(refused(tmp_path), "2026-2027.yml", None, "academic_year")


@pytest.mark.parametrize(
    "field", ["id", "title", "language", "format", "courses", "tuition"], ids=lambda field: f"missing-{field}"
)
def test_missing_required_field(tmp_path: Path, field: str) -> None:
    broken = entry("mc-a")
    del broken[field]
    path = write(tmp_path, [entry("mc-ok"), broken])
    error = refused(tmp_path)
    # Without an id, the entry is named by its index alone.
    assert_names(error, path.name, "microcredentials[1]" if field == "id" else "microcredentials[1] 'mc-a'", field)
    assert "is required" in str(error)


@pytest.mark.parametrize(
    ("part", "key"),
    [("tuition", "currency"), ("tuition", "fixed_fee"), ("tuition", "per_credit"), ("awarding_body", "country")],
)
def test_missing_nested_field(tmp_path: Path, part: str, key: str) -> None:
    broken = entry("mc-a")
    del broken[part][key]
    path = write(tmp_path, [broken])
    assert_names(refused(tmp_path), path.name, "'mc-a'", f"{part}.{key}")


def test_missing_course_field(tmp_path: Path) -> None:
    broken_course = course("C2")
    del broken_course["semester"]
    path = write(tmp_path, [entry("mc-a", courses=[course("C1"), broken_course])])
    assert_names(refused(tmp_path), path.name, "'mc-a'", "courses[1].semester")


def test_missing_top_level_fields(tmp_path: Path) -> None:
    (tmp_path / "2026-2027.yaml").write_text("microcredentials: []\n")
    error = refused(tmp_path)
    assert_names(error, "2026-2027.yaml", None, "academic_year")
    assert_names(error, "2026-2027.yaml", None, "microcredentials")


def test_misspelt_optional_field_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    broken = entry("mc-a")
    broken["learning_outcome"] = broken.pop("learning_outcomes")
    path = write(tmp_path, [broken])
    error = refused(tmp_path)
    assert_names(error, path.name, "'mc-a'", "learning_outcome")
    assert "did you mean 'learning_outcomes'" in str(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": "weekend"}, "format"),
        ({"eqf_level": 9}, "eqf_level"),
        ({"eqf_level": "7"}, "eqf_level"),
        ({"language": "English language"}, "language"),
        ({"id": "mc/a"}, "id"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"learning_outcomes": "one string"}, "learning_outcomes"),
        ({"learning_outcomes": ["fine", ""]}, "learning_outcomes[1]"),
        ({"tuition": {"currency": "EURO", "fixed_fee": "0.00", "per_credit": "11.90"}}, "tuition.currency"),
        ({"tuition": {"currency": "EUR", "fixed_fee": 245.0, "per_credit": "11.90"}}, "tuition.fixed_fee"),
        ({"tuition": {"currency": "EUR", "fixed_fee": "0.00", "per_credit": "11.905"}}, "tuition.per_credit"),
        ({"tuition": {"currency": "EUR", "fixed_fee": "-1.00", "per_credit": "11.90"}}, "tuition.fixed_fee"),
        ({"awarding_body": {"name": "UA", "country": "Belgium"}}, "awarding_body.country"),
        ({"awarding_body": {"name": "UA", "country": "BE", "url": "uantwerpen.be"}}, "awarding_body.url"),
        ({"courses": []}, "courses"),
    ],
)
def test_invalid_values_name_their_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = write(tmp_path, [entry("mc-a", **change)])
    # The entry is named by whatever id it has, even an invalid one, so the author can find it.
    assert_names(refused(tmp_path), path.name, repr(change.get("id", "mc-a")), field)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    first = write(tmp_path, [entry("mc-a", courses=[course("C1", 1.25), course("C2", 3, 3)]), entry("mc-a")])
    second = write(tmp_path, [entry("mc-b", format="weekend")], year="2027-2028")
    error = refused(tmp_path)
    located = {(Path(issue.file).name, issue.entry, issue.field) for issue in error.issues}
    assert located == {
        (first.name, "microcredentials[0] 'mc-a'", "courses[0].credits"),
        (first.name, "microcredentials[0] 'mc-a'", "courses[1].semester"),
        (first.name, "microcredentials[1] 'mc-a'", "id"),
        (second.name, "microcredentials[0] 'mc-b'", "format"),
    }
    assert "4 problems" in str(error)


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "2026-2027.yaml").write_text('academic_year: "2026-2027"\nmicrocredentials:\n  - id: [unclosed\n')
    error = refused(tmp_path)
    assert "2026-2027.yaml" in str(error) and "not valid YAML" in str(error) and "line" in str(error)


def test_repeated_yaml_key_is_refused(tmp_path: Path) -> None:
    # PyYAML would silently keep the second title; the catalogue must not.
    text = yaml.safe_dump({"academic_year": YEAR, "microcredentials": [entry("mc-a")]}, sort_keys=False)
    text = text.replace("  title: Micro-credential mc-a\n", "  title: Micro-credential mc-a\n  title: Other\n")
    (tmp_path / "2026-2027.yaml").write_text(text)
    error = refused(tmp_path)
    assert "duplicate key 'title'" in str(error)


def test_yaml_anchors_and_merge_keys_are_allowed(tmp_path: Path) -> None:
    body = {"name": "University of Antwerp", "country": "BE"}
    base = entry("mc-a", awarding_body=body)
    other = copy.deepcopy(base)
    other["id"] = "mc-b"
    text = yaml.safe_dump({"academic_year": YEAR, "microcredentials": [base, other]}, sort_keys=False)
    (tmp_path / "2026-2027.yaml").write_text(text)
    assert len(load_catalogue(tmp_path)) == 2
    merged = (
        'academic_year: "2026-2027"\n'
        "microcredentials:\n"
        "  - &base\n"
        "    id: mc-a\n    title: A\n    language: en\n    format: online\n"
        "    courses: [{id: C1, title: T, credits: 3, semester: 1}]\n"
        '    tuition: {currency: EUR, fixed_fee: "0.00", per_credit: "20.00"}\n'
        "  - <<: *base\n    id: mc-b\n    title: B\n"
    )
    (tmp_path / "2026-2027.yaml").write_text(merged)
    assert [e.title for e in load_catalogue(tmp_path)] == ["A", "B"]


def test_an_empty_or_missing_directory_is_refused(tmp_path: Path) -> None:
    assert "no catalogue file" in str(refused(tmp_path))
    assert "not a directory" in str(refused(tmp_path / "absent"))


def test_load_single_file(tmp_path: Path) -> None:
    path = write(tmp_path, [entry("mc-a"), entry("mc-b")])
    assert [e.id for e in load_catalogue_file(path)] == ["mc-a", "mc-b"]
    bad = write(tmp_path, [entry("mc-a", courses=[course("C1", 2)])], year="2027-2028")
    with pytest.raises(CatalogueError, match=r"2027-2028\.yaml"):
        load_catalogue_file(bad)
