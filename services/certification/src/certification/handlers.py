"""Certification's use cases: the consumer handlers, issuing (`try_issue`) and revoking.

Every handler records what its event says and then asks one question, `try_issue(session, enrolment_id)`:
is this enrolment known, active and complete, does its micro-credential have the metadata a credential needs,
and has it no credential yet? Then the credential is built, signed, stored and announced (CredentialIssued in
the outbox) in the handler's transaction. Because the answer depends only on what is stored, never on the
order in which events arrived, duplicates and out-of-order delivery change nothing:

- assessments: the latest per course (by `assessed_at`) counts, so a failed first attempt followed by a passed
  re-sit completes the enrolment, whichever of the two arrives first;
- an assessment for an enrolment not yet known is kept and counted once its EnrolmentCreated arrives; one for a
  course that is not part of a known enrolment is rejected (dead-letter topic); one stored before its enrolment
  arrived that turns out to be for a foreign course is marked rejected and reported (GET /assessments/rejected);
- a cancelled enrolment gets no credential (a cancellation that arrives first is kept until the enrolment does);
- a micro-credential without the Annex I metadata (no catalogue entry yet, or one with gaps) holds the
  credential (GET /credentials/held) until a MicroCredentialPublished with full metadata arrives;
- one credential per enrolment, ever (checked here, and a unique constraint); once issued, later assessments
  and cancellations do not undo it: withdrawing one is an explicit revocation (POST /credentials/{id}/revocation).

Published events have deterministic ids (UUIDv5 of the enrolment id), so a retried transaction or a replay
announces the same event, which consumers drop as a duplicate.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from urllib.parse import urlsplit

from pydantic import ValidationError
from reliability.consumer import Handler, RejectEvent
from reliability.outbox import add_to_outbox
from sqlmodel import Session

from certification import storage
from certification.adapters import StatusList, UndefinedTermError, allocate_index
from certification.adapters.issuer import Issuer
from certification.domain import (
    Assessment,
    AwardingBody,
    CompletionStatus,
    Course,
    CredentialContentError,
    Grade,
    Learner,
    MicroCredential,
    StatusListEntry,
    build_credential,
    evaluate_completion,
)
from contracts import (
    CloudEvent,
    CourseCompleted,
    CredentialIssued,
    CredentialRevoked,
    EnrolmentCancelled,
    EnrolmentCreated,
    MicroCredentialPublished,
    new_event,
)

log = logging.getLogger(__name__)

SOURCE = "/services/certification"
"""CloudEvents `source` of every event this service publishes."""

_EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:microcredentials:services:certification")

MISSING_CATALOGUE_ENTRY = "catalogue entry"


def issued_event_id(enrolment_id: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"credential-issued:{enrolment_id}"))


def revoked_event_id(enrolment_id: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"credential-revoked:{enrolment_id}"))


def handlers_for(issuer: Issuer) -> Mapping[str, Handler]:
    """The kit's handler table for enrolment.events, assessment.events and catalogue.microcredentials."""
    return {
        EnrolmentCreated.event_type: partial(on_enrolment_created, issuer=issuer),
        EnrolmentCancelled.event_type: partial(on_enrolment_cancelled, issuer=issuer),
        CourseCompleted.event_type: partial(on_course_completed, issuer=issuer),
        MicroCredentialPublished.event_type: partial(on_microcredential_published, issuer=issuer),
    }


# --- consumer handlers --------------------------------------------------------------------------------------


