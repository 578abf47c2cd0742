"""Billing's use cases, run by the kit's idempotent consumer: a batch of enrolment events at a time.

For each batch the handler reads what it needs about the batch's enrolments with one query per table, applies
the events in order in memory (mapping the contract onto the domain, calling it, collecting the rows and the
events to announce), then writes with one INSERT per table, in the session (one transaction) the kit gives it.
The per-event handlers the kit falls back to — after a rejection, to dead-letter only the rejected event — are
this same code with a batch of one: there is a single implementation of billing's rules. (A handler that went
through the ORM per event spent about 95 % of billing's time in the unit of work; see docs/benchmark.md.)

A redelivered event never reaches a handler (the kit records event identities); what the handlers guard
against is a *different* event about the same enrolment: a second EnrolmentCreated or a second
EnrolmentCancelled with a new id, or a cancellation that arrives before its enrolment.

Published events are deterministic functions of the consumed ones, so replaying enrolment.events into an
empty database publishes the very same billing.events (same ids, same bytes):
- ids are UUIDv5 of "invoice:<enrolment id>" / "reimbursement:<enrolment id>";
- `time` is the `time` of the consumed event that caused it, in UTC, not the processing time;
- instants are published in UTC, so an event built from a stored row equals one built from the wire.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from reliability.consumer import BatchHandler, Handler, Record, RejectEvent
from reliability.database import lock_until_commit
from reliability.outbox import add_rows_to_outbox, outbox_row
from reliability.tracing import consuming
from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel import Session

from billing import domain, storage
from billing.config import policy_reference
from contracts import (
    CloudEvent,
    EnrolmentCancelled,
    EnrolmentCreated,
    ReimbursementCalculated,
    SemesterAmount,
    TuitionInvoiced,
    new_event,
)

log = logging.getLogger(__name__)

SOURCE = "/services/billing"
_EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:microcredentials:services:billing")

# Core tables rather than ORM classes: rows are plain dicts from reading to writing. In storage's order,
# parents before children, which is also the order they are written in.
ENROLMENT, INVOICE, INVOICE_LINE, REIMBURSEMENT, REIMBURSEMENT_LINE, PENDING_CANCELLATION = storage.BILLING_TABLES

Row = dict[str, Any]


def invoice_event_id(enrolment_id: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"invoice:{enrolment_id}"))


def reimbursement_event_id(enrolment_id: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"reimbursement:{enrolment_id}"))


def handlers_for(policy: domain.CancellationPolicy) -> Mapping[str, Handler]:
    """The kit's per-event handlers: what it runs to apply a batch one event at a time after a rejection."""
    handler = partial(apply_event, policy=policy)
    return {EnrolmentCreated.event_type: handler, EnrolmentCancelled.event_type: handler}


def batch_handler_for(policy: domain.CancellationPolicy) -> BatchHandler:
    """The kit's batch handler; `policy` is the active cancellation policy for new reimbursements."""
    return partial(apply_batch, policy=policy)


# --- use cases ----------------------------------------------------------------------------------------------


def apply_event(session: Session, event: CloudEvent[Any], *, policy: domain.CancellationPolicy) -> None:
    """Apply one EnrolmentCreated or EnrolmentCancelled (the kit has opened the event's trace span)."""
    changes = BillingChanges.load(session, [event.data.enrolment_id], policy)
    changes.apply(event)
    changes.write(session)


def apply_batch(
    session: Session, batch: Sequence[tuple[Record, CloudEvent[Any]]], *, policy: domain.CancellationPolicy
) -> None:
    """Apply a partition's batch in order; a RejectEvent makes the kit start over one event at a time."""
    changes = BillingChanges.load(session, [event.data.enrolment_id for _, event in batch], policy)
    for record, event in batch:
        with consuming(event.type, event.id, event.subject, record.headers):
            changes.apply(event)
    changes.write(session)


