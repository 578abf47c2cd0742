"""Completion rules: the latest assessment per course counts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from certification.domain import Assessment, Grade, evaluate_completion, is_complete, latest_assessments

COURSES = ["A", "B", "C"]
T0 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def passed(course: str, days: int, grade: str | None = None) -> Assessment:
    return Assessment(course, True, at(days), Grade(grade, "0-20") if grade else None)


def failed(course: str, days: int) -> Assessment:
    return Assessment(course, False, at(days), Grade("7", "0-20"))


def test_complete_when_every_course_passed():
    status = evaluate_completion(COURSES, [passed("A", 1), passed("B", 2), passed("C", 3)])
    assert status.complete
    assert status.passed == ("A", "B", "C")
    assert status.completed_at == at(3)


def test_incomplete_when_a_course_has_no_assessment():
    status = evaluate_completion(COURSES, [passed("A", 1), passed("B", 2)])
    assert not status.complete
    assert status.missing == ("C",)
    assert status.completed_at is None


def test_resit_pass_after_fail_counts():
    assessments = [passed("A", 1), passed("B", 2), failed("C", 3), passed("C", 40, "12")]
    status = evaluate_completion(COURSES, assessments)
    assert status.complete
    assert status.latest["C"].grade == Grade("12", "0-20")


def test_later_fail_withdraws_an_earlier_pass():
    # e.g. a grade correction after an exam board decision
    status = evaluate_completion(COURSES, [passed("A", 1), passed("B", 2), passed("C", 3), failed("B", 9)])
    assert not status.complete
    assert status.failed == ("B",)


def test_order_of_arrival_does_not_matter():
    assessments = [passed("A", 1), failed("B", 2), passed("B", 30), passed("C", 3), failed("C", 1)]
    outcomes = {
        (s.complete, tuple(sorted((c, a.assessed_at, a.passed) for c, a in s.latest.items())))
        for s in (evaluate_completion(COURSES, perm) for perm in itertools.permutations(assessments))
    }
    assert len(outcomes) == 1
    assert next(iter(outcomes))[0] is True


def test_duplicates_are_harmless():
    once = [passed("A", 1), passed("B", 2), failed("C", 3)]
    status = evaluate_completion(COURSES, once + once + once)
    assert status == evaluate_completion(COURSES, once)
    assert status.failed == ("C",)


def test_conflict_at_the_same_instant_resolves_to_fail_in_any_order():
    conflict = [Assessment("A", True, at(5)), Assessment("A", False, at(5))]
    for order in (conflict, conflict[::-1]):
        status = evaluate_completion(["A"], order)
        assert status.failed == ("A",)
        assert not status.complete


def test_assessments_of_other_courses_are_ignored():
    status = evaluate_completion(["A"], [passed("A", 1), failed("Z", 2)])
    assert status.complete
    assert set(status.latest) == {"A"}


def test_no_courses_is_never_complete():
    assert not is_complete([], [passed("A", 1)])


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_assessments(["A"], [Assessment("A", True, datetime(2025, 1, 1))])


def test_time_zones_are_compared_as_instants():
    from datetime import timezone

    brussels = timezone(timedelta(hours=2))
    # 10:00 in Brussels is 08:00 UTC: earlier than the 09:00 UTC fail.
    early_pass = Assessment("A", True, datetime(2025, 6, 1, 10, 0, tzinfo=brussels))
    later_fail = Assessment("A", False, datetime(2025, 6, 1, 9, 0, tzinfo=UTC))
    assert not is_complete(["A"], [early_pass, later_fail])


def test_course_results_for_the_credential():
    assessments = [
        Assessment("A", True, at(1), Grade("14", "0-20"), supervised=True, identity_verified=True),
        failed("B", 2),
        Assessment("B", True, at(20), Grade("11", "0-20"), supervised=False),
    ]
    status = evaluate_completion(["A", "B"], assessments)
    results = status.course_results()
    assert [(r.course_id, r.grade.value if r.grade else None, r.assessed_at) for r in results] == [
        ("A", "14", at(1)),
        ("B", "11", at(20)),
    ]
    assert results[0].supervised is True and results[0].identity_verified is True
    assert results[1].supervised is False and results[1].identity_verified is None


def test_course_results_refused_when_incomplete():
    with pytest.raises(ValueError, match="not complete"):
        evaluate_completion(["A", "B"], [passed("A", 1), failed("B", 2)]).course_results()


def test_duplicate_course_ids_in_enrolment_are_collapsed():
    status = evaluate_completion(["A", "A", "B"], [passed("A", 1), passed("B", 1)])
    assert status.course_ids == ("A", "B")
    assert status.complete
