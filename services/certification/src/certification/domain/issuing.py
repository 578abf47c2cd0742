"""When a credential can be issued, and what it describes: the rules `issue_credential` decides with.

A credential describes what the student enrolled in (title, courses, credits from the enrolment snapshot) by the
latest catalogue entry of that year (the Annex I metadata). Without every element a credential cannot do without,
it is held until a catalogue entry supplies them.
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


def _is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def described_microcredential(
    *,
    microcredential_id: str,
    title: str,
    academic_year: str,
    courses: Sequence[Mapping[str, str]],
    published: MicroCredentialPublished,
    issuer_url: str,
) -> MicroCredential:
    """The enrolment's micro-credential (`courses`: [{id, title, credits}]) described by a catalogue entry with
    nothing `missing_metadata` would name; an awarding body without a web site is represented by `issuer_url`."""
    body = published.awarding_body
    if body is None or published.eqf_level is None:
        raise ValueError("the catalogue entry lacks metadata; ask missing_metadata first")
    return MicroCredential(
        id=microcredential_id,
        title=title,
        # The builder needs a description; a catalogue entry without one is described by its title.
        description=published.description or published.title,
        academic_year=academic_year,
        ects_credits=sum((Decimal(course["credits"]) for course in courses), Decimal(0)),
        courses=tuple(Course(id=course["id"], title=course["title"]) for course in courses),
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