class BillingChanges:
    """The stored state of a batch's enrolments, and what applying the batch's events adds to it.

    Rows are dicts keyed by column name, whether read from the database or made by this batch, so a
    cancellation later in the batch finds an enrolment created earlier in it exactly as it would find a stored
    one. Nothing touches the database between `load` and `write`.
    """

    def __init__(
        self,
        policy: domain.CancellationPolicy,
        enrolments: dict[str, Row],
        first_cancellations: dict[str, str],
        waiting: dict[str, list[Row]],
    ) -> None:
        self.policy = policy
        self.enrolments = enrolments
        self.first_cancellations = first_cancellations
        """Enrolment id -> id of the cancellation its reimbursement was computed from."""
        self.waiting = waiting
        """Enrolment id -> cancellations waiting for that enrolment, in arrival order."""
        self.new_rows: dict[Table, list[Row]] = {table: [] for table in storage.BILLING_TABLES}
        self.resolved: list[Row] = []
        """Stored waiting cancellations this batch resolved: updated, not inserted."""
        self.announcements: list[dict[str, object]] = []

    @classmethod
    def load(cls, session: Session, enrolment_ids: Iterable[str], policy: domain.CancellationPolicy) -> BillingChanges:
        ids = sorted(set(enrolment_ids))
        lock_enrolments(session, ids)
        enrolments = {
            row.enrolment_id: dict(row._mapping)
            for row in session.execute(select(ENROLMENT).where(ENROLMENT.c.enrolment_id.in_(ids)))
        }
        first_cancellations = {
            row.enrolment_id: row.cancellation_event_id
            for row in session.execute(
                select(REIMBURSEMENT.c.enrolment_id, REIMBURSEMENT.c.cancellation_event_id).where(
                    REIMBURSEMENT.c.enrolment_id.in_(ids)
                )
            )
        }
        waiting: dict[str, list[Row]] = {}
        pending = PENDING_CANCELLATION
        statement = (
            select(pending)
            .where(pending.c.enrolment_id.in_(ids), pending.c.status == storage.WAITING)
            .order_by(pending.c.id)
        )
        for row in session.execute(statement):
            waiting.setdefault(row.enrolment_id, []).append(dict(row._mapping))
        return cls(policy, enrolments, first_cancellations, waiting)

    def apply(self, event: CloudEvent[Any]) -> None:
        if event.type == EnrolmentCreated.event_type:
            self._enrolment_created(event)
        elif event.type == EnrolmentCancelled.event_type:
            self._enrolment_cancelled(event)
        else:  # the kit only hands over the types billing registered
            raise TypeError(f"billing does not handle {event.type}")

    def write(self, session: Session) -> None:
        """One INSERT per table (parents first: PostgreSQL checks foreign keys per statement), then the outbox."""
        for table, rows in self.new_rows.items():
            if rows:
                session.execute(insert(table), rows)
        if self.resolved:
            pending = PENDING_CANCELLATION
            session.execute(
                update(pending)
                .where(pending.c.id == bindparam("row_id"))
                .values(
                    status=bindparam("new_status"),
                    status_reason=bindparam("new_status_reason"),
                    resolved_at=bindparam("new_resolved_at"),
                ),
                [
                    {
                        "row_id": row["id"],
                        "new_status": row["status"],
                        "new_status_reason": row["status_reason"],
                        "new_resolved_at": row["resolved_at"],
                    }
                    for row in self.resolved
                ],
            )
        add_rows_to_outbox(session, self.announcements)

    # --- the two events ------------------------------------------------------------------------------------

    def _enrolment_created(self, event: CloudEvent[EnrolmentCreated]) -> None:
        """Invoice the enrolment; then settle any cancellation of it that arrived first."""
        data = event.data
        existing = self.enrolments.get(data.enrolment_id)
        if existing is not None:
            if _courses_json(data) == existing["courses"] and _same_terms(existing, data):
                # The producer announced the same enrolment again under a new id: already invoiced, nothing to do.
                log.info("enrolment already invoiced", extra={"enrolment_id": data.enrolment_id, "event_id": event.id})
                return
            raise RejectEvent(
                f"enrolment {data.enrolment_id} was already invoiced from event {existing['created_event_id']} "
                "with different courses or terms; an invoice is never changed by a later EnrolmentCreated"
            )
        try:
            snapshot = _snapshot_from_event(data)
            invoice = domain.compute_invoice(snapshot)
        except ValueError as error:  # the contract let it through but the money rules cannot price it
            raise RejectEvent(f"cannot invoice enrolment {data.enrolment_id}: {error}") from error

        now = datetime.now(UTC)
        enrolment = self._add(
            ENROLMENT,
            enrolment_id=data.enrolment_id,
            student_id=data.student.id,
            microcredential_id=data.microcredential.id,
            academic_year=data.microcredential.academic_year,
            currency=data.tuition.currency,
            per_credit=data.tuition.per_credit,
            fixed_fee=data.tuition.fixed_fee,
            enrolled_at=data.enrolled_at,
            courses=_courses_json(data),
            created_event_source=event.source,
            created_event_id=event.id,
            recorded_at=now,
        )
        self.enrolments[data.enrolment_id] = enrolment
        event_id = invoice_event_id(data.enrolment_id)
        self._add(
            INVOICE,
            enrolment_id=data.enrolment_id,
            event_id=event_id,
            currency=invoice.currency,
            fixed_fee=invoice.fixed_fee,
            total=invoice.total,
            recorded_at=now,
        )
        for line in invoice.lines:
            self._add(
                INVOICE_LINE,
                enrolment_id=data.enrolment_id,
                semester=line.semester,
                credits=line.credits,
                amount=line.amount,
            )
        payload = TuitionInvoiced(
            enrolment_id=data.enrolment_id,
            student_id=data.student.id,
            microcredential_id=data.microcredential.id,
            academic_year=invoice.academic_year,
            currency=invoice.currency,
            lines=[_semester_amount(line.semester, line.credits, line.amount) for line in invoice.lines],
            fixed_fee=invoice.fixed_fee,
            total=invoice.total,
        )
        self._announce(new_event(payload, source=SOURCE, event_id=event_id, time=event.time.astimezone(UTC)))
        log.info("tuition invoiced", extra={"enrolment_id": data.enrolment_id, "event_id": event_id})
        self._settle_waiting_cancellations(enrolment, snapshot, now)

    def _enrolment_cancelled(self, event: CloudEvent[EnrolmentCancelled]) -> None:
        """Compute and announce the reimbursement, or keep the cancellation until its enrolment arrives."""
        data = event.data
        enrolment = self.enrolments.get(data.enrolment_id)
        if enrolment is None:
            # Two producers, two partitions or a replay can deliver the cancellation first: keep it, settle later.
            waiting = self._add(
                PENDING_CANCELLATION,
                enrolment_id=data.enrolment_id,
                event_source=event.source,
                event_id=event.id,
                event_time=event.time,
                cancelled_at=data.cancelled_at,
                received_at=datetime.now(UTC),
                status=storage.WAITING,
                status_reason=None,
                resolved_at=None,
            )
            self.waiting.setdefault(data.enrolment_id, []).append(waiting)
            log.info(
                "cancellation waits for its enrolment", extra={"enrolment_id": data.enrolment_id, "event_id": event.id}
            )
            return
        first = self.first_cancellations.get(data.enrolment_id)
        if first is not None:
            log.info(
                "enrolment already reimbursed; the first cancellation stands",
                extra={"enrolment_id": data.enrolment_id, "event_id": event.id, "first_cancellation_event_id": first},
            )
            return
        try:
            self._reimburse(
                enrolment,
                snapshot_of(enrolment),
                cancelled_at=data.cancelled_at,
                cancellation_source=event.source,
                cancellation_event_id=event.id,
                event_time=event.time,
            )
        except domain.CancellationBeforeEnrolmentError as error:
            raise RejectEvent(_before_enrolment_reason(data.enrolment_id, data.cancelled_at, enrolment)) from error

    # --- steps ---------------------------------------------------------------------------------------------

    def _settle_waiting_cancellations(self, enrolment: Row, snapshot: domain.EnrolmentSnapshot, now: datetime) -> None:
        """Resolve the cancellations that arrived before the enrolment, in arrival order; the first valid one wins."""
        enrolment_id = enrolment["enrolment_id"]
        settled: Row | None = None
        for pending in self.waiting.pop(enrolment_id, []):
            pending["resolved_at"] = now
            if "id" in pending:  # stored by an earlier batch; one from this batch is inserted as it ends up
                self.resolved.append(pending)
            if settled is not None:
                pending["status"] = storage.SUPERSEDED
                pending["status_reason"] = f"cancellation {settled['event_id']} of this enrolment was settled first"
                continue
            try:
                self._reimburse(
                    enrolment,
                    snapshot,
                    cancelled_at=pending["cancelled_at"],
                    cancellation_source=pending["event_source"],
                    cancellation_event_id=pending["event_id"],
                    event_time=pending["event_time"],
                )
            except domain.CancellationBeforeEnrolmentError:
                # The cancellation's own message is long committed, so it cannot go to the DLQ any more; it stays
                # here, visible to operators, with the same reason the DLQ would have carried.
                pending["status"] = storage.REJECTED
                pending["status_reason"] = _before_enrolment_reason(enrolment_id, pending["cancelled_at"], enrolment)
                log.warning(
                    "waiting cancellation rejected",
                    extra={"enrolment_id": enrolment_id, "event_id": pending["event_id"]},
                )
                continue
            pending["status"] = storage.SETTLED
            settled = pending

    def _reimburse(
        self,
        enrolment: Row,
        snapshot: domain.EnrolmentSnapshot,
        *,
        cancelled_at: datetime,
        cancellation_source: str,
        cancellation_event_id: str,
        event_time: datetime,
    ) -> None:
        """Compute with the policy, store the figures and queue ReimbursementCalculated (also for a zero refund)."""
        result = domain.calculate_reimbursement(snapshot, cancelled_at, self.policy)
        enrolment_id = enrolment["enrolment_id"]
        event_id = reimbursement_event_id(enrolment_id)
        self._add(
            REIMBURSEMENT,
            enrolment_id=enrolment_id,
            event_id=event_id,
            cancellation_event_source=cancellation_source,
            cancellation_event_id=cancellation_event_id,
            cancelled_at=cancelled_at,
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
        self.first_cancellations[enrolment_id] = cancellation_event_id
        payload = ReimbursementCalculated(
            enrolment_id=enrolment_id,
            cancelled_at=cancelled_at.astimezone(UTC),
            policy=policy_reference(self.policy),
            rule=result.rule_id,
            currency=result.currency,
            lines=[_semester_amount(line.semester, line.credits, line.refunded) for line in result.lines],
            fixed_fee=result.fixed_fee,
            total=result.total,
        )
        self._announce(new_event(payload, source=SOURCE, event_id=event_id, time=event_time.astimezone(UTC)))
        log.info(
            "reimbursement calculated",
            extra={
                "enrolment_id": enrolment_id,
                "event_id": event_id,
                "policy": policy_reference(self.policy),
                "rule": result.rule_id,
            },
        )

    def _add(self, table: Table, **values: Any) -> Row:
        self.new_rows[table].append(values)
        return values

    def _announce(self, event: CloudEvent[Any]) -> None:
        # Built now, inside the consumed event's trace span, so the outbox row carries that span's context.
        self.announcements.append(outbox_row(event.to_kafka(), event.id))


# --- helpers ------------------------------------------------------------------------------------------------


def lock_enrolments(session: Session, enrolment_ids: Sequence[str]) -> None:
    """Serialise the handling of these enrolments across replicas until this transaction ends.

    An enrolment and a cancellation that overtook it (another partition) can be applied by two replicas at
    once. Under PostgreSQL's READ COMMITTED each would miss the other's uncommitted row: the cancellation
    would be stored as waiting after the enrolment looked for waiting ones, and wait forever. Every batch
    takes these locks first (the kit takes them in one statement, in sorted order: no deadlock between
    replicas locking overlapping batches).
    """
    lock_until_commit(session, (f"billing-enrolment:{enrolment_id}" for enrolment_id in enrolment_ids))


def _before_enrolment_reason(enrolment_id: str, cancelled_at: datetime, enrolment: Row) -> str:
    return (
        f"cancellation of enrolment {enrolment_id} is dated {cancelled_at.astimezone(UTC).isoformat()}, before "
        f"the enrolment itself ({enrolment['enrolled_at'].astimezone(UTC).isoformat()}); refused rather than "
        "guessing a refund: the producer must send a corrected EnrolmentCancelled"
    )


def _snapshot_from_event(data: EnrolmentCreated) -> domain.EnrolmentSnapshot:
    return domain.EnrolmentSnapshot(
        academic_year=data.microcredential.academic_year,
        courses=tuple(
            domain.Course(id=course.id, credits=course.credits, semester=course.semester)
            for course in data.microcredential.courses
        ),
        terms=domain.TuitionTerms(
            currency=data.tuition.currency, fixed_fee=data.tuition.fixed_fee, per_credit=data.tuition.per_credit
        ),
        enrolled_at=data.enrolled_at,
    )


def snapshot_of(enrolment: Mapping[str, Any]) -> domain.EnrolmentSnapshot:
    """The domain snapshot of a stored enrolment row (the same one the invoice was computed from)."""
    return domain.EnrolmentSnapshot(
        academic_year=enrolment["academic_year"],
        courses=tuple(
            domain.Course(id=course["id"], credits=Decimal(course["credits"]), semester=course["semester"])
            for course in enrolment["courses"]
        ),
        terms=domain.TuitionTerms(
            currency=enrolment["currency"], fixed_fee=enrolment["fixed_fee"], per_credit=enrolment["per_credit"]
        ),
        enrolled_at=enrolment["enrolled_at"],
    )


def _semester_amount(semester: int, credits: Decimal, amount: Decimal) -> SemesterAmount:
    # Validated like a wire value: the domain's semester is a plain int, the contract's a Literal[1, 2]. The
    # domain sums credits from a money zero ("0.00"), so "6.00" is normalised to the contract's "6".
    return SemesterAmount.model_validate(
        {"semester": semester, "credits": format(credits.normalize(), "f"), "amount": amount}
    )


def _courses_json(data: EnrolmentCreated) -> list[dict[str, object]]:
    return [
        {"id": course.id, "credits": format(course.credits.normalize(), "f"), "semester": course.semester}
        for course in data.microcredential.courses
    ]


def _same_terms(enrolment: Mapping[str, Any], data: EnrolmentCreated) -> bool:
    return bool(
        enrolment["student_id"] == data.student.id
        and enrolment["microcredential_id"] == data.microcredential.id
        and enrolment["academic_year"] == data.microcredential.academic_year
        and enrolment["currency"] == data.tuition.currency
        and enrolment["per_credit"] == data.tuition.per_credit
        and enrolment["fixed_fee"] == data.tuition.fixed_fee
        and enrolment["enrolled_at"] == data.enrolled_at
    )
