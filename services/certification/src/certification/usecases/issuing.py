"""Issuing: `issue_credential` asks whether an enrolment's credential is due and, if so, issues and announces it.

Is the enrolment known, active and complete, does its micro-credential have the metadata a credential needs,
and has it no credential yet? Then the credential is built, signed, stored and announced (CredentialIssued in
the outbox) in the caller's transaction. The answer depends only on what is stored, never on the order in which
events arrived.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from certification.adapters.canonical import UndefinedTermError
from certification.adapters.issuer import Issuer
from certification.adapters.status_list import StatusList, allocate_index, random_candidates
from certification.domain import (
    Assessment,
    CompletionStatus,
    CredentialContentError,
    Grade,
    Learner,
    MicroCredential,
    StatusListEntry,
    build_credential,
    evaluate_completion,
)
from certification.domain.issuing import (
    MISSING_CATALOGUE_ENTRY,
    IssueOutcome,
    described_microcredential,
    missing_metadata,
    snapshot_disagreements,
)
from certification.store import (
    CANCELLED,
    AssessmentRow,
    CatalogueEntryRow,
    CredentialRow,
    EnrolmentRow,
    HeldCredentialRow,
    StatusListRow,
    Store,
)
from certification.usecases.events import SOURCE, issued_event_id, now
from certification.usecases.offering import create_offer
from contracts import CloudEvent, CredentialIssued, MicroCredentialPublished, new_event

log = logging.getLogger(__name__)


def issue_credential(store: Store, enrolment_id: str, issuer: Issuer) -> IssueOutcome:
    """Issue the enrolment's credential if it is due; otherwise say why not (and hold it if only the catalogue
    entry is in the way: missing, lacking metadata, or disagreeing with the enrolment's snapshot)."""
    store.lock_enrolment(enrolment_id)
    enrolment = store.enrolment(enrolment_id, for_update=True)
    if enrolment is None:
        return IssueOutcome.UNKNOWN_ENROLMENT
    if store.credential_of_enrolment(enrolment_id) is not None:
        return IssueOutcome.ALREADY_ISSUED
    if enrolment.status == CANCELLED:
        store.release_held(enrolment_id)
        return IssueOutcome.CANCELLED
    completion = completion_of(store, enrolment)
    if not completion.complete:
        # A late correction to "failed" can withdraw a completion that was only waiting for metadata.
        store.release_held(enrolment_id)
        return IssueOutcome.INCOMPLETE
    # Lock order is enrolment, then catalogue entry here but the reverse in record_catalogue_entry (it issues
    # the held enrolments): PostgreSQL breaks the rare deadlock by aborting one transaction, which the kit
    # retries as a transient error.
    store.lock_catalogue_entry(enrolment.academic_year, enrolment.microcredential_id, shared=True)
    entry = store.catalogue_entry(enrolment.academic_year, enrolment.microcredential_id)
    microcredential, missing = microcredential_of(enrolment, entry, issuer)
    if microcredential is None:
        _hold(store, enrolment, missing)
        return IssueOutcome.HELD
    try:
        _issue(store, enrolment, microcredential, completion, issuer)
    except (CredentialContentError, UndefinedTermError) as error:
        # The catalogue's metadata cannot make a credential (e.g. an awarding body URL that is no URL). The
        # assessment that triggered this is fine, so nothing is dead-lettered: the credential waits for a
        # corrected catalogue entry like any other held one.
        _hold(store, enrolment, [f"usable metadata ({error})"])
        return IssueOutcome.HELD
    store.release_held(enrolment_id)
    return IssueOutcome.ISSUED


def completion_of(store: Store, enrolment: EnrolmentRow) -> CompletionStatus:
    assessments = [to_assessment(row) for row in store.assessments_of(enrolment.id) if row.rejected_reason is None]
    return evaluate_completion(enrolment.course_ids, assessments)


def to_assessment(row: AssessmentRow) -> Assessment:
    grade = None if row.grade_value is None else Grade(row.grade_value, row.grade_scale)
    return Assessment(
        course_id=row.course_id,
        passed=row.passed,
        assessed_at=row.assessed_at,
        grade=grade,
        supervised=row.supervised,
        identity_verified=row.identity_verified,
    )


