"""Billing's storage: the only door to SQL and to the kit's database pieces (tables, queries, locks, outbox)."""

from billing.store.tables import (
    REGISTRY,
    TABLES,
    BillingTable,
    CatalogueEntryRow,
    EnrolmentRow,
    InvoiceLineRow,
    InvoiceRow,
    PendingCancellationRow,
    ReimbursementLineRow,
    ReimbursementRow,
    WaitingEnrolmentRow,
    schema_metadata,
)
from billing.store.unit_of_work import Database, Store

__all__ = [
    "REGISTRY",
    "TABLES",
    "BillingTable",
    "CatalogueEntryRow",
    "Database",
    "EnrolmentRow",
    "InvoiceLineRow",
    "InvoiceRow",
    "PendingCancellationRow",
    "ReimbursementLineRow",
    "ReimbursementRow",
    "Store",
    "WaitingEnrolmentRow",
    "schema_metadata",
]
