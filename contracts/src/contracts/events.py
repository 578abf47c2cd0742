"""Payloads (`data`) of every event type in the contract.

Tolerant reader: unknown fields are ignored, never rejected, so producers may add fields without breaking us.
A breaking change gets a new type name with a version suffix (``EnrolmentCreated.v2``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts import limits, topics
from contracts.email import Email
from contracts.text import CountryCode, Identifier, LanguageTag, Name, Paragraph, UriReference
from contracts.types import AcademicYear, Credits, CreditsOrZero, CurrencyCode, EnrolmentId, Instant, Money

Semester = Literal[1, 2]


class ContractModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class EventPayload(ContractModel):
    """Base of every `data` payload; the class knows its CloudEvents `type` and its topic."""

    event_type: ClassVar[str]
    topic: ClassVar[str]

    def subject(self) -> str:
        """The CloudEvents `subject` and Kafka key of this event: the enrolment it is about."""
        return str(getattr(self, "enrolment_id"))  # noqa: B009 - every enrolment event has one


# --- enrolment.events -------------------------------------------------------------------------------------


class Student(ContractModel):
    id: Identifier
    given_name: Name = Field(min_length=1, max_length=200)
    family_name: Name = Field(min_length=1, max_length=200)
    email: Email = Field(max_length=254)


class Course(ContractModel):
    id: Identifier
    title: Name = Field(min_length=1, max_length=200)
    credits: Credits
    semester: Semester


class TuitionTerms(ContractModel):
    currency: CurrencyCode
    fixed_fee: Money
    per_credit: Money


class MicroCredentialSnapshot(ContractModel):
    """The micro-credential as it was in the catalogue when the student enrolled. Course ids are unique."""

    id: Identifier
    title: Name = Field(min_length=1, max_length=300)
    academic_year: AcademicYear
    courses: list[Course] = Field(min_length=1, max_length=limits.MAX_COURSES)

    @field_validator("courses")
    @classmethod
    def _course_ids_unique(cls, courses: list[Course]) -> list[Course]:
        return _unique_course_ids(courses)


def _unique_course_ids(courses: list[Course]) -> list[Course]:
    ids = [course.id for course in courses]
    duplicates = sorted({course_id for course_id in ids if ids.count(course_id) > 1})
    if duplicates:
        raise ValueError(f"course ids must be unique; repeated: {', '.join(duplicates)}")
    return courses


class EnrolmentCreated(EventPayload):
    """A student enrolled in a micro-credential. Subject and Kafka key: `enrolment_id`."""

    event_type: ClassVar[str] = "EnrolmentCreated"
    topic: ClassVar[str] = topics.ENROLMENT_EVENTS

    enrolment_id: EnrolmentId
    student: Student
    microcredential: MicroCredentialSnapshot
    tuition: TuitionTerms
    enrolled_at: Instant


class EnrolmentCancelled(EventPayload):
    """The student cancelled the enrolment. Subject and Kafka key: `enrolment_id`."""

    event_type: ClassVar[str] = "EnrolmentCancelled"
    topic: ClassVar[str] = topics.ENROLMENT_EVENTS

    enrolment_id: EnrolmentId
    cancelled_at: Instant = Field(
        description="When the student cancelled; this, not processing time, decides the refund."
    )
    reason: Paragraph | None = Field(default=None, max_length=1000)


# --- assessment.events ------------------------------------------------------------------------------------


class Grade(ContractModel):
    value: Name = Field(min_length=1, max_length=20, examples=["14"])
    scale: Name = Field(min_length=1, max_length=40, examples=["0-20"])


class CourseCompleted(EventPayload):
    """A course of an enrolment was assessed. Subject and Kafka key: `enrolment_id`."""

    event_type: ClassVar[str] = "CourseCompleted"
    topic: ClassVar[str] = topics.ASSESSMENT_EVENTS

    enrolment_id: EnrolmentId
    course_id: Identifier
    passed: bool
    grade: Grade | None = None
    assessed_at: Instant
    assessment_type: Name | None = Field(default=None, max_length=200, examples=["written exam", "project"])
    supervised: bool | None = None
    identity_verified: bool | None = None


# --- billing.events ---------------------------------------------------------------------------------------


class SemesterAmount(ContractModel):
    semester: Semester
    credits: CreditsOrZero = Field(description="Credits of that semester (0 only where none).")
    amount: Money


class TuitionInvoiced(EventPayload):
    """Tuition of an enrolment was invoiced. `total` = sum of `lines[].amount` + `fixed_fee`."""

    event_type: ClassVar[str] = "TuitionInvoiced"
    topic: ClassVar[str] = topics.BILLING_EVENTS

    enrolment_id: EnrolmentId
    student_id: Identifier
    microcredential_id: Identifier
    academic_year: AcademicYear
    currency: CurrencyCode
    lines: list[SemesterAmount] = Field(min_length=1, max_length=2, description="One line per semester.")
    fixed_fee: Money
    total: Money

    @model_validator(mode="after")
    def _total_adds_up(self) -> TuitionInvoiced:
        _check_total(self.lines, self.fixed_fee, self.total)
        return self


class ReimbursementCalculated(EventPayload):
    """The refund of a cancelled enrolment. `total` = sum of `lines[].amount` + `fixed_fee`."""

    event_type: ClassVar[str] = "ReimbursementCalculated"
    topic: ClassVar[str] = topics.BILLING_EVENTS

    enrolment_id: EnrolmentId
    cancelled_at: Instant
    policy: Identifier = Field(description="Id (and version) of the cancellation policy used.")
    rule: Identifier = Field(examples=["full-refund", "second-semester-refund", "no-refund"])
    currency: CurrencyCode
    lines: list[SemesterAmount] = Field(min_length=1, max_length=2, description="One line per semester.")
    fixed_fee: Money = Field(description="The refunded part of the fixed fee.")
    total: Money

    @model_validator(mode="after")
    def _total_adds_up(self) -> ReimbursementCalculated:
        _check_total(self.lines, self.fixed_fee, self.total)
        return self


def _check_total(lines: list[SemesterAmount], fixed_fee: Any, total: Any) -> None:
    expected = sum((line.amount for line in lines), fixed_fee)
    if expected != total:
        raise ValueError(f"total {total} is not the sum of the lines and the fixed fee ({expected})")


# --- certification.events ---------------------------------------------------------------------------------


class CredentialIssued(EventPayload):
    """A credential was issued for a completed enrolment. Subject and Kafka key: `enrolment_id`."""

    event_type: ClassVar[str] = "CredentialIssued"
    topic: ClassVar[str] = topics.CERTIFICATION_EVENTS

    enrolment_id: EnrolmentId
    credential_id: Identifier
    student_id: Identifier
    microcredential_id: Identifier
    issued_at: Instant
    credential_url: UriReference = Field(min_length=1, max_length=2000)
    credential: dict[str, Any] = Field(
        description="The signed W3C Verifiable Credential / Open Badges 3.0 document. It describes what the "
        "catalogue entry and the enrolment say, within their bounds; the whole event stays under the maximum size."
    )


class CredentialRevoked(EventPayload):
    """An issued credential was revoked. Subject and Kafka key: `enrolment_id`."""

    event_type: ClassVar[str] = "CredentialRevoked"
    topic: ClassVar[str] = topics.CERTIFICATION_EVENTS

    credential_id: Identifier
    enrolment_id: EnrolmentId
    revoked_at: Instant
    reason: Paragraph = Field(min_length=1, max_length=1000)


# --- certification.notifications ---------------------------------------------------------------------------


class CredentialOfferCreated(EventPayload):
    """A credential can be added to a wallet (OpenID4VCI): tell the learner, with the transaction code (PIN) the
    wallet will ask for. The PIN is a secret: only the notification system reads this topic. The event does not
    carry the offer itself (its QR code): the learner finds that on the offer page, behind their own login, so a
    reader of this topic alone holds PINs without their offers. Subject and Kafka key: `enrolment_id`. A re-offer
    publishes a new one; the earlier offer and its PIN stop working."""

    event_type: ClassVar[str] = "CredentialOfferCreated"
    topic: ClassVar[str] = topics.CERTIFICATION_NOTIFICATIONS

    enrolment_id: EnrolmentId
    credential_id: Identifier
    student_id: Identifier
    offer_page_url: UriReference = Field(
        min_length=1, max_length=2000, description="The learner's page with the offer's QR code (needs their login)."
    )
    tx_code: str = Field(pattern=r"^[0-9]{6}$", description="The PIN the wallet asks for; never log it.")
    offered_at: Instant


# --- catalogue.microcredentials (compacted) ---------------------------------------------------------------


LearningOutcome = Annotated[Paragraph, Field(max_length=limits.MAX_LEARNING_OUTCOME_LENGTH)]


class AwardingBody(ContractModel):
    name: Name = Field(min_length=1, max_length=300)
    url: UriReference | None = Field(default=None, max_length=2000)
    country: CountryCode
    region: Name | None = Field(default=None, max_length=200)


class MicroCredentialPublished(EventPayload):
    """A catalogue entry as the enrolment service publishes it; the latest per key is the current one.

    Subject and Kafka key: "<academic_year>/<microcredential_id>" (compacted topic).

    Carries the descriptive elements a credential needs (EU Council Recommendation of 16 June 2022, Annex I),
    so that certification does not depend on the enrolment service's files or database.
    """

    event_type: ClassVar[str] = "MicroCredentialPublished"
    topic: ClassVar[str] = topics.CATALOGUE

    microcredential_id: Identifier
    academic_year: AcademicYear
    title: Name = Field(min_length=1, max_length=300)
    description: Paragraph = Field(default="", max_length=5000)
    language: LanguageTag
    format: Literal["evening", "online", "hybrid", "distance", "on-site"]
    courses: list[Course] = Field(min_length=1, max_length=limits.MAX_COURSES)
    tuition: TuitionTerms
    learning_outcomes: list[LearningOutcome] = Field(default_factory=list, max_length=limits.MAX_LEARNING_OUTCOMES)
    eqf_level: int | None = Field(default=None, ge=1, le=8)
    cycle: Name | None = Field(default=None, max_length=100)
    assessment_type: Paragraph | None = Field(default=None, max_length=500)
    participation_form: Paragraph | None = Field(default=None, max_length=500)
    quality_assurance: Paragraph | None = Field(default=None, max_length=1000)
    awarding_body: AwardingBody | None = None
    prerequisites: Paragraph | None = Field(default=None, max_length=2000)
    stackability: Paragraph | None = Field(default=None, max_length=2000)

    @field_validator("courses")
    @classmethod
    def _course_ids_unique(cls, courses: list[Course]) -> list[Course]:
        return _unique_course_ids(courses)

    def subject(self) -> str:
        return catalogue_key(self.academic_year, self.microcredential_id)


def catalogue_key(academic_year: str, microcredential_id: str) -> str:
    """Kafka key and CloudEvents subject of a catalogue entry; compaction keeps the latest per key."""
    return f"{academic_year}/{microcredential_id}"


EVENT_TYPES: dict[str, type[EventPayload]] = {
    model.event_type: model
    for model in (
        EnrolmentCreated,
        EnrolmentCancelled,
        CourseCompleted,
        TuitionInvoiced,
        ReimbursementCalculated,
        CredentialIssued,
        CredentialRevoked,
        MicroCredentialPublished,
        CredentialOfferCreated,
    )
}
"""Every event type of the contract, by its CloudEvents `type`."""
