"""Pure money rules of the billing service: tuition invoices and cancellation reimbursements.

No I/O beyond reading policy files; the service layer maps the wire contract onto these types.
"""

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
)
from billing.domain.policy_loader import load_policy, parse_policy_text
from billing.domain.registry import PolicyRegistry, UnknownPolicyError, builtin_registry, load_builtin_policy
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
    "AcademicYear",
    "CancellationBeforeEnrolmentError",
    "CancellationPolicy",
    "Case",
    "Conditions",
    "Course",
    "EnrolmentSnapshot",
    "Invoice",
    "InvoiceLine",
    "LocalDateSpec",
    "NaiveDatetimeError",
    "PolicyError",
    "PolicyRegistry",
    "PolicyVersion",
    "RefundSpec",
    "Reimbursement",
    "ReimbursementLine",
    "TuitionTerms",
    "UnknownPolicyError",
    "Window",
    "WindowInterval",
    "builtin_registry",
    "calculate_reimbursement",
    "compute_invoice",
    "load_builtin_policy",
    "load_policy",
    "parse_policy_text",
    "round_to_cent",
    "window_for",
    "window_intervals",
]
