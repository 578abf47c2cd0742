"""What the HTTP API shows: credentials and status lists as signed, the printable certificate, verification,
an enrolment's progress, and the credentials held and assessments rejected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from certification.adapters.issuer import Issuer
from certification.adapters.oid4vci_metadata import offer_qr_payload
from certification.adapters.pdf import render_certificate_pdf
from certification.domain import CompletionStatus, Learner, certificate
from certification.store import (
    CANCELLED,
    AssessmentRow,
    CredentialRow,
    Database,
    EnrolmentRow,
    HeldCredentialRow,
    Store,
)
from certification.usecases.issuing import completion_of

JsonObject = dict[str, Any]
CourseState = Literal["passed", "failed", "missing"]


def credential_document(database: Database, credential_id: str) -> JsonObject | None:
    """The signed credential exactly as issued (a revoked one too: its status list says it is revoked)."""
    with database.reading() as store:
        row = store.credential(credential_id)
        return None if row is None else row.document


def status_list_document(database: Database, list_id: str) -> JsonObject | None:
    """The signed BitstringStatusListCredential, as re-signed at the latest revocation."""
    with database.reading() as store:
        return _status_list_document(store, list_id)


def _status_list_document(store: Store, list_id: str) -> JsonObject | None:
    row = store.status_list(list_id)
    return None if row is None else row.credential


def status_list_token(database: Database, issuer: Issuer, list_id: str) -> str | None:
    """The signed Token Status List of the list's current bits (the Bitstring list's, so one revocation sets both);
    signed once per revision and kept in memory by the issuer."""
    with database.reading() as store:
        row = store.status_list(list_id)
        if row is None:
            return None
        bits, revision = row.bits, row.revision
    return issuer.status_list_token(list_id, bits, revision)


def held_credentials(database: Database, offset: int = 0, limit: int | None = None) -> list[HeldCredentialRow]:
    with database.reading() as store:
        return store.held_credentials(offset, limit)


def rejected_assessments(database: Database, offset: int = 0, limit: int | None = None) -> list[AssessmentRow]:
    with database.reading() as store:
        return store.rejected_assessments(offset, limit)


def certificate_pdf(database: Database, issuer: Issuer, credential_id: str) -> bytes | None:
    """A one-page certificate drawn from the credential as signed (not from today's catalogue), with a QR code
    to its verification page; None when there is no such credential."""
    with database.reading() as store:
        row = store.credential(credential_id)
        enrolment = None if row is None else store.enrolment(row.enrolment_id)
        offer = None if row is None else store.latest_offer(row.id)
    if row is None or enrolment is None:
        return None
    # The wallet offer's QR code while it is neither used nor withdrawn (revocation withdraws it); not its expiry
    # or attempts, which paper outlives anyway: the wallet is then told, and the learner asks for a re-offer.
    usable = offer is not None and offer.redeemed_at is None and offer.withdrawn_at is None
    return render_certificate_pdf(
        learner=Learner(
            id=enrolment.student_id,
            given_name=enrolment.student_given_name,
            family_name=enrolment.student_family_name,
            email=None,  # the certificate never shows it
        ),
        microcredential=certificate.microcredential_of_document(row.document),
        issued_at=certificate.issued_at_of(row.document),
        verification_url=issuer.verification_url(row.url),
        credential_id=row.url,
        wallet_offer=offer_qr_payload(issuer, offer.id) if usable and offer is not None else None,
    )


# --- progress ---


@dataclass(frozen=True)
class CourseProgress:
    course_id: str
    title: str
    state: CourseState
    counting: AssessmentRow | None
    """The stored assessment that counts: the latest by assessed_at."""
    attempts: int


@dataclass(frozen=True)
class Progress:
    enrolment: EnrolmentRow
    status: Literal["active", "cancelled"]
    complete: bool
    courses: list[CourseProgress]
    credential: CredentialRow | None
    held: HeldCredentialRow | None
    rejected: list[AssessmentRow]


def enrolment_progress(database: Database, enrolment_id: str) -> Progress | None:
    """Each course's state with the assessment that counts, the credential, and what is held or rejected."""
    with database.reading() as store:
        enrolment = store.enrolment(enrolment_id)
        if enrolment is None:
            return None
        rows = store.assessments_of(enrolment_id)
        completion = completion_of(store, enrolment)
        return Progress(
            enrolment=enrolment,
            status="cancelled" if enrolment.status == CANCELLED else "active",
            complete=completion.complete,
            courses=_courses(enrolment, [row for row in rows if row.rejected_reason is None], completion),
            credential=store.credential_of_enrolment(enrolment_id),
            held=store.held(enrolment_id),
            rejected=[row for row in rows if row.rejected_reason is not None],
        )


def _courses(
    enrolment: EnrolmentRow, counted: list[AssessmentRow], completion: CompletionStatus
) -> list[CourseProgress]:
    courses = []
    for course in enrolment.courses:
        latest = completion.latest.get(course["id"])
        of_course = [row for row in counted if row.course_id == course["id"]]
        # The stored row behind the counting assessment (same instant and outcome; a fail wins a tie).
        counting = next(
            (
                row
                for row in reversed(of_course)
                if latest is not None and row.assessed_at == latest.assessed_at and row.passed == latest.passed
            ),
            None,
        )
        state: CourseState = "missing" if latest is None else "passed" if latest.passed else "failed"
        courses.append(
            CourseProgress(
                course_id=course["id"], title=course["title"], state=state, counting=counting, attempts=len(of_course)
            )
        )
    return courses
