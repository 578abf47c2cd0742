"""Loading and registering cancellation-policy files: shipped files load, broken files name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from billing.adapters.policy_files import builtin_registry, load_builtin_policy, load_policy
from billing.domain import (
    Course,
    EnrolmentSnapshot,
    PolicyError,
    PolicyRegistry,
    TuitionTerms,
    UnknownPolicyError,
    calculate_reimbursement,
)

VALID = """\
id: sample
version: 1
institution: Sample University
description: A policy used by the loading tests.
source:
  url: https://example.org/cancellation
timezone: Europe/Brussels
windows:
  - rule: full-refund
    until: {date: "12-01", year: first}
    refund: {semesters: all, fixed_fee: true}
  - rule: second-semester-refund
    until: {date: "03-15", year: second}
    refund: {semesters: [2], fixed_fee: false}
    special_cases:
      - rule: second-semester-only-full-refund
        when: {only_semesters: [2]}
        refund: {semesters: all, fixed_fee: true}
  - rule: no-refund
    refund: {semesters: [], fixed_fee: false}
"""


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_policy_loads_with_its_id_and_version() -> None:
    registry = builtin_registry()
    assert registry.policy_ids() == ("uantwerp-en", "uantwerp-nl", "ugent", "vub")
    for policy_id in registry.policy_ids():
        policy = load_builtin_policy(policy_id)
        assert policy.id == policy_id
        assert policy.version == 1
        assert policy.timezone == "Europe/Brussels"
        assert policy.source_url.startswith("https://")


def test_shipped_uantwerp_en_policy_matches_the_published_cut_offs() -> None:
    policy = load_builtin_policy("uantwerp-en")
    assert [window.rule for window in policy.windows] == ["full-refund", "second-semester-refund", "no-refund"]
    assert [(w.until.month, w.until.day, w.until.year) for w in policy.windows if w.until] == [
        (12, 1, "first"),
        (3, 15, "second"),
    ]
    assert policy.source_text is not None and "after 14 March" in policy.source_text


def test_ugent_states_when_the_academic_year_starts() -> None:
    start = load_builtin_policy("ugent").academic_year_start
    assert start is not None
    assert start.describe() == "the first Monday on or after 22 September of the first calendar year"


def test_a_valid_file_loads_from_a_path(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert (policy.id, policy.version, policy.institution) == ("sample", 1, "Sample University")
    assert policy.windows[1].special_cases[0].when.only_semesters == frozenset({2})


def test_an_unquoted_date_version_is_kept_as_iso_text(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID.replace("version: 1", "version: 2026-09-01")))
    assert policy.version == "2026-09-01"


BROKEN = [
    pytest.param(VALID.replace("id: sample\n", ""), "id", "required field is missing", id="missing-id"),
    pytest.param(VALID.replace("version: 1", "version: 0"), "version", "positive integer", id="version-zero"),
    pytest.param(VALID.replace("version: 1", "version: true"), "version", "boolean", id="version-bool"),
    pytest.param(VALID.replace("version: 1", "version: v1"), "version", "ISO date", id="version-text"),
    pytest.param(VALID.replace("Europe/Brussels", "Europe/Antwerp"), "timezone", "unknown", id="bad-zone"),
    pytest.param(VALID.replace("https://example.org", "example.org"), "source.url", "URL", id="bad-url"),
    pytest.param(
        VALID.replace('"12-01", year: first', '"13-01", year: first'),
        "windows[0].until.date",
        "no such date",
        id="month-13",
    ),
    pytest.param(
        VALID.replace('"12-01", year: first', '"02-29", year: first'),
        "windows[0].until.date",
        "no such date",
        id="leap-day",
    ),
    pytest.param(
        VALID.replace('"12-01", year: first', '"1 Dec", year: first'),
        "windows[0].until.date",
        "MM-DD",
        id="date-format",
    ),
    pytest.param(
        VALID.replace('"12-01", year: first', '"12-01", year: third'),
        "windows[0].until.year",
        "'first'",
        id="year-third",
    ),
    pytest.param(
        VALID.replace('"12-01", year: first', '"12-01", year: first, time: 23:59'),
        "windows[0].until.time",
        "quoted",
        id="unquoted-time",
    ),
    pytest.param(
        VALID.replace('"12-01", year: first', '"12-01", year: first, time: "24:00"'),
        "windows[0].until.time",
        "no such time",
        id="time-24",
    ),
    pytest.param(
        VALID.replace('"12-01", year: first', '"12-01", year: first, weekday: mon'),
        "windows[0].until.weekday",
        "monday",
        id="weekday-abbrev",
    ),
    pytest.param(
        VALID.replace('"03-15", year: second', '"11-15", year: first'),
        "windows[1].until",
        "later than windows[0].until",
        id="windows-out-of-order",
    ),
    pytest.param(
        VALID.replace(
            "    refund: {semesters: [], fixed_fee: false}\n",
            '    until: {date: "06-01", year: second}\n    refund: {semesters: [], fixed_fee: false}\n',
        ),
        "windows[2].until",
        "open-ended",
        id="last-window-bounded",
    ),
    pytest.param(
        VALID.replace('    until: {date: "03-15", year: second}\n', ""),
        "windows[1].until",
        "required on every window but the last",
        id="middle-window-unbounded",
    ),
    pytest.param(
        VALID.replace("semesters: [2], fixed_fee: false", "semesters: [3], fixed_fee: false"),
        "windows[1].refund.semesters",
        "semesters must be among",
        id="semester-3",
    ),
    pytest.param(
        VALID.replace("semesters: [2], fixed_fee: false", "semesters: second, fixed_fee: false"),
        "windows[1].refund.semesters",
        "'all' or a list",
        id="semesters-word",
    ),
    pytest.param(
        VALID.replace("semesters: [2], fixed_fee: false", "semesters: [2], fixed_fee: no-thanks"),
        "windows[1].refund.fixed_fee",
        "true or false",
        id="fixed-fee-text",
    ),
    pytest.param(
        VALID.replace("semesters: [2], fixed_fee: false", "semesters: [2]"),
        "windows[1].refund.fixed_fee",
        "required field is missing",
        id="fixed-fee-missing",
    ),
    pytest.param(
        VALID.replace("when: {only_semesters: [2]}", "when: {only_semester: [2]}"),
        "windows[1].special_cases[0].when.only_semester",
        "unknown field",
        id="typo-in-condition",
    ),
    pytest.param(
        VALID.replace("when: {only_semesters: [2]}", "when: {}"),
        "windows[1].special_cases[0].when",
        "at least one condition",
        id="empty-condition",
    ),
    pytest.param(
        VALID.replace("when: {only_semesters: [2]}", "when: {within_days_of_enrolment: -1}"),
        "windows[1].special_cases[0].when.within_days_of_enrolment",
        "whole number",
        id="negative-days",
    ),
    pytest.param(
        VALID.replace("when: {only_semesters: [2]}", "when: {before_academic_year_start: true}"),
        "windows[1].special_cases[0].when.before_academic_year_start",
        "academic_year_start",
        id="start-not-defined",
    ),
    pytest.param(
        VALID.replace("rule: no-refund", "rule: full-refund"),
        "windows[2].rule",
        "already used at windows[0].rule",
        id="duplicate-rule",
    ),
    pytest.param(
        VALID.replace("rule: no-refund", "rule: No Refund"),
        "windows[2].rule",
        "lower-case",
        id="rule-id-format",
    ),
    pytest.param(VALID + "windows: []\n", "(yaml)", "duplicate key 'windows'", id="duplicate-key"),
    pytest.param(
        VALID.replace("windows:\n", "windows: []\n", 1).split("  - rule")[0],
        "windows",
        "must not be empty",
        id="no-windows",
    ),
    pytest.param(VALID + "grace_days: 3\n", "grace_days", "unknown field", id="unknown-top-level-field"),
    pytest.param("- just\n- a list\n", "(document)", "expected a mapping", id="not-a-mapping"),
    pytest.param("id: [unclosed\n", "(yaml)", "not valid YAML", id="bad-syntax"),
]


@pytest.mark.parametrize(("text", "field", "message"), BROKEN)
def test_a_broken_policy_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    path = write(tmp_path, text, "broken-policy.yaml")
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert raised.value.field == field
    assert message in raised.value.message
    assert raised.value.source == str(path)
    assert str(raised.value).startswith(f"{path}: {field}: ")


def test_a_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read") as raised:
        load_policy(tmp_path / "absent.yaml")
    assert raised.value.source == str(tmp_path / "absent.yaml")


def snapshot() -> EnrolmentSnapshot:
    return EnrolmentSnapshot(
        academic_year="2026-2027",
        courses=(Course(id="A", credits=Decimal("6"), semester=1), Course(id="B", credits=Decimal("4"), semester=2)),
        terms=TuitionTerms(currency="EUR", fixed_fee=Decimal("100.00"), per_credit=Decimal("50.00")),
        enrolled_at=datetime(2026, 6, 1, tzinfo=UTC),
    )


def test_registry_keeps_every_version_so_a_past_reimbursement_can_be_recomputed(tmp_path: Path) -> None:
    version_1 = load_policy(write(tmp_path, VALID, "v1.yaml"))
    # Version 2 moves the first cut-off to 1 November.
    version_2 = load_policy(
        write(tmp_path, VALID.replace("version: 1", "version: 2").replace('"12-01"', '"11-01"'), "v2.yaml")
    )
    registry = PolicyRegistry([version_2, version_1])
    assert registry.versions("sample") == (1, 2)
    assert registry.get("sample") is version_2
    assert registry.get("sample", 1) is version_1

    cancelled = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    latest = calculate_reimbursement(snapshot(), cancelled, registry.get("sample"))
    recomputed = calculate_reimbursement(snapshot(), cancelled, registry.get("sample", 1))
    # v2: 15 Nov is after 1 Nov -> second semester only, 4 x 50.00 = 200.00.
    assert (latest.policy_version, latest.rule_id, latest.total) == (2, "second-semester-refund", Decimal("200.00"))
    # v1: 15 Nov is before 1 Dec -> everything, 300.00 + 200.00 + 100.00 = 600.00.
    assert (recomputed.policy_version, recomputed.rule_id, recomputed.total) == (1, "full-refund", Decimal("600.00"))


def test_registry_refuses_a_version_registered_twice(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    registry = PolicyRegistry([policy])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(policy)


def test_registry_refuses_mixing_integer_and_date_versions_of_one_policy(tmp_path: Path) -> None:
    registry = PolicyRegistry([load_policy(write(tmp_path, VALID))])
    dated = load_policy(write(tmp_path, VALID.replace("version: 1", 'version: "2026-09-01"'), "dated.yaml"))
    with pytest.raises(ValueError, match="all be integers or all be ISO dates"):
        registry.register(dated)


def test_date_versions_are_ordered_by_date(tmp_path: Path) -> None:
    older = load_policy(write(tmp_path, VALID.replace("version: 1", "version: 2025-09-01"), "a.yaml"))
    newer = load_policy(write(tmp_path, VALID.replace("version: 1", "version: 2026-09-01"), "b.yaml"))
    registry = PolicyRegistry([newer, older])
    assert registry.versions("sample") == ("2025-09-01", "2026-09-01")
    assert registry.get("sample") is newer


def test_unknown_policy_or_version_is_reported() -> None:
    with pytest.raises(UnknownPolicyError, match="unknown cancellation policy 'kuleuven'"):
        load_builtin_policy("kuleuven")
    with pytest.raises(UnknownPolicyError, match="has no version 7"):
        load_builtin_policy("uantwerp-en", 7)