def microcredential_of(
    enrolment: EnrolmentRow, entry: CatalogueEntryRow | None, issuer: Issuer
) -> tuple[MicroCredential | None, list[str]]:
    """The credential's description, or why there is none yet: the latest catalogue entry of that year, the
    enrolment service's, describes it whole (title, courses, credits, Annex I metadata); the enrolment snapshot,
    which a campus system wrote, must agree with it and contributes nothing."""
    if entry is None:
        return None, [MISSING_CATALOGUE_ENTRY]
    try:
        published = MicroCredentialPublished.model_validate(entry.data)
    except ValidationError as error:  # stored by an older version with other rules; treat as unusable
        return None, [f"valid catalogue entry ({error.error_count()} errors)"]
    reasons = snapshot_disagreements(
        title=enrolment.microcredential_title, courses=enrolment.courses, published=published
    ) + missing_metadata(published)
    if reasons:
        return None, reasons
    described = described_microcredential(
        microcredential_id=enrolment.microcredential_id,
        academic_year=enrolment.academic_year,
        published=published,
        issuer_url=issuer.base_url,
    )
    return described, []


def _hold(store: Store, enrolment: EnrolmentRow, missing: list[str]) -> None:
    at = now()
    held = store.held(enrolment.id)
    if held is None:
        held = HeldCredentialRow(
            enrolment_id=enrolment.id,
            microcredential_id=enrolment.microcredential_id,
            academic_year=enrolment.academic_year,
            missing=missing,
            held_since=at,
            updated_at=at,
        )
        log.warning(
            "credential held: the catalogue entry lacks metadata or the enrolment snapshot disagrees with it",
            extra={
                "enrolment_id": enrolment.id,
                "microcredential_id": enrolment.microcredential_id,
                "missing": missing,
            },
        )
    elif held.missing != missing:
        held.missing, held.updated_at = missing, at
    store.save(held)


def _issue(
    store: Store,
    enrolment: EnrolmentRow,
    microcredential: MicroCredential,
    completion: CompletionStatus,
    issuer: Issuer,
) -> CredentialRow:
    # Second precision: validFrom and proof.created are XSD dateTimes to the second; the event says the same.
    issued_at = issuer.clock().astimezone(UTC).replace(microsecond=0)
    # Random, not derived from the enrolment id: the credential URL is public (shown on the certificate, open
    # to read), so it must not be guessable from an enrolment number.
    credential_id = str(uuid.uuid4())
    credential_url = issuer.credential_url(credential_id)
    status_list, index = _allocate_status(store, issuer, issued_at)
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
    row = CredentialRow(
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
        issued_event_id=issued_event_id(enrolment.id),
    )
    # Saved (and so checked against the unique constraints) before the event is queued.
    store.save(row)
    store.publish(_issued_event(row, signed))
    create_offer(store, row, issuer)  # for a wallet (OpenID4VCI); its PIN goes to the notification system
    log.info("credential issued", extra={"enrolment_id": enrolment.id, "credential_id": credential_id})
    return row


def _issued_event(row: CredentialRow, signed: dict[str, Any]) -> CloudEvent[CredentialIssued]:
    payload = CredentialIssued(
        enrolment_id=row.enrolment_id,
        credential_id=row.id,
        student_id=row.student_id,
        microcredential_id=row.microcredential_id,
        issued_at=row.issued_at,
        credential_url=row.url,
        credential=signed,
    )
    return new_event(payload, source=SOURCE, event_id=row.issued_event_id, time=row.issued_at)


def _allocate_status(store: Store, issuer: Issuer, at: datetime) -> tuple[StatusListRow, int]:
    """A random free bit in the newest status list, starting a new list when it is full.

    Random candidates are checked in one query; only a list so full that none of them is free is read whole.
    Reading every allocated index for each credential cost more with every credential the list held (up to
    131 072 rows per credential)."""
    status_list = store.newest_status_list()
    if status_list is None:
        status_list = create_status_list(store, issuer, "1", at)
    bits_in_list = len(status_list.bits) * 8
    candidates = random_candidates(bits_in_list)
    taken = store.allocated_among(status_list.id, candidates)
    free = [index for index in candidates if index not in taken]
    if free:
        return status_list, free[0]
    taken = store.allocated_indices(status_list.id)
    if len(taken) >= bits_in_list:
        status_list = create_status_list(store, issuer, str(int(status_list.id) + 1), at)
        bits_in_list, taken = len(status_list.bits) * 8, set()
    return status_list, allocate_index(taken, bits_in_list)


def create_status_list(store: Store, issuer: Issuer, list_id: str, at: datetime) -> StatusListRow:
    bits = StatusList()
    row = StatusListRow(
        id=list_id,
        bits=bits.to_bytes(),
        credential=issuer.signed_status_list(list_id, bits, at),
        revision=1,
        updated_at=at,
    )
    store.save(row)
    log.info("status list created", extra={"status_list": list_id})
    return row
