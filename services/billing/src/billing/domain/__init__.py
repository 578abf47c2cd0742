"""Pure money rules of the billing service: tuition invoices and cancellation reimbursements.

No I/O of any kind: policy files are read by billing.adapters.policy_files, and the use cases map the wire
contract onto these types.
"""

from billing.domain.catalogue import CatalogueEntry, disagreements, priced_from_catalogue
from billing.domain.money import round_to_cent
from billing.domain.policy import (
    CancellationPolicy,
    Case,
    Conditions,
    LocalDateSpec,
    PolicyError,
    PolicyVersion,
    RefundSpec,
    Window,
    parse_policy_reference,
    policy_reference,
)
from billing.domain.records import (
    ALREADY_INVOICED,
    INVOICED,
    REJECTED,
    SETTLED,
    SUPERSEDED,
    WAITING,
    BilledEnrolment,
    Outcome,
    WaitingCancellation,
    WaitingEnrolment,
)
from billing.domain.registry import PolicyRegistry, UnknownPolicyError
from billing.domain.reimbursement import (
    CancellationBeforeEnrolmentError,
    Reimbursement,
    ReimbursementLine,
    WindowInterval,
    calculate_reimbursement,
    window_for,
    window_intervals,
)
from billing.domain.tuition import (
    AcademicYear,
    Course,
    EnrolmentSnapshot,
    Invoice,
    InvoiceLine,
    NaiveDatetimeError,
    TuitionTerms,
    compute_invoice,
)

__all__ = [
    "ALREADY_INVOICED",
    "INVOICED",
    "REJECTED",
    "SETTLED",
    "SUPERSEDED",
    "WAITING",
    "AcademicYear",
    "BilledEnrolment",
    "CancellationBeforeEnrolmentError",
    "CancellationPolicy",
    "Case",
    "CatalogueEntry",
    "Conditions",
    "Course",
    "EnrolmentSnapshot",
    "Invoice",
    "InvoiceLine",
    "LocalDateSpec",
    "NaiveDatetimeError",
    "Outcome",
    "PolicyError",
    "PolicyRegistry",
    "PolicyVersion",
    "RefundSpec",
    "Reimbursement",
    "ReimbursementLine",
    "TuitionTerms",
    "UnknownPolicyError",
    "WaitingCancellation",
    "WaitingEnrolment",
    "Window",
    "WindowInterval",
    "calculate_reimbursement",
    "compute_invoice",
    "disagreements",
    "parse_policy_reference",
    "policy_reference",
    "priced_from_catalogue",
    "round_to_cent",
    "window_for",
    "window_intervals",
]