def on_enrolment_created(session: Session, event: CloudEvent[EnrolmentCreated], *, issuer: Issuer) -> None:
    """Record the enrolment (with a cancellation that came first), settle outcomes kept for it, try to issue."""
    data = event.data
    student, snapshot = data.student, data.microcredential
    texts = [student.id, student.given_name, student.family_name, student.email, snapshot.title]
    _require_storable(*texts, *(course.title for course in snapshot.courses))
    courses = [{"id": c.id, "title": c.title, "credits": format(c.credits.normalize(), "f")} for c in snapshot.courses]
    storage.lock_enrolment(session, data.enrolment_id)
    existing = storage.get_enrolment(session, data.enrolment_id, for_update=True)
    if existing is not None:
        if _same_enrolment(existing, data, courses):
            log.info("enrolment already recorded", extra={"enrolment_id": data.enrolment_id, "event_id": event.id})
            return
        raise RejectEvent(
            f"enrolment {data.enrolment_id} was already recorded from event {existing.created_event_id} with a "
            "different student, micro-credential or courses; an enrolment's content never changes"
        )
    now = _now()
    row = storage.EnrolmentRow(
        id=data.enrolment_id,
        student_id=student.id,
        student_given_name=student.given_name,
        student_family_name=student.family_name,
        student_email=student.email,
        microcredential_id=snapshot.id,
        microcredential_title=snapshot.title,
        academic_year=snapshot.academic_year,
        courses=courses,
        enrolled_at=data.enrolled_at,
        status=storage.ACTIVE,
        created_event_source=event.source,
        created_event_id=event.id,
        recorded_at=now,
    )
    pending = session.get(storage.PendingCancellationRow, data.enrolment_id)
    if pending is not None:
        row.status, row.cancelled_at = storage.CANCELLED, pending.cancelled_at
        session.delete(pending)
    session.add(row)
    session.flush()
    course_ids = set(row.course_ids)
    for assessment in storage.assessments_of(session, data.enrolment_id):
        if assessment.course_id not in course_ids and assessment.rejected_reason is None:
            # Its message is long committed, so it cannot go to the dead-letter topic any more: it stays here,
            # never counts, and GET /assessments/rejected reports it with the reason the DLQ would have carried.
            assessment.rejected_reason = _foreign_course_reason(assessment.course_id, row)
            session.add(assessment)
            log.warning(
                "kept assessment rejected: course not in the enrolment",
                extra={"enrolment_id": data.enrolment_id, "event_id": assessment.event_id},
            )
    log.info("enrolment recorded", extra={"enrolment_id": data.enrolment_id, "status": row.status})
    try_issue(session, data.enrolment_id, issuer)


def on_enrolment_cancelled(session: Session, event: CloudEvent[EnrolmentCancelled], *, issuer: Issuer) -> None:
    """A cancelled enrolment gets no credential; one already issued stays until someone revokes it."""
    data = event.data
    storage.lock_enrolment(session, data.enrolment_id)
    row = storage.get_enrolment(session, data.enrolment_id, for_update=True)
    if row is None:
        if session.get(storage.PendingCancellationRow, data.enrolment_id) is None:
            session.add(
                storage.PendingCancellationRow(
                    enrolment_id=data.enrolment_id,
                    cancelled_at=data.cancelled_at,
                    event_source=event.source,
                    event_id=event.id,
                    received_at=_now(),
                )
            )
        log.info("cancellation kept until its enrolment arrives", extra={"enrolment_id": data.enrolment_id})
        return
    if row.status == storage.CANCELLED:
        return
    row.status, row.cancelled_at = storage.CANCELLED, data.cancelled_at
    session.add(row)
    storage.release_held(session, data.enrolment_id)
    credential = storage.credential_of_enrolment(session, data.enrolment_id)
    if credential is not None:
        log.warning(
            "enrolment cancelled after its credential was issued; the credential stands until it is revoked",
            extra={"enrolment_id": data.enrolment_id, "credential_id": credential.id},
        )
    else:
        log.info("enrolment cancelled", extra={"enrolment_id": data.enrolment_id})


def on_course_completed(session: Session, event: CloudEvent[CourseCompleted], *, issuer: Issuer) -> None:
    """Store the assessment (every attempt is kept) and try to issue."""
    data = event.data
    _require_storable(data.course_id, *(v for v in (data.assessment_type,) if v is not None))
    if data.grade is not None:
        _require_storable(data.grade.value, data.grade.scale)
    storage.lock_enrolment(session, data.enrolment_id)
    enrolment = storage.get_enrolment(session, data.enrolment_id, for_update=True)
    if enrolment is not None and data.course_id not in enrolment.course_ids:
        raise RejectEvent(_foreign_course_reason(data.course_id, enrolment))
    session.add(
        storage.AssessmentRow(
            enrolment_id=data.enrolment_id,
            course_id=data.course_id,
            passed=data.passed,
            grade_value=None if data.grade is None else data.grade.value,
            grade_scale=None if data.grade is None else data.grade.scale,
            assessed_at=data.assessed_at,
            assessment_type=data.assessment_type,
            supervised=data.supervised,
            identity_verified=data.identity_verified,
            event_source=event.source,
            event_id=event.id,
            received_at=_now(),
        )
    )
    session.flush()
    if enrolment is None:
        log.info("assessment kept until its enrolment arrives", extra={"enrolment_id": data.enrolment_id})
        return
    try_issue(session, data.enrolment_id, issuer)


