"""Plain, immutable inputs for the credential builder and the completion rules.

These are deliberately free of persistence or transport concerns so that the
same values can be built from Kafka events, database rows or test fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Learner:
    id: str
    given_name: str
    family_name: str
    email: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


@dataclass(frozen=True)
class AwardingBody:
    name: str
    url: str
    # ISO 3166-1 alpha-2, e.g. "BE": Annex I asks for the issuer's country.
    country_code: str
    # Free text, e.g. "Flanders": Annex I asks for the region where relevant.
    region: str | None = None


@dataclass(frozen=True)
class Course:
    id: str
    title: str


@dataclass(frozen=True)
class MicroCredential:
    id: str
    title: str
    description: str
    academic_year: str
    ects_credits: Decimal
    courses: tuple[Course, ...]
    learning_outcomes: tuple[str, ...]
    eqf_level: int
    # e.g. "Written exam and project", Annex I "type of assessment".
    assessment_type: str
    # e.g. "online", "hybrid", "evening", "on-site".
    participation_form: str
    # e.g. "Internal QA of the university, accredited by NVAO".
    quality_assurance: str
    awarding_body: AwardingBody
    # QF-EHEA cycle where applicable, e.g. "first cycle".
    cycle: str | None = None
    prerequisites: str | None = None
    stackability: str | None = None


@dataclass(frozen=True)
class Grade:
    value: str
    # e.g. "0-20" (Flemish universities) or "ECTS grading scale A-F".
    scale: str | None = None


@dataclass(frozen=True)
class CourseResult:
    """The result that counts for one course (see :mod:`certification.domain.completion`)."""

    course_id: str
    assessed_at: datetime
    grade: Grade | None = None
    supervised: bool | None = None
    identity_verified: bool | None = None


@dataclass(frozen=True)
class Assessment:
    """One assessment attempt; a course may have several (re-sits, corrections)."""

    course_id: str
    passed: bool
    assessed_at: datetime
    grade: Grade | None = None
    supervised: bool | None = None
    identity_verified: bool | None = None


@dataclass(frozen=True)
class StatusListEntry:
    """Where a credential's revocation bit lives (W3C Bitstring Status List)."""

    status_list_credential: str
    index: int
    purpose: str = "revocation"
