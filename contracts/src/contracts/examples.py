"""One example event per type, built from the models: the README and the AsyncAPI document show these.

They tell one story (an enrolment in a two-course micro-credential, invoiced, cancelled, ...), with fixed ids and
times so the generated documents do not change from run to run.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from contracts.envelope import CloudEvent, new_event
from contracts.events import (
    EVENT_TYPES,
    AwardingBody,
    Course,
    CourseCompleted,
    CredentialIssued,
    CredentialOfferCreated,
    CredentialRevoked,
    EnrolmentCancelled,
    EnrolmentCreated,
    EventPayload,
    Grade,
    MicroCredentialPublished,
    MicroCredentialSnapshot,
    ReimbursementCalculated,
    SemesterAmount,
    Student,
    TuitionInvoiced,
    TuitionTerms,
)

# Central European Summer/Winter time: the examples carry real offsets, not only "Z".
_CEST = timezone(timedelta(hours=2))
_CET = timezone(timedelta(hours=1))

ENROLMENT_ID = "ENR-2026-000123"
STUDENT_ID = "S-0042"
MICROCREDENTIAL_ID = "MC-DATA-101"
ACADEMIC_YEAR = "2026-2027"

# The sources the platform accepts for each type (deploy/event-sources.yaml): an example a campus system copies
# must not be dead-lettered as "source not allowed".
_ENROLMENT_SOURCE = "/services/enrolment"
_SOURCES: dict[str, str] = {
    "EnrolmentCreated": _ENROLMENT_SOURCE,
    "EnrolmentCancelled": _ENROLMENT_SOURCE,
    "CourseCompleted": "/campus/exam-administration",
    "TuitionInvoiced": "/services/billing",
    "ReimbursementCalculated": "/services/billing",
    "CredentialIssued": "/services/certification",
    "CredentialRevoked": "/services/certification",
    "MicroCredentialPublished": _ENROLMENT_SOURCE,
    "CredentialOfferCreated": "/services/certification",
}

# When each example was emitted (the envelope `time`): shortly after what it reports.
_EMITTED_AT: dict[str, datetime] = {
    "EnrolmentCreated": datetime(2026, 9, 1, 9, 30, 2, tzinfo=_CEST),
    "EnrolmentCancelled": datetime(2026, 11, 20, 16, 5, 1, tzinfo=_CET),
    "CourseCompleted": datetime(2027, 1, 25, 14, 3, 0, tzinfo=_CET),
    "TuitionInvoiced": datetime(2026, 9, 1, 9, 31, 0, tzinfo=_CEST),
    "ReimbursementCalculated": datetime(2026, 11, 20, 16, 5, 3, tzinfo=_CET),
    "CredentialIssued": datetime(2027, 7, 3, 10, 0, 1, tzinfo=_CEST),
    "CredentialRevoked": datetime(2027, 9, 14, 11, 45, 2, tzinfo=_CEST),
    "MicroCredentialPublished": datetime(2026, 5, 15, 12, 0, 0, tzinfo=_CEST),
    "CredentialOfferCreated": datetime(2027, 7, 3, 10, 0, 1, tzinfo=_CEST),
}

_COURSES = [
    Course(id="DL-1", title="Working with Data", credits=Decimal("3"), semester=1),
    Course(id="DL-2", title="Data Ethics and Law", credits=Decimal("3"), semester=2),
]
_TUITION = TuitionTerms(currency="EUR", fixed_fee=Decimal("100.00"), per_credit=Decimal("40.00"))


def example_payloads() -> list[EventPayload]:
    """One payload per event type."""
    credential_url = f"https://credentials.example.edu/c/{ENROLMENT_ID}"
    return [
        EnrolmentCreated(
            enrolment_id=ENROLMENT_ID,
            student=Student(id=STUDENT_ID, given_name="Ada", family_name="Peeters", email="ada.peeters@example.org"),
            microcredential=MicroCredentialSnapshot(
                id=MICROCREDENTIAL_ID, title="Data Literacy", academic_year=ACADEMIC_YEAR, courses=_COURSES
            ),
            tuition=_TUITION,
            enrolled_at=datetime(2026, 9, 1, 9, 30, tzinfo=_CEST),
        ),
        EnrolmentCancelled(
            enrolment_id=ENROLMENT_ID,
            cancelled_at=datetime(2026, 11, 20, 16, 5, tzinfo=_CET),
            reason="Changed jobs",
        ),
        CourseCompleted(
            enrolment_id=ENROLMENT_ID,
            course_id="DL-1",
            passed=True,
            grade=Grade(value="15", scale="0-20"),
            assessed_at=datetime(2027, 1, 25, 14, 0, tzinfo=_CET),
            assessment_type="written exam",
            supervised=True,
            identity_verified=True,
        ),
        TuitionInvoiced(
            enrolment_id=ENROLMENT_ID,
            student_id=STUDENT_ID,
            microcredential_id=MICROCREDENTIAL_ID,
            academic_year=ACADEMIC_YEAR,
            currency="EUR",
            lines=[
                SemesterAmount(semester=1, credits=Decimal("3"), amount=Decimal("120.00")),
                SemesterAmount(semester=2, credits=Decimal("3"), amount=Decimal("120.00")),
            ],
            fixed_fee=Decimal("100.00"),
            total=Decimal("340.00"),
        ),
        ReimbursementCalculated(
            enrolment_id=ENROLMENT_ID,
            cancelled_at=datetime(2026, 11, 20, 16, 5, tzinfo=_CET),
            policy="cancellation-policy-2026",
            rule="second-semester-refund",
            currency="EUR",
            lines=[SemesterAmount(semester=2, credits=Decimal("3"), amount=Decimal("120.00"))],
            fixed_fee=Decimal("0.00"),
            total=Decimal("120.00"),
        ),
        CredentialIssued(
            enrolment_id=ENROLMENT_ID,
            credential_id="CRED-7f3a9c",
            student_id=STUDENT_ID,
            microcredential_id=MICROCREDENTIAL_ID,
            issued_at=datetime(2027, 7, 3, 10, 0, tzinfo=_CEST),
            credential_url=credential_url,
            credential={
                "@context": [
                    "https://www.w3.org/ns/credentials/v2",
                    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                ],
                "id": credential_url,
                "type": ["VerifiableCredential", "OpenBadgeCredential"],
                "issuer": {
                    "id": "https://credentials.example.edu/issuer",
                    "type": ["Profile"],
                    "name": "Example University",
                },
                "validFrom": "2027-07-03T10:00:00+02:00",
                "credentialSubject": {"type": ["AchievementSubject"], "achievement": {"name": "Data Literacy"}},
                "proof": {
                    "type": "DataIntegrityProof",
                    "cryptosuite": "eddsa-rdfc-2022",
                    "proofValue": "z58DAdFfa9...",
                },
            },
        ),
        CredentialRevoked(
            credential_id="CRED-7f3a9c",
            enrolment_id=ENROLMENT_ID,
            revoked_at=datetime(2027, 9, 14, 11, 45, tzinfo=_CEST),
            reason="Issued in error: course DL-2 grade corrected to a fail",
        ),
        MicroCredentialPublished(
            microcredential_id=MICROCREDENTIAL_ID,
            academic_year=ACADEMIC_YEAR,
            title="Data Literacy",
            description="Read, question and present data at work.",
            language="en",
            format="evening",
            courses=_COURSES,
            tuition=_TUITION,
            learning_outcomes=["Clean and summarise a data set", "Recognise GDPR constraints on data use"],
            eqf_level=6,
            assessment_type="written exam and project",
            participation_form="on-site, evenings",
            awarding_body=AwardingBody(name="Example University", url="https://www.example.edu", country="BE"),
        ),
        CredentialOfferCreated(
            enrolment_id=ENROLMENT_ID,
            credential_id="CRED-7f3a9c",
            student_id=STUDENT_ID,
            offer_page_url="https://credentials.example.edu/credentials/CRED-7f3a9c/offer",
            tx_code="493536",
            offered_at=datetime(2027, 7, 3, 10, 0, tzinfo=_CEST),
        ),
    ]


def example_events() -> dict[str, CloudEvent[EventPayload]]:
    """One enveloped example per event type, by type name, in the order of EVENT_TYPES."""
    events: dict[str, CloudEvent[EventPayload]] = {}
    for index, payload in enumerate(example_payloads(), start=1):
        events[payload.event_type] = new_event(
            payload,
            source=_SOURCES[payload.event_type],
            event_id=f"8d6f0a52-3b1e-4c3a-9f57-{index:012d}",
            time=_EMITTED_AT[payload.event_type],
        )
    missing = set(EVENT_TYPES) - set(events)
    if missing:
        raise ValueError(f"no example for {', '.join(sorted(missing))}")
    return {name: events[name] for name in EVENT_TYPES}
