"""Billing's unit of work: what a use case reads, locks and writes, and the outbox rows of what it announces.

The Kafka path is set-oriented. A Store takes a whole batch's locks in one statement and reads what the batch needs
in three queries: catalogue entries, enrolments with their reimbursements, waiting cancellations
(`load_catalogue_and_enrolments`), the use cases then decide event by event against that state in memory, and
`save` writes every table's new rows and the outbox's (on PostgreSQL in one statement), in the session (one
transaction) the kit gives. Rows are plain dicts from reading to writing, in SQLAlchemy Core: a handler that went
through the ORM per event spent about 95 % of billing's time in the unit of work (docs/benchmark.md). A
cancellation later in a batch finds an enrolment created earlier in it exactly as it would find a stored one, and
nothing touches the database between that read and `save`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from reliability.bulk_insert import insert_together
from reliability.database import lock_in_order_until_commit
from reliability.outbox import OUTBOX, outbox_row
from reliability.store import ServiceDatabase, UnitOfWorkStore
from sqlalchemy import Table, bindparam, select, update
from sqlmodel import Session, col

from billing import domain
from billing.store.catalogue import CatalogueUnit, catalogue_locks
from billing.store.rows import (
    Row,
    Waiting,
    billed_enrolment_of,
    course_rows,
    resolution_of,
    waiting_cancellation_of,
)
from billing.store.tables import (
    TABLES,
    EnrolmentRow,
    InvoiceLineRow,
    InvoiceRow,
    PendingCancellationRow,
    ReimbursementLineRow,
    ReimbursementRow,
)
from contracts import CloudEvent

# In TABLES' order, parents before children, which is also the order they are written in.
(
    ENROLMENT,
    INVOICE,
    INVOICE_LINE,
    REIMBURSEMENT,
    REIMBURSEMENT_LINE,
    PENDING_CANCELLATION,
    _CATALOGUE_ENTRY,
    _WAITING_ENROLMENT,
) = TABLES


class Store(UnitOfWorkStore, CatalogueUnit):
    """One unit of work on a Session: the batch's state in memory, what it adds, and the queries of the API
    (the catalogue's part in `CatalogueUnit`)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._enrolments: dict[str, domain.BilledEnrolment] = {}
        self._first_cancellations: dict[str, str] = {}
        """Enrolment id -> id of the cancellation its reimbursement was computed from."""
        self._waiting: Waiting[domain.WaitingCancellation] = Waiting()
        """Cancellations waiting for their enrolment, under its id."""
        self._init_catalogue()
        self._new_rows: dict[Table, list[Row]] = {table: [] for table in TABLES}
        self._outbox: list[Row] = []

    # --- the batch: read once -------------------------------------------------------------------------------

    def load_enrolments(self, enrolment_ids: Iterable[str]) -> None:
        """Lock these enrolments, then read their enrolments, reimbursements and waiting cancellations."""
        ids = sorted(set(enrolment_ids))
        lock_in_order_until_commit(self.session, [enrolment_locks(ids)])
        self._read_enrolments(ids)

    def load_catalogue_and_enrolments(self, catalogue_keys: Iterable[str], enrolment_ids: Iterable[str]) -> None:
        """`load_catalogue(catalogue_keys, shared=True)`, then `load_enrolments(enrolment_ids)`, with all their
        locks taken in one statement, in the same order (catalogue keys first)."""
        keys = sorted(set(catalogue_keys))
        ids = sorted(set(enrolment_ids))
        lock_in_order_until_commit(self.session, [catalogue_locks(keys, shared=True), enrolment_locks(ids)])
        self._read_catalogue(keys)
        self._read_enrolments(ids)

    def _read_enrolments(self, ids: Sequence[str]) -> None:
        """The enrolments with the id of the cancellation each was reimbursed from (a reimbursement row exists
        only for a stored enrolment: one query), then the cancellations waiting for any of them."""
        reimbursed = REIMBURSEMENT.c.cancellation_event_id.label("reimbursed_by")
        stored = select(ENROLMENT, reimbursed).outerjoin(
            REIMBURSEMENT, REIMBURSEMENT.c.enrolment_id == ENROLMENT.c.enrolment_id
        )
        for row in self.session.execute(stored.where(ENROLMENT.c.enrolment_id.in_(ids))):
            self._enrolments[row.enrolment_id] = billed_enrolment_of(row._mapping)
            if row.reimbursed_by is not None:
                self._first_cancellations[row.enrolment_id] = row.reimbursed_by
        pending = PENDING_CANCELLATION
        waiting = (
            select(pending)
            .where(pending.c.enrolment_id.in_(ids), pending.c.status == domain.WAITING)
            .order_by(pending.c.id)
        )
        for row in self.session.execute(waiting):
            stored_row = dict(row._mapping)
            self._waiting.keep(row.enrolment_id, waiting_cancellation_of(stored_row), stored_row)

    def billed_enrolment(self, enrolment_id: str) -> domain.BilledEnrolment | None:
        """The invoiced enrolment, stored or added in this unit."""
        return self._enrolments.get(enrolment_id)

    def first_cancellation(self, enrolment_id: str) -> str | None:
        """Id of the cancellation the enrolment's reimbursement was computed from, if it has one."""
        return self._first_cancellations.get(enrolment_id)

    # --- the batch: decide in memory ------------------------------------------------------------------------

    def add_invoice(self, enrolment: domain.BilledEnrolment, invoice: domain.Invoice, event_id: str) -> None:
        """Store the enrolment as it was priced and its invoice."""
        now = datetime.now(UTC)
        snapshot = enrolment.snapshot
        self._add(
            ENROLMENT,
            enrolment_id=enrolment.enrolment_id,
            student_id=enrolment.student_id,
            microcredential_id=enrolment.microcredential_id,
            academic_year=snapshot.academic_year,
            currency=snapshot.terms.currency,
            per_credit=snapshot.terms.per_credit,
            fixed_fee=snapshot.terms.fixed_fee,
            enrolled_at=snapshot.enrolled_at,
            courses=course_rows(snapshot.courses),
            created_event_source=enrolment.created_event_source,
            created_event_id=enrolment.created_event_id,
            recorded_at=now,
        )
        self._enrolments[enrolment.enrolment_id] = enrolment
        self._add(
            INVOICE,
            enrolment_id=enrolment.enrolment_id,
            event_id=event_id,
            currency=invoice.currency,
            fixed_fee=invoice.fixed_fee,
            total=invoice.total,
            recorded_at=now,
        )
        for line in invoice.lines:
            self._add(
                INVOICE_LINE,
                enrolment_id=enrolment.enrolment_id,
                semester=line.semester,
                credits=line.credits,
                amount=line.amount,
            )

    def add_reimbursement(
        self, cancellation: domain.WaitingCancellation, result: domain.Reimbursement, event_id: str
    ) -> None:
        """Store the reimbursement of the enrolment, computed from this cancellation (the first one stands)."""
        enrolment_id = cancellation.enrolment_id
        self._add(
            REIMBURSEMENT,
            enrolment_id=enrolment_id,
            event_id=event_id,
            cancellation_event_source=cancellation.event_source,
            cancellation_event_id=cancellation.event_id,
            cancelled_at=cancellation.cancelled_at,
            policy_id=result.policy_id,
            policy_version=str(result.policy_version),
            rule=result.rule_id,
            currency=result.currency,
            fixed_fee=result.fixed_fee,
            total=result.total,
            recorded_at=datetime.now(UTC),
        )
        for line in result.lines:
            self._add(
                REIMBURSEMENT_LINE,
                enrolment_id=enrolment_id,
                semester=line.semester,
                credits=line.credits,
                invoiced=line.invoiced,
                refunded=line.refunded,
            )
        self._first_cancellations[enrolment_id] = cancellation.event_id

    def keep_waiting(self, cancellation: domain.WaitingCancellation) -> None:
        """Keep a cancellation whose enrolment has not arrived (never dropped) until it does."""
        row = self._add(
            PENDING_CANCELLATION,
            enrolment_id=cancellation.enrolment_id,
            event_source=cancellation.event_source,
            event_id=cancellation.event_id,
            event_time=cancellation.event_time,
            cancelled_at=cancellation.cancelled_at,
            received_at=datetime.now(UTC),
            status=domain.WAITING,
            status_reason=None,
            resolved_at=None,
        )
        self._waiting.keep(cancellation.enrolment_id, cancellation, row)

    def take_waiting_cancellations(self, enrolment_id: str) -> list[domain.WaitingCancellation]:
        """The cancellations waiting for this enrolment, in arrival order; each must then be resolved."""
        return self._waiting.take(enrolment_id)

    def resolve(self, cancellation: domain.WaitingCancellation, status: str, reason: str | None = None) -> None:
        """Record what became of a waiting cancellation when its enrolment arrived."""
        self._waiting.resolve(cancellation, status, reason)

    def publish(self, event: CloudEvent[Any]) -> None:
        """Queue the event in the outbox (built now, so the row carries the current trace span's context)."""
        self._outbox.append(outbox_row(event.to_kafka(), event.id))

    def _add(self, table: Table, **values: Any) -> Row:
        self._new_rows[table].append(values)
        return values

    # --- the batch: write once ------------------------------------------------------------------------------

    def save(self) -> None:
        """The new rows of every table and the outbox's (parents first), on PostgreSQL in one statement; then
        the waiting rows this unit resolved, which may be among those just inserted."""
        self.save_catalogue()
        insert_together(self.session, [*self._new_rows.items(), (OUTBOX, self._outbox)])
        if self._waiting.resolved:
            self.session.execute(_RESOLVE, [resolution_of(row) for row in self._waiting.resolved])
        self.save_resolved_enrolments()

    # --- queries of the API ---------------------------------------------------------------------------------

    def enrolment(self, enrolment_id: str) -> EnrolmentRow | None:
        return self.session.get(EnrolmentRow, enrolment_id)

    def invoice(self, enrolment_id: str) -> InvoiceRow | None:
        return self.session.get(InvoiceRow, enrolment_id)

    def reimbursement(self, enrolment_id: str) -> ReimbursementRow | None:
        return self.session.get(ReimbursementRow, enrolment_id)

    def invoice_lines(self, enrolment_id: str) -> list[InvoiceLineRow]:
        line = InvoiceLineRow
        statement = select(line).where(col(line.enrolment_id) == enrolment_id).order_by(col(line.semester))
        return list(self.session.scalars(statement))

    def reimbursement_lines(self, enrolment_id: str) -> list[ReimbursementLineRow]:
        return self.lines_of_reimbursements([enrolment_id])[enrolment_id]

    def pending_cancellations(
        self,
        *,
        enrolment_id: str | None = None,
        statuses: Sequence[str] = (domain.WAITING,),
        offset: int = 0,
        limit: int | None = None,
    ) -> list[PendingCancellationRow]:
        pending = PendingCancellationRow
        statement = select(pending).where(col(pending.status).in_(list(statuses)))
        if enrolment_id is not None:
            statement = statement.where(col(pending.enrolment_id) == enrolment_id)
        return list(self.session.scalars(statement.order_by(col(pending.id)).offset(offset).limit(limit)))

    def reimbursements(
        self,
        academic_year: str | None = None,
        *,
        student_id: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[tuple[ReimbursementRow, EnrolmentRow]]:
        """Reimbursements with their enrolment, in enrolment-id order (stable for exports and pages)."""
        statement = select(ReimbursementRow, EnrolmentRow).join(
            EnrolmentRow, col(EnrolmentRow.enrolment_id) == col(ReimbursementRow.enrolment_id)
        )
        if academic_year is not None:
            statement = statement.where(col(EnrolmentRow.academic_year) == academic_year)
        if student_id is not None:
            statement = statement.where(col(EnrolmentRow.student_id) == student_id)
        rows = self.session.execute(statement.order_by(col(ReimbursementRow.enrolment_id)).offset(offset).limit(limit))
        return [(reimbursement, enrolment) for reimbursement, enrolment in rows]

    def lines_of_reimbursements(self, enrolment_ids: Sequence[str]) -> dict[str, list[ReimbursementLineRow]]:
        """Lines of many reimbursements in one query (an export lists a whole academic year)."""
        result: dict[str, list[ReimbursementLineRow]] = {enrolment_id: [] for enrolment_id in enrolment_ids}
        if not enrolment_ids:
            return result
        line = ReimbursementLineRow
        statement = (
            select(line)
            .where(col(line.enrolment_id).in_(list(enrolment_ids)))
            .order_by(col(line.enrolment_id), col(line.semester))
        )
        for row in self.session.scalars(statement):
            result[row.enrolment_id].append(row)
        return result


class Database(ServiceDatabase[Store]):
    """The service's database: units of work and read-only views, as Stores.

    Billing's writes come from the Kafka path, whose transaction the kit opens, and the relay polls; units of work
    are for tools and tests, so no relay is woken.
    """

    store = Store


def enrolment_locks(enrolment_ids: Iterable[str]) -> tuple[list[str], bool]:
    """The advisory locks that serialise the handling of these enrolments across replicas, for
    `lock_in_order_until_commit` (exclusive; after any catalogue key's).

    An enrolment and a cancellation that overtook it (another partition) can be applied by two replicas at
    once. Under PostgreSQL's READ COMMITTED each would miss the other's uncommitted row: the cancellation
    would be stored as waiting after the enrolment looked for waiting ones, and wait forever. Every batch
    takes these locks first (in one statement, in sorted order: no deadlock between replicas locking
    overlapping batches).
    """
    return [f"billing-enrolment:{enrolment_id}" for enrolment_id in enrolment_ids], False


_RESOLVE = (
    update(PENDING_CANCELLATION)
    .where(PENDING_CANCELLATION.c.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        status_reason=bindparam("new_status_reason"),
        resolved_at=bindparam("new_resolved_at"),
    )
)