def on_microcredential_published(
    session: Session, event: CloudEvent[MicroCredentialPublished], *, issuer: Issuer
) -> None:
    """Keep the latest catalogue entry per key; issue the credentials held for want of its metadata."""
    data = event.data
    storage.lock_catalogue_entry(session, data.academic_year, data.microcredential_id, shared=False)
    current = storage.get_catalogue_entry(session, data.academic_year, data.microcredential_id)
    if current is not None and event.time < current.event_time:
        # Compaction keeps the latest record per key, but a replay or a second producer can deliver an older one.
        log.info("older catalogue entry ignored", extra={"key": data.subject(), "event_id": event.id})
        return
    if current is None:
        current = storage.CatalogueEntryRow(
            academic_year=data.academic_year,
            microcredential_id=data.microcredential_id,
            data={},
            event_source=event.source,
            event_id=event.id,
            event_time=event.time,
            received_at=_now(),
        )
    current.data = data.model_dump(mode="json")
    current.event_source, current.event_id, current.event_time = event.source, event.id, event.time
    current.received_at = _now()
    session.add(current)
    session.flush()
    held = storage.held_of_microcredential(session, data.academic_year, data.microcredential_id)
    log.info("catalogue entry recorded", extra={"key": data.subject(), "held": len(held)})
    for enrolment_id in held:
        try_issue(session, enrolment_id, issuer)


# --- issuing ------------------------------------------------------------------------------------------------


class IssueOutcome(enum.Enum):
    ISSUED = "issued"
    ALREADY_ISSUED = "already issued"
    UNKNOWN_ENROLMENT = "unknown enrolment"
    CANCELLED = "cancelled"
    INCOMPLETE = "incomplete"
    HELD = "held"


def try_issue(session: Session, enrolment_id: str, issuer: Issuer) -> IssueOutcome:
    """Issue the enrolment's credential if it is due; otherwise say why not (and hold it if only metadata lacks)."""
    storage.lock_enrolment(session, enrolment_id)
    enrolment = storage.get_enrolment(session, enrolment_id, for_update=True)
    if enrolment is None:
        return IssueOutcome.UNKNOWN_ENROLMENT
    if storage.credential_of_enrolment(session, enrolment_id) is not None:
        return IssueOutcome.ALREADY_ISSUED
    if enrolment.status == storage.CANCELLED:
        storage.release_held(session, enrolment_id)
        return IssueOutcome.CANCELLED
    completion = completion_of(session, enrolment)
    if not completion.complete:
        # A late correction to "failed" can withdraw a completion that was only waiting for metadata.
        storage.release_held(session, enrolment_id)
        return IssueOutcome.INCOMPLETE
    # Lock order is enrolment, then catalogue entry here but the reverse in on_microcredential_published (it
    # issues the held enrolments): PostgreSQL breaks the rare deadlock by aborting one transaction, which the
    # kit retries as a transient error.
    storage.lock_catalogue_entry(session, enrolment.academic_year, enrolment.microcredential_id, shared=True)
    entry = storage.get_catalogue_entry(session, enrolment.academic_year, enrolment.microcredential_id)
    microcredential, missing = microcredential_of(enrolment, entry, issuer)
    if microcredential is None:
        _hold(session, enrolment, missing)
        return IssueOutcome.HELD
    try:
        _issue(session, enrolment, microcredential, completion, issuer)
    except (CredentialContentError, UndefinedTermError) as error:
        # The catalogue's metadata cannot make a credential (e.g. an awarding body URL that is no URL). The
        # assessment that triggered this is fine, so nothing is dead-lettered: the credential waits for a
        # corrected catalogue entry like any other held one.
        _hold(session, enrolment, [f"usable metadata ({error})"])
        return IssueOutcome.HELD
    storage.release_held(session, enrolment_id)
    return IssueOutcome.ISSUED


def completion_of(session: Session, enrolment: storage.EnrolmentRow) -> CompletionStatus:
    assessments = [
        to_assessment(row) for row in storage.assessments_of(session, enrolment.id) if row.rejected_reason is None
    ]
    return evaluate_completion(enrolment.course_ids, assessments)


def to_assessment(row: storage.AssessmentRow) -> Assessment:
    grade = None if row.grade_value is None else Grade(row.grade_value, row.grade_scale)
    return Assessment(
        course_id=row.course_id,
        passed=row.passed,
        assessed_at=row.assessed_at,
        grade=grade,
        supervised=row.supervised,
        identity_verified=row.identity_verified,
    )


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


