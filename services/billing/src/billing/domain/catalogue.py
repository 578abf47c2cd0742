"""The catalogue's word on tuition: what an enrolment snapshot must agree with before billing invoices it.

Any system allowed to write enrolment.events (the enrolment service, student administration) can put any
amounts in an EnrolmentCreated, and its CloudEvents `source` proves nothing about who wrote it. The catalogue
the enrolment service publishes (catalogue.microcredentials) is the one statement of what a micro-credential
costs. So every EnrolmentCreated is treated alike: its tuition terms and courses (ids, credits, semesters) must
be those of the current catalogue entry of its academic year and micro-credential, and an enrolment that agrees
is priced from the entry's values. Titles are not compared: they do not change what anybody pays.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.domain.tuition import Course, EnrolmentSnapshot, TuitionTerms


@dataclass(frozen=True)
class CatalogueEntry:
    """The current catalogue entry of one micro-credential in one academic year, as far as billing needs it."""

    academic_year: str
    microcredential_id: str
    courses: tuple[Course, ...]
    terms: TuitionTerms

    @property
    def key(self) -> str:
        return f"{self.academic_year}/{self.microcredential_id}"


def disagreements(snapshot: EnrolmentSnapshot, entry: CatalogueEntry) -> list[str]:
    """What the enrolment's snapshot says differently from the catalogue entry, in words; empty if they agree.

    Amounts compare as numbers (50 and 50.00 agree), currencies and course ids exactly. The words name only
    fields, course ids and amounts: they end up in a dead-letter reason, which carries no personal data.
    """
    found = [
        f"{name} {claimed} (catalogue: {catalogue})"
        for name, claimed, catalogue in (
            ("currency", snapshot.terms.currency, entry.terms.currency),
            ("fixed_fee", snapshot.terms.fixed_fee, entry.terms.fixed_fee),
            ("per_credit", snapshot.terms.per_credit, entry.terms.per_credit),
        )
        if claimed != catalogue
    ]
    listed = {course.id: course for course in entry.courses}
    claimed_ids = {course.id for course in snapshot.courses}
    for course in snapshot.courses:
        known = listed.get(course.id)
        if known is None:
            found.append(f"course {course.id} is not in the catalogue entry")
            continue
        if course.credits != known.credits:
            found.append(f"course {course.id} credits {_plain(course)} (catalogue: {_plain(known)})")
        if course.semester != known.semester:
            found.append(f"course {course.id} semester {course.semester} (catalogue: {known.semester})")
    found.extend(
        f"course {course.id} of the catalogue entry is missing"
        for course in entry.courses
        if course.id not in claimed_ids
    )
    return found


def priced_from_catalogue(snapshot: EnrolmentSnapshot, entry: CatalogueEntry) -> EnrolmentSnapshot:
    """The snapshot billing invoices: the catalogue's terms and courses, in the order the enrolment lists them.

    Only for a snapshot without `disagreements`; the enrolment contributes its academic year (the entry's too)
    and `enrolled_at`, which decides the refund window.
    """
    if disagreements(snapshot, entry):
        raise ValueError(f"the enrolment disagrees with catalogue entry {entry.key}")
    listed = {course.id: course for course in entry.courses}
    return EnrolmentSnapshot(
        academic_year=entry.academic_year,
        courses=tuple(listed[course.id] for course in snapshot.courses),
        terms=entry.terms,
        enrolled_at=snapshot.enrolled_at,
    )


def _plain(course: Course) -> str:
    return format(course.credits.normalize(), "f")
