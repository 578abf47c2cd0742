"""Certification's use cases, one function each: load through the store, decide with the domain, write through it.

Every consumed event is recorded (`recording`) and then one question is asked, `issue_credential(store,
enrolment_id, issuer)`: is this enrolment known, active and complete, does its micro-credential have the metadata
a credential needs, and has it no credential yet? Then the credential is built, signed, stored and announced
(CredentialIssued in the outbox) in the event's transaction. Because the answer depends only on what is stored,
never on the order in which events arrived, duplicates and out-of-order delivery change nothing:

- assessments: the latest per course (by `assessed_at`) counts, so a failed first attempt followed by a passed
  re-sit completes the enrolment, whichever of the two arrives first;
- an assessment for an enrolment not yet known is kept and counted once its EnrolmentCreated arrives; one for a
  course that is not part of a known enrolment is rejected (dead-letter topic); one stored before its enrolment
  arrived that turns out to be for a foreign course is marked rejected and reported (GET /assessments/rejected);
- a cancelled enrolment gets no credential (a cancellation that arrives first is kept until the enrolment does);
- a micro-credential without the Annex I metadata (no catalogue entry yet, or one with gaps) holds the
  credential (GET /credentials/held) until a MicroCredentialPublished with full metadata arrives;
- one credential per enrolment, ever (checked here, and a unique constraint); once issued, later assessments
  and cancellations do not undo it: withdrawing one is an explicit revocation (`revoke_credential`).

Published events have deterministic ids (`events`), so a retried transaction or a replay announces the same
event, which consumers drop as a duplicate. Use cases called from Kafka take the Store of the kit's transaction;
those called from HTTP take the Database and open their own unit of work.
"""

from certification.domain.issuing import IssueOutcome
from certification.usecases.events import SOURCE, issued_event_id, revoked_event_id
from certification.usecases.issuing import issue_credential
from certification.usecases.reading import (
    CourseProgress,
    Progress,
    certificate_pdf,
    credential_document,
    enrolment_progress,
    held_credentials,
    rejected_assessments,
    status_list_document,
    status_list_token,
)
from certification.usecases.recording import (
    record_cancellation,
    record_catalogue_entry,
    record_enrolment,
    record_outcome,
)
from certification.usecases.revoking import CredentialNotFound, RevokeOutcome, revoke_credential
from certification.usecases.verifying import verify, verify_sd_jwt

__all__ = [
    "SOURCE",
    "CourseProgress",
    "CredentialNotFound",
    "IssueOutcome",
    "Progress",
    "RevokeOutcome",
    "certificate_pdf",
    "credential_document",
    "enrolment_progress",
    "held_credentials",
    "issue_credential",
    "issued_event_id",
    "record_cancellation",
    "record_catalogue_entry",
    "record_enrolment",
    "record_outcome",
    "rejected_assessments",
    "revoke_credential",
    "revoked_event_id",
    "status_list_document",
    "status_list_token",
    "verify",
    "verify_sd_jwt",
]