def microcredential_of(
    enrolment: storage.EnrolmentRow, entry: storage.CatalogueEntryRow | None, issuer: Issuer
) -> tuple[MicroCredential | None, list[str]]:
    """The credential's description: what the student enrolled in (title, courses, credits from the enrolment
    snapshot) described by the latest catalogue entry of that year (the Annex I metadata)."""
    if entry is None:
        return None, [MISSING_CATALOGUE_ENTRY]
    try:
        published = MicroCredentialPublished.model_validate(entry.data)
    except ValidationError as error:  # stored by an older version with other rules; treat as unusable
        return None, [f"valid catalogue entry ({error.error_count()} errors)"]
    missing = missing_metadata(published)
    if missing:
        return None, missing
    body = published.awarding_body
    assert body is not None and published.eqf_level is not None  # missing_metadata checked both
    return (
        MicroCredential(
            id=enrolment.microcredential_id,
            title=enrolment.microcredential_title,
            # The builder needs a description; a catalogue entry without one is described by its title.
            description=published.description or published.title,
            academic_year=enrolment.academic_year,
            ects_credits=sum((Decimal(course["credits"]) for course in enrolment.courses), Decimal(0)),
            courses=tuple(Course(id=course["id"], title=course["title"]) for course in enrolment.courses),
            learning_outcomes=tuple(outcome for outcome in published.learning_outcomes if outcome.strip()),
            eqf_level=published.eqf_level,
            assessment_type=published.assessment_type or "",
            participation_form=published.participation_form or "",
            quality_assurance=published.quality_assurance or "",
            awarding_body=AwardingBody(
                name=body.name,
                # OB's Profile needs a URL; an awarding body without a web site is represented by this service.
                url=body.url or issuer.base_url,
                country_code=body.country,
                region=body.region,
            ),
            cycle=published.cycle,
            prerequisites=published.prerequisites,
            stackability=published.stackability,
        ),
        [],
    )


def _hold(session: Session, enrolment: storage.EnrolmentRow, missing: list[str]) -> None:
    now = _now()
    held = session.get(storage.HeldCredentialRow, enrolment.id)
    if held is None:
        held = storage.HeldCredentialRow(
            enrolment_id=enrolment.id,
            microcredential_id=enrolment.microcredential_id,
            academic_year=enrolment.academic_year,
            missing=missing,
            held_since=now,
            updated_at=now,
        )
        log.warning(
            "credential held: the micro-credential lacks metadata",
            extra={
                "enrolment_id": enrolment.id,
                "microcredential_id": enrolment.microcredential_id,
                "missing": missing,
            },
        )
    elif held.missing != missing:
        held.missing, held.updated_at = missing, now
    session.add(held)


def _issue(
    session: Session,
    enrolment: storage.EnrolmentRow,
    microcredential: MicroCredential,
    completion: CompletionStatus,
    issuer: Issuer,
) -> storage.CredentialRow:
    # Second precision: validFrom and proof.created are XSD dateTimes to the second; the event says the same.
    issued_at = issuer.clock().astimezone(UTC).replace(microsecond=0)
    # Random, not derived from the enrolment id: the credential URL is public (shown on the certificate, open
    # to read), so it must not be guessable from an enrolment number.
    credential_id = str(uuid.uuid4())
    credential_url = issuer.credential_url(credential_id)
    status_list, index = _allocate_status(session, issuer, issued_at)
    unsigned = build_credential(
        learner=Learner(
            id=enrolment.student_id,
            given_name=enrolment.student_given_name,
            family_name=enrolment.student_family_name,
            email=enrolment.student_email,
        ),
        microcredential=microcredential,
        results=completion.course_results(),
        issued_at=issued_at,
        credential_id=credential_url,
        issuer_id=issuer.issuer_id,
        identity_salt=issuer.salt_for(enrolment.id),
        context_base_url=issuer.base_url,
        status=StatusListEntry(issuer.status_list_url(status_list.id), index),
    )
    signed = issuer.sign(unsigned, issued_at)
    event_id = issued_event_id(enrolment.id)
    row = storage.CredentialRow(
        id=credential_id,
        enrolment_id=enrolment.id,
        student_id=enrolment.student_id,
        microcredential_id=enrolment.microcredential_id,
        academic_year=enrolment.academic_year,
        url=credential_url,
        document=signed,
        status_list_id=status_list.id,
        status_index=index,
        issued_at=issued_at,
        issued_event_id=event_id,
    )
    session.add(row)
    # Flush now: the unique constraints (one credential per enrolment, one credential per status bit) refuse a
    # concurrent duplicate here, inside the handler's savepoint, before the event is queued.
    session.flush()
    payload = CredentialIssued(
        enrolment_id=enrolment.id,
        credential_id=credential_id,
        student_id=enrolment.student_id,
        microcredential_id=enrolment.microcredential_id,
        issued_at=issued_at,
        credential_url=credential_url,
        credential=signed,
    )
    add_to_outbox(session, new_event(payload, source=SOURCE, event_id=event_id, time=issued_at))
    log.info("credential issued", extra={"enrolment_id": enrolment.id, "credential_id": credential_id})
    return row


