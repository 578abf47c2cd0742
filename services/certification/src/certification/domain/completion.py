"""When is an enrolment complete?

Rule: for each course of the enrolment, only the *latest* assessment (by
``assessed_at``) counts, so a failed first attempt followed by a passed re-sit
counts as passed, and a late correction to "failed" withdraws a pass. The
enrolment is complete when every course's latest assessment is a pass.

Events may arrive duplicated and out of order (Kafka redelivery, backfills), so
the outcome depends only on the set of assessments, never on their order. When
two assessments of a course share the latest timestamp and disagree, the failing
one wins: we would rather delay a credential than issue one on ambiguous data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from certification.domain.model import Assessment, CourseResult


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"assessed_at must be timezone-aware: {moment!r}")


def _sort_key(assessment: Assessment) -> tuple[datetime, bool]:
    # Later wins; at equal times a fail (False) sorts after a pass so it wins.
    return (assessment.assessed_at, not assessment.passed)


def latest_assessments(course_ids: Iterable[str], assessments: Iterable[Assessment]) -> dict[str, Assessment]:
    """The assessment that counts for each course that has at least one.

    Assessments of courses outside ``course_ids`` are ignored: they belong to
    another enrolment or micro-credential.
    """
    wanted = set(course_ids)
    latest: dict[str, Assessment] = {}
    for assessment in assessments:
        _check_aware(assessment.assessed_at)
        if assessment.course_id not in wanted:
            continue
        current = latest.get(assessment.course_id)
        if current is None or _sort_key(assessment) > _sort_key(current):
            latest[assessment.course_id] = assessment
    return latest


@dataclass(frozen=True)
class CompletionStatus:
    course_ids: tuple[str, ...]
    latest: Mapping[str, Assessment] = field(default_factory=dict)

    @property
    def passed(self) -> tuple[str, ...]:
        return tuple(c for c in self.course_ids if c in self.latest and self.latest[c].passed)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(c for c in self.course_ids if c in self.latest and not self.latest[c].passed)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c for c in self.course_ids if c not in self.latest)

    @property
    def complete(self) -> bool:
        # An enrolment without courses has nothing to certify.
        return bool(self.course_ids) and len(self.passed) == len(self.course_ids)

    @property
    def completed_at(self) -> datetime | None:
        """When the last counting pass happened: the natural issuance moment."""
        if not self.complete:
            return None
        return max(self.latest[c].assessed_at for c in self.course_ids)

    def course_results(self) -> tuple[CourseResult, ...]:
        """The per-course results that go into the credential (complete only)."""
        if not self.complete:
            raise ValueError(f"enrolment is not complete: failed={list(self.failed)} missing={list(self.missing)}")
        return tuple(
            CourseResult(
                course_id=c,
                assessed_at=self.latest[c].assessed_at,
                grade=self.latest[c].grade,
                supervised=self.latest[c].supervised,
                identity_verified=self.latest[c].identity_verified,
            )
            for c in self.course_ids
        )


def evaluate_completion(course_ids: Sequence[str], assessments: Iterable[Assessment]) -> CompletionStatus:
    ordered = tuple(dict.fromkeys(course_ids))
    return CompletionStatus(course_ids=ordered, latest=latest_assessments(ordered, assessments))


def is_complete(course_ids: Sequence[str], assessments: Iterable[Assessment]) -> bool:
    return evaluate_completion(course_ids, assessments).complete
