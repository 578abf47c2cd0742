"""Billing's storage: the only door to SQL and to the kit's database pieces (tables, queries, locks, outbox)."""

from billing.store.tables import (
    REGISTRY,
    TABLES,
    BillingTable,
    EnrolmentRow,
    InvoiceLineRow,
    InvoiceRow,
    PendingCancellationRow,
    ReimbursementLineRow,
    ReimbursementRow,
    schema_metadata,
)
from billing.store.unit_of_work import Database, Store

__all__ = [
    "REGISTRY",
    "TABLES",
    "BillingTable",
    "Database",
    "EnrolmentRow",
    "InvoiceLineRow",
    "InvoiceRow",
    "PendingCancellationRow",
    "ReimbursementLineRow",
    "ReimbursementRow",
    "Store",
    "schema_metadata",
]