def _allocate_status(session: Session, issuer: Issuer, at: datetime) -> tuple[storage.StatusListRow, int]:
    """A random free bit in the newest status list, starting a new list when it is full."""
    status_list = storage.newest_status_list(session)
    if status_list is None:
        status_list = create_status_list(session, issuer, "1", at)
    bits_in_list = len(status_list.bits) * 8
    taken = storage.allocated_indices(session, status_list.id)
    if len(taken) >= bits_in_list:
        status_list = create_status_list(session, issuer, str(int(status_list.id) + 1), at)
        bits_in_list, taken = len(status_list.bits) * 8, set()
    return status_list, allocate_index(taken, bits_in_list)


def create_status_list(session: Session, issuer: Issuer, list_id: str, at: datetime) -> storage.StatusListRow:
    bits = StatusList()
    row = storage.StatusListRow(
        id=list_id,
        bits=bits.to_bytes(),
        credential=issuer.signed_status_list(list_id, bits, at),
        revision=1,
        updated_at=at,
    )
    session.add(row)
    session.flush()
    log.info("status list created", extra={"status_list": list_id})
    return row


# --- revoking -----------------------------------------------------------------------------------------------


class CredentialNotFound(LookupError):
    def __init__(self, credential_id: str) -> None:
        super().__init__(f"there is no credential {credential_id!r}")


@dataclass(frozen=True)
class RevokeOutcome:
    credential: storage.CredentialRow
    changed: bool
    """False for a repeated revocation: nothing changed, nothing published; the first reason stands."""


def revoke(session: Session, credential_id: str, reason: str, issuer: Issuer) -> RevokeOutcome:
    """Set the credential's revocation bit, re-sign its status list and announce CredentialRevoked."""
    credential = storage.get_credential(session, credential_id, for_update=True)
    if credential is None:
        raise CredentialNotFound(credential_id)
    if credential.revoked_at is not None:
        return RevokeOutcome(credential, changed=False)
    now = issuer.clock().astimezone(UTC).replace(microsecond=0)
    # Locked: two revocations in the same list at once must not both start from the old bits.
    status_list = storage.get_status_list(session, credential.status_list_id, for_update=True)
    if status_list is None:
        raise RuntimeError(f"status list {credential.status_list_id} of credential {credential_id} is missing")
    bits = StatusList(data=status_list.bits)
    bits.set(credential.status_index)
    status_list.bits = bits.to_bytes()
    status_list.credential = issuer.signed_status_list(status_list.id, bits, now)
    status_list.revision += 1
    status_list.updated_at = now
    credential.revoked_at, credential.revocation_reason = now, reason
    session.add_all([status_list, credential])
    payload = CredentialRevoked(
        credential_id=credential.id, enrolment_id=credential.enrolment_id, revoked_at=now, reason=reason
    )
    add_to_outbox(
        session, new_event(payload, source=SOURCE, event_id=revoked_event_id(credential.enrolment_id), time=now)
    )
    log.info("credential revoked", extra={"enrolment_id": credential.enrolment_id, "credential_id": credential.id})
    return RevokeOutcome(credential, changed=True)


# --- helpers ------------------------------------------------------------------------------------------------


def _same_enrolment(row: storage.EnrolmentRow, data: EnrolmentCreated, courses: list[dict[str, str]]) -> bool:
    return (
        row.student_id == data.student.id
        and row.student_given_name == data.student.given_name
        and row.student_family_name == data.student.family_name
        and row.student_email == data.student.email
        and row.microcredential_id == data.microcredential.id
        and row.academic_year == data.microcredential.academic_year
        and row.courses == courses
    )


def _foreign_course_reason(course_id: str, enrolment: storage.EnrolmentRow) -> str:
    return (
        f"course {course_id!r} is not part of enrolment {enrolment.id} (micro-credential "
        f"{enrolment.microcredential_id} {enrolment.academic_year}: courses {', '.join(enrolment.course_ids)})"
    )


def _require_storable(*texts: str) -> None:
    # PostgreSQL text cannot hold NUL; without this check such an event would fail on every retry and only then
    # reach the dead-letter topic, with a database error instead of a reason.
    for value in texts:
        if "\x00" in value:
            raise RejectEvent("a text field contains a NUL character, which cannot be stored")


def _now() -> datetime:
    return datetime.now(UTC)
