"""Pure credential content and completion rules (no I/O)."""

from certification.domain.completion import (
    CompletionStatus,
    evaluate_completion,
    is_complete,
    latest_assessments,
)
from certification.domain.credential import (
    ACHIEVEMENT_TYPE,
    CREDENTIAL_TYPES,
    CredentialContentError,
    build_credential,
    credential_status_entry,
    identity_hash,
    normalise_email,
    xsd_datetime,
)
from certification.domain.model import (
    Assessment,
    AwardingBody,
    Course,
    CourseResult,
    Grade,
    Learner,
    MicroCredential,
    StatusListEntry,
)
from certification.domain.vocabulary import (
    DEFAULT_CONTEXT_BASE_URL,
    OB_V3P0_CONTEXT_URL,
    VC_V2_CONTEXT_URL,
    credential_context,
    microcredential_context_url,
    microcredential_vocab,
)

__all__ = [
    "ACHIEVEMENT_TYPE",
    "CREDENTIAL_TYPES",
    "DEFAULT_CONTEXT_BASE_URL",
    "OB_V3P0_CONTEXT_URL",
    "VC_V2_CONTEXT_URL",
    "Assessment",
    "AwardingBody",
    "CompletionStatus",
    "Course",
    "CourseResult",
    "CredentialContentError",
    "Grade",
    "Learner",
    "MicroCredential",
    "StatusListEntry",
    "build_credential",
    "credential_context",
    "credential_status_entry",
    "evaluate_completion",
    "identity_hash",
    "is_complete",
    "latest_assessments",
    "microcredential_context_url",
    "microcredential_vocab",
    "normalise_email",
    "xsd_datetime",
]
