"""When a credential can be issued, and what it describes: the rules `issue_credential` decides with.

A credential describes its micro-credential only as the enrolment service published it in the catalogue (title,
courses, credits, semesters and the Annex I metadata of the latest entry of that year), never as an enrolment
event's snapshot tells it: a campus system, or whoever forged its events, cannot write the achievement. A snapshot
that disagrees with the catalogue entry, or an entry without every element a credential cannot do without, holds
the credential until a catalogue entry settles it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from urllib.parse import urlsplit

from certification.domain.model import AwardingBody, Course, MicroCredential
from contracts import MicroCredentialPublished

MISSING_CATALOGUE_ENTRY = "catalogue entry"


class IssueOutcome(enum.Enum):
    ISSUED = "issued"
    ALREADY_ISSUED = "already issued"
    UNKNOWN_ENROLMENT = "unknown enrolment"
    CANCELLED = "cancelled"
    INCOMPLETE = "incomplete"
    HELD = "held"


def missing_metadata(entry: MicroCredentialPublished) -> list[str]:
    """The Annex I elements a credential cannot do without that the catalogue entry leaves empty."""
    missing = [] if any(outcome.strip() for outcome in entry.learning_outcomes) else ["learning_outcomes"]
    for name in ("eqf_level", "assessment_type", "participation_form", "quality_assurance", "awarding_body"):
        value = getattr(entry, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(name)
    body = entry.awarding_body
    if body is not None and body.url is not None and not _is_web_url(body.url):
        # The contract takes any text; a credential would sign it as the issuer's web site.
        missing.append("awarding_body.url (an absolute http(s) URL)")
    return missing


def snapshot_disagreements(
    *, title: str, courses: Sequence[Mapping[str, object]], published: MicroCredentialPublished
) -> list[str]:
    """What an enrolment's snapshot (`courses`: [{id, credits, semester?}]) says differently from the catalogue
    entry. Names the catalogue's values, never the snapshot's free text (an attacker chooses that)."""
    prefix = "snapshot disagrees with the catalogue:"
    disagreements = [] if title == published.title else [f"{prefix} title (the catalogue's is {published.title!r})"]
    catalogue = {course.id: course for course in published.courses}
    enrolled = {str(course["id"]): course for course in courses}
    if set(enrolled) != set(catalogue):
        disagreements.append(
            f"{prefix} course ids (the catalogue's are {', '.join(catalogue)}; the snapshot lacks "
            f"{_ids(set(catalogue) - set(enrolled))} and adds {_ids(set(enrolled) - set(catalogue))})"
        )
    for course_id in (course_id for course_id in catalogue if course_id in enrolled):
        ours, theirs = catalogue[course_id], enrolled[course_id]
        if Decimal(str(theirs["credits"])) != ours.credits:
            disagreements.append(f"{prefix} credits of {course_id} (the catalogue's: {_number(ours.credits)})")
        # Enrolments recorded before the semester was kept have none: nothing to disagree with.
        if theirs.get("semester") is not None and theirs["semester"] != ours.semester:
            disagreements.append(f"{prefix} semester of {course_id} (the catalogue's: {ours.semester})")
    return disagreements


def _ids(ids: set[str]) -> str:
    return ", ".join(sorted(ids)) or "none"


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def described_microcredential(
    *, microcredential_id: str, academic_year: str, published: MicroCredentialPublished, issuer_url: str
) -> MicroCredential:
    """The micro-credential as its catalogue entry describes it (title, courses, credits: the catalogue's, never an
    enrolment snapshot's), for an entry with nothing `missing_metadata` would name; an awarding body without a web
    site is represented by `issuer_url`."""
    body = published.awarding_body
    if body is None or published.eqf_level is None:
        raise ValueError("the catalogue entry lacks metadata; ask missing_metadata first")
    return MicroCredential(
        id=microcredential_id,
        title=published.title,
        # The builder needs a description; a catalogue entry without one is described by its title.
        description=published.description or published.title,
        academic_year=academic_year,
        ects_credits=sum((course.credits for course in published.courses), Decimal(0)),
        courses=tuple(Course(id=course.id, title=course.title) for course in published.courses),
        learning_outcomes=tuple(outcome for outcome in published.learning_outcomes if outcome.strip()),
        eqf_level=published.eqf_level,
        assessment_type=published.assessment_type or "",
        participation_form=published.participation_form or "",
        quality_assurance=published.quality_assurance or "",
        awarding_body=AwardingBody(
            name=body.name,
            # OB's Profile needs a URL; an awarding body without a web site is represented by this service.
            url=body.url or issuer_url,
            country_code=body.country,
            region=body.region,
        ),
        cycle=published.cycle,
        prerequisites=published.prerequisites,
        stackability=published.stackability,
    )


def foreign_course_reason(
    course_id: str, *, enrolment_id: str, microcredential_id: str, academic_year: str, course_ids: Sequence[str]
) -> str:
    """Why an assessment of a course outside the enrolment never counts (the dead-letter reason)."""
    return (
        f"course {course_id!r} is not part of enrolment {enrolment_id} (micro-credential "
        f"{microcredential_id} {academic_year}: courses {', '.join(course_ids)})"
    )
