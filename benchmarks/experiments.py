"""Candidate kit changes, applied as temporary monkeypatches so their effect can be measured side by side.

Nothing here is used outside the benchmark. Each experiment is a context manager that patches the kit (or
billing) for the duration of one run and restores it afterwards; the one that wins goes into the kit itself.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

EXPERIMENTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {}
FALLBACKS: collections.Counter[str] = collections.Counter()
"""Batches a fast path handed back to the kit's per-event path, by reason (to show the fast path was taken)."""


def experiment(name: str) -> Callable[[Callable[[], Iterator[None]]], Callable[[], Iterator[None]]]:
    def register(function: Callable[[], Iterator[None]]) -> Callable[[], Iterator[None]]:
        EXPERIMENTS[name] = contextlib.contextmanager(function)
        return function

    return register


ALIASES = {
    "kit-only": ("no-savepoint", "bulk-processed", "core-outbox", "relay-lease", "relay-core"),
    "recommended": ("batch-core", "relay-lease", "relay-core"),
}
"""kit-only: what the kit can change without touching billing; recommended: the set this benchmark recommends."""


def expand(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(part for name in names for part in ALIASES.get(name, (name,)))


def check(names: Sequence[str]) -> None:
    unknown = [name for name in expand(names) if name not in EXPERIMENTS]
    if unknown:
        raise SystemExit(f"unknown experiment(s) {unknown}; known: {', '.join([*EXPERIMENTS, *ALIASES])}")


@contextlib.contextmanager
def applied(names: Sequence[str]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in expand(names):
            stack.enter_context(EXPERIMENTS[name]())
        yield


@contextlib.contextmanager
def patched(target: Any, attribute: str, value: Any) -> Iterator[None]:
    original = getattr(target, attribute)
    setattr(target, attribute, value)
    try:
        yield
    finally:
        setattr(target, attribute, original)


# --- consumer: the database step ----------------------------------------------------------------------------------


def _decode(consumer: Any, records: list[Any]) -> tuple[Any, list[tuple[Any, Any]]]:
    """The kit's own decoding step of `_apply_batch`, unchanged (key check, contract decode, interest filter)."""
    from reliability.consumer import BatchOutcome

    from contracts import InvalidEvent, decode_event

    outcome = BatchOutcome()
    decoded = []
    for record in records:
        if not record.key:
            outcome.dead_letters.append((record, "message has no key; the Kafka key must be the event's subject"))
            continue
        try:
            event = decode_event(record.value, key=record.key, known_types=consumer._types_of_topic(record.topic))
        except InvalidEvent as invalid:
            outcome.dead_letters.append((record, invalid.reason))
            continue
        if event.type in consumer._handlers:
            decoded.append((record, event))
        else:
            outcome.skipped += 1
    return outcome, decoded


class _Rejected(Exception):
    """Unwinds the optimistic transaction when a handler rejects an event (then the batch runs with savepoints)."""


def _apply_batch_variant(*, savepoints: bool, bulk_processed: bool) -> Callable[..., Any]:
    """`_apply_batch` with the two per-event costs made optional.

    savepoints=False: run the batch without a savepoint per event. A RejectEvent rolls the whole transaction
    back and the batch is applied again the kit's way, a savepoint per event, so only the rejected event's
    writes are undone — the same outcome as today, paid for only when a batch actually holds a rejection.
    bulk_processed=True: the processed-event rows go in as one multi-row INSERT at the end of the batch instead
    of one ORM object each (flushed one by one by the next savepoint or query).
    """
    from datetime import UTC, datetime

    from reliability.consumer import IdempotentConsumer, RejectEvent
    from reliability.database import transaction
    from reliability.tables import ProcessedEvent
    from reliability.tracing import consuming
    from sqlalchemy import insert

    kit_apply = IdempotentConsumer._apply_batch

    def apply(self: Any, records: list[Any]) -> Any:
        outcome, decoded = _decode(self, records)
        if not decoded:
            return outcome
        try:
            with transaction(self._engine) as session:
                seen = self._already_processed(session, [event for _, event in decoded])
                rows = []
                for record, event in decoded:
                    if event.identity in seen:
                        outcome.skipped += 1
                        continue
                    span = consuming(event.type, event.id, event.subject, record.headers)
                    if savepoints:
                        try:
                            with span, session.begin_nested():
                                self._handlers[event.type](session, event)
                        except RejectEvent as rejected:
                            outcome.dead_letters.append((record, rejected.reason))
                            continue
                    else:
                        try:
                            with span:
                                self._handlers[event.type](session, event)
                        except RejectEvent as rejected:
                            raise _Rejected from rejected
                    row = {
                        "consumer": self.settings.name,
                        "source": event.source,
                        "event_id": event.id,
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                        "processed_at": datetime.now(UTC),
                    }
                    if bulk_processed:
                        rows.append(row)
                    else:
                        session.add(ProcessedEvent(**row))
                    seen.add(event.identity)
                    outcome.applied += 1
                if rows:
                    session.execute(insert(ProcessedEvent.__table__), rows)  # type: ignore[attr-defined]
        except _Rejected:
            FALLBACKS["rejected"] += 1
            return kit_apply(self, records)
        return outcome

    return apply


@contextlib.contextmanager
def _consumer_variant(**flags: bool) -> Iterator[None]:
    from reliability.consumer import IdempotentConsumer

    current = getattr(IdempotentConsumer._apply_batch, "_bench_flags", {"savepoints": True, "bulk_processed": False})
    merged = {**current, **flags}
    variant = _apply_batch_variant(**merged)
    variant._bench_flags = merged  # type: ignore[attr-defined]
    with patched(IdempotentConsumer, "_apply_batch", variant):
        yield


@experiment("no-savepoint")
def _no_savepoint() -> Iterator[None]:
    """No savepoint per event; a batch holding a RejectEvent is rolled back and re-applied with savepoints."""
    with _consumer_variant(savepoints=False):
        yield


@experiment("bulk-processed")
def _bulk_processed() -> Iterator[None]:
    """Processed-event identities as one multi-row INSERT per batch instead of one ORM object per event."""
    with _consumer_variant(bulk_processed=True):
        yield


@experiment("core-outbox")
def _core_outbox() -> Iterator[None]:
    """add_to_outbox writes its row with a Core INSERT at once instead of an ORM object flushed later."""
    from datetime import UTC, datetime

    from reliability import outbox
    from reliability.tables import OutboxMessage
    from reliability.tracing import trace_headers
    from sqlalchemy import insert

    statement = insert(OutboxMessage.__table__)  # type: ignore[attr-defined]

    def add_record_to_outbox(session: Any, record: Any, event_id: str) -> None:
        headers = [*record.headers, *trace_headers()]
        session.execute(
            statement,
            {
                "event_id": event_id,
                "topic": record.topic,
                "key": record.key,
                "value": record.value,
                "headers": [[name, value.decode("latin-1")] for name, value in headers],
                "created_at": datetime.now(UTC),
            },
        )

    with patched(outbox, "add_record_to_outbox", add_record_to_outbox):
        yield


# --- consumer: the Kafka side -------------------------------------------------------------------------------------


@experiment("max-records-2000")
def _max_records() -> Iterator[None]:
    """Bigger polls: up to 2000 records per getmany instead of 500 (fewer, larger transactions)."""
    from reliability.consumer import IdempotentConsumer

    kit_init = IdempotentConsumer.__init__

    def init(self: Any, settings: Any, *args: Any, **kwargs: Any) -> None:
        settings.max_records = 2000
        kit_init(self, settings, *args, **kwargs)

    with patched(IdempotentConsumer, "__init__", init):
        yield


@experiment("poll-transaction")
def _poll_transaction() -> Iterator[None]:
    """One database transaction and one offset commit per poll (all partitions) instead of per partition."""
    import asyncio

    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import CommitFailedError
    from reliability import consumer as kit
    from reliability.consumer import IdempotentConsumer

    async def run(self: Any) -> None:
        settings = self.settings
        consumer = AIOKafkaConsumer(
            *(settings.topic_prefix + topic for topic in settings.topics),
            bootstrap_servers=settings.bootstrap_servers,
            group_id=settings.group_id,
            client_id=settings.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.max_records,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(settings.session_timeout_ms // 5, 500),
        )
        self._consumer = consumer
        await consumer.start()
        self.ready.set()
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=settings.poll_timeout_ms, max_records=settings.max_records)
                if not batches:
                    continue
                # Partition order is kept inside each partition; partitions are independent, so their records
                # may share one transaction.
                records = [record for partition_records in batches.values() for record in partition_records]
                outcome = await self._apply_with_retries(records)
                for record, reason in outcome.dead_letters:
                    await self._dead_letter(record, reason)
                try:
                    await consumer.commit({partition: rs[-1].offset + 1 for partition, rs in batches.items()})
                except CommitFailedError:
                    kit.log.warning("offset commit refused after a rebalance")
                if self._after_commit is not None and outcome.applied:
                    self._after_commit()
                self._report_lag(consumer, batches)
                await asyncio.sleep(0)
        finally:
            await consumer.stop()

    with patched(IdempotentConsumer, "run", run):
        yield


# --- relay --------------------------------------------------------------------------------------------------------


@experiment("relay-lease")
def _relay_lease() -> Iterator[None]:
    """The relay renews its lease when a third of it has passed, not before every batch (one write fewer)."""
    import asyncio
    import time
    from datetime import UTC, datetime, timedelta

    from reliability import outbox
    from reliability.outbox import OutboxRelay

    async def run(self: Any) -> None:
        settings = self._settings
        last_cleanup = datetime.min.replace(tzinfo=UTC)
        renew_every = settings.lease_duration.total_seconds() / 3
        held_until = 0.0  # monotonic time up to which we may publish without renewing
        try:
            while not self._stopping:
                now = time.monotonic()
                if now >= held_until - 2 * renew_every:
                    holds = await asyncio.to_thread(
                        outbox.try_acquire_lease, self._engine, settings.lease_name, self.owner, settings.lease_duration
                    )
                    held_until = now + settings.lease_duration.total_seconds() if holds else 0.0
                published = 0
                if time.monotonic() < held_until:
                    published = await self.publish_pending()
                    if datetime.now(UTC) - last_cleanup > timedelta(minutes=10):
                        await asyncio.to_thread(self._delete_old_published_rows)
                        last_cleanup = datetime.now(UTC)
                if published == 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), settings.idle_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            await asyncio.to_thread(outbox.release_lease, self._engine, settings.lease_name, self.owner)

    with patched(OutboxRelay, "run", run):
        yield


@experiment("relay-core")
def _relay_core() -> Iterator[None]:
    """The relay reads unpublished rows as plain Core rows (no ORM objects) and 2000 per batch instead of 500."""
    from reliability.outbox import OutboxRelay
    from reliability.tables import OutboxMessage
    from sqlalchemy import select

    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    statement = (
        select(table.c.id, table.c.topic, table.c.key, table.c.value, table.c.headers)
        .where(table.c.published_at.is_(None))
        .order_by(table.c.id)
    )

    def load(self: Any) -> list[Any]:
        with self._engine.connect() as connection:
            return list(connection.execute(statement.limit(2000)))

    with patched(OutboxRelay, "_load_unpublished", load):
        yield


# --- database -----------------------------------------------------------------------------------------------------


@experiment("sqlite-sync-off")
def _sqlite_sync_off() -> Iterator[None]:
    """PRAGMA synchronous=OFF (not for production): shows how much of the time is spent waiting for fsync."""
    from reliability import database

    kit_configure = database._configure_sqlite_connection

    def configure(dbapi_connection: Any, record: Any) -> None:
        kit_configure(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    with patched(database, "_configure_sqlite_connection", configure):
        yield


# --- billing ------------------------------------------------------------------------------------------------------


@experiment("billing-no-flush")
def _billing_no_flush() -> Iterator[None]:
    """Billing's handlers without their explicit `session.flush()` calls (the unit of work orders the INSERTs
    by foreign key anyway); autoflush before queries stays."""
    import sys

    from sqlalchemy.orm import Session

    kit_flush = Session.flush

    def flush(self: Any, objects: Any = None) -> None:
        if sys._getframe(1).f_globals.get("__name__") == "billing.handlers":
            return
        kit_flush(self, objects)

    with patched(Session, "flush", flush):
        yield


# --- set-oriented billing (a prototype of a kit batch-handler API and billing written for it) ---------------------


class _Fallback(Exception):
    """The batch holds a case the set-oriented path does not take on: apply it the kit's way, per event."""


def _billing_batch(session: Any, pairs: list[tuple[Any, Any]], policy: Any) -> list[dict[str, Any]]:
    """Billing's two handlers for a whole batch: three set queries, arithmetic in memory, one INSERT per table.

    Covers the everyday cases — a new enrolment; a cancellation of an enrolment stored earlier or earlier in the
    batch; a repeated cancellation. Anything else (a second EnrolmentCreated, a cancellation before its
    enrolment, waiting cancellations, a rejection) raises _Fallback and the kit's per-event path decides, so
    the outcome is by construction the one the per-event handlers give. Returns the outbox rows, in order.
    """
    import hashlib
    import logging
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from billing import domain, handlers, storage
    from billing.config import policy_reference
    from reliability.tracing import consuming, trace_headers
    from sqlalchemy import insert, select, text

    from contracts import ReimbursementCalculated, TuitionInvoiced, new_event

    log = logging.getLogger("billing.handlers")
    enrolments, invoices, invoice_lines = (
        t.__table__ for t in (storage.Enrolment, storage.Invoice, storage.InvoiceLine)
    )
    reimbursements = storage.Reimbursement.__table__
    reimbursement_lines = storage.ReimbursementLine.__table__
    pending = storage.PendingCancellation.__table__
    ids = sorted({event.data.enrolment_id for _, event in pairs})
    if session.get_bind().dialect.name == "postgresql":
        # The per-enrolment advisory locks of billing's handlers, taken in one go and in a fixed order (so two
        # replicas locking overlapping batches cannot deadlock).
        keys = sorted(
            int.from_bytes(hashlib.sha256(f"billing-enrolment:{i}".encode()).digest()[:8], "big", signed=True)
            for i in ids
        )
        session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"), {"keys": keys}
        )
    stored = {
        row.enrolment_id: row for row in session.execute(select(enrolments).where(enrolments.c.enrolment_id.in_(ids)))
    }
    reimbursed = {
        row.enrolment_id: row.cancellation_event_id
        for row in session.execute(
            select(reimbursements.c.enrolment_id, reimbursements.c.cancellation_event_id).where(
                reimbursements.c.enrolment_id.in_(ids)
            )
        )
    }
    if session.execute(
        select(pending.c.id).where(pending.c.enrolment_id.in_(ids)).where(pending.c.status == storage.WAITING).limit(1)
    ).first():
        raise _Fallback
    snapshots = {enrolment_id: handlers.snapshot_of(row) for enrolment_id, row in stored.items()}
    rows: dict[Any, list[dict[str, Any]]] = {
        t: [] for t in (enrolments, invoices, invoice_lines, reimbursements, reimbursement_lines)
    }
    outbox_rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)

    def queue(event: Any) -> None:
        record = event.to_kafka()
        headers = [*record.headers, *trace_headers()]  # inside the event's span, as add_to_outbox does
        outbox_rows.append(
            {
                "event_id": event.id,
                "topic": record.topic,
                "key": record.key,
                "value": record.value,
                "headers": [[name, value.decode("latin-1")] for name, value in headers],
                "created_at": datetime.now(UTC),
            }
        )

    def apply_one(event: Any) -> None:
        data = event.data
        enrolment_id = data.enrolment_id
        if event.type == "EnrolmentCreated":
            if enrolment_id in snapshots:
                raise _Fallback
            try:
                invoice = domain.compute_invoice(handlers._snapshot_from_event(data))
            except ValueError as error:
                raise _Fallback from error
            row = {
                "enrolment_id": enrolment_id,
                "student_id": data.student.id,
                "microcredential_id": data.microcredential.id,
                "academic_year": data.microcredential.academic_year,
                "currency": data.tuition.currency,
                "per_credit": data.tuition.per_credit,
                "fixed_fee": data.tuition.fixed_fee,
                "enrolled_at": data.enrolled_at,
                "courses": handlers._courses_json(data),
                "created_event_source": event.source,
                "created_event_id": event.id,
                "recorded_at": now,
            }
            rows[enrolments].append(row)
            # What a later cancellation would read back from the table: courses as stored JSON, instants in UTC.
            snapshots[enrolment_id] = handlers.snapshot_of(
                SimpleNamespace(**{**row, "enrolled_at": data.enrolled_at.astimezone(UTC)})
            )
            event_id = handlers.invoice_event_id(enrolment_id)
            rows[invoices].append(
                {
                    "enrolment_id": enrolment_id,
                    "event_id": event_id,
                    "currency": invoice.currency,
                    "fixed_fee": invoice.fixed_fee,
                    "total": invoice.total,
                    "recorded_at": now,
                }
            )
            rows[invoice_lines] += [
                {
                    "enrolment_id": enrolment_id,
                    "semester": line.semester,
                    "credits": line.credits,
                    "amount": line.amount,
                }
                for line in invoice.lines
            ]
            payload = TuitionInvoiced(
                enrolment_id=enrolment_id,
                student_id=data.student.id,
                microcredential_id=data.microcredential.id,
                academic_year=invoice.academic_year,
                currency=invoice.currency,
                lines=[handlers._semester_amount(line.semester, line.credits, line.amount) for line in invoice.lines],
                fixed_fee=invoice.fixed_fee,
                total=invoice.total,
            )
            queue(new_event(payload, source=handlers.SOURCE, event_id=event_id, time=event.time.astimezone(UTC)))
            log.info("tuition invoiced", extra={"enrolment_id": enrolment_id, "event_id": event_id})
        else:
            if enrolment_id not in snapshots:
                raise _Fallback  # waits for its enrolment: the per-event path stores it as pending
            if enrolment_id in reimbursed:
                log.info(
                    "enrolment already reimbursed; the first cancellation stands",
                    extra={
                        "enrolment_id": enrolment_id,
                        "event_id": event.id,
                        "first_cancellation_event_id": reimbursed[enrolment_id],
                    },
                )
                return
            try:
                result = domain.calculate_reimbursement(snapshots[enrolment_id], data.cancelled_at, policy)
            except domain.CancellationBeforeEnrolmentError as error:
                raise _Fallback from error
            event_id = handlers.reimbursement_event_id(enrolment_id)
            rows[reimbursements].append(
                {
                    "enrolment_id": enrolment_id,
                    "event_id": event_id,
                    "cancellation_event_source": event.source,
                    "cancellation_event_id": event.id,
                    "cancelled_at": data.cancelled_at,
                    "policy_id": result.policy_id,
                    "policy_version": str(result.policy_version),
                    "rule": result.rule_id,
                    "currency": result.currency,
                    "fixed_fee": result.fixed_fee,
                    "total": result.total,
                    "recorded_at": datetime.now(UTC),
                }
            )
            rows[reimbursement_lines] += [
                {
                    "enrolment_id": enrolment_id,
                    "semester": line.semester,
                    "credits": line.credits,
                    "invoiced": line.invoiced,
                    "refunded": line.refunded,
                }
                for line in result.lines
            ]
            reimbursed[enrolment_id] = event.id
            payload = ReimbursementCalculated(
                enrolment_id=enrolment_id,
                cancelled_at=data.cancelled_at.astimezone(UTC),
                policy=policy_reference(policy),
                rule=result.rule_id,
                currency=result.currency,
                lines=[handlers._semester_amount(line.semester, line.credits, line.refunded) for line in result.lines],
                fixed_fee=result.fixed_fee,
                total=result.total,
            )
            queue(new_event(payload, source=handlers.SOURCE, event_id=event_id, time=event.time.astimezone(UTC)))
            log.info(
                "reimbursement calculated",
                extra={
                    "enrolment_id": enrolment_id,
                    "event_id": event_id,
                    "policy": policy_reference(policy),
                    "rule": result.rule_id,
                },
            )

    for record, event in pairs:
        with consuming(event.type, event.id, event.subject, record.headers):
            apply_one(event)

    for table, table_rows in rows.items():  # parents before children: foreign keys are checked per statement
        if table_rows:
            session.execute(insert(table), table_rows)
    return outbox_rows


@experiment("batch-core")
def _batch_core() -> Iterator[None]:
    """A batch-handler API in the kit and billing written for it: one transaction per batch without savepoints,
    set-based reads, one multi-row INSERT per table (state, outbox and processed events); falls back to the
    per-event handlers (with savepoints) for any batch holding an unusual case."""
    from datetime import UTC, datetime

    from reliability.consumer import IdempotentConsumer, RejectEvent
    from reliability.database import transaction
    from reliability.tables import OutboxMessage, ProcessedEvent
    from sqlalchemy import insert

    kit_apply = IdempotentConsumer._apply_batch

    def apply(self: Any, records: list[Any]) -> Any:
        outcome, decoded = _decode(self, records)
        if not decoded:
            return outcome
        try:
            with transaction(self._engine) as session:
                seen = self._already_processed(session, [event for _, event in decoded])
                fresh: list[tuple[Any, Any]] = []
                for record, event in decoded:
                    if event.identity in seen:
                        outcome.skipped += 1
                    else:
                        seen.add(event.identity)
                        fresh.append((record, event))
                if not fresh:
                    return outcome
                policy = self._handlers["EnrolmentCreated"].keywords["policy"]
                outbox_rows = _billing_batch(session, fresh, policy)
                if outbox_rows:
                    session.execute(insert(OutboxMessage.__table__), outbox_rows)  # type: ignore[attr-defined]
                now = datetime.now(UTC)
                session.execute(
                    insert(ProcessedEvent.__table__),  # type: ignore[attr-defined]
                    [
                        {
                            "consumer": self.settings.name,
                            "source": event.source,
                            "event_id": event.id,
                            "topic": record.topic,
                            "partition": record.partition,
                            "offset": record.offset,
                            "processed_at": now,
                        }
                        for record, event in fresh
                    ],
                )
                outcome.applied += len(fresh)
        except (_Fallback, RejectEvent) as reason:
            FALLBACKS[type(reason).__name__] += 1
            return kit_apply(self, records)
        return outcome

    with patched(IdempotentConsumer, "_apply_batch", apply):
        yield


# --- instruments --------------------------------------------------------------------------------------------------

RELAY_WAITS: dict[str, list[float]] = {}
"""Seconds each relay database write took (lease renewal, marking rows published), filled by `relay-waits`."""


@experiment("relay-waits")
def _relay_waits() -> Iterator[None]:
    """Changes nothing; records how long the relay's two writes per cycle take (on SQLite: waiting for the lock
    the consumer's transaction holds)."""
    import time

    from reliability import outbox
    from reliability.outbox import OutboxRelay

    kit_lease = outbox.try_acquire_lease
    kit_mark = OutboxRelay._mark_published

    def lease(*args: Any, **kwargs: Any) -> bool:
        started = time.perf_counter()
        try:
            return kit_lease(*args, **kwargs)
        finally:
            RELAY_WAITS.setdefault("lease renewal", []).append(time.perf_counter() - started)

    def mark(self: Any, ids: list[int]) -> None:
        started = time.perf_counter()
        try:
            kit_mark(self, ids)
        finally:
            RELAY_WAITS.setdefault("mark published", []).append(time.perf_counter() - started)

    RELAY_WAITS.clear()
    with patched(outbox, "try_acquire_lease", lease), patched(OutboxRelay, "_mark_published", mark):
        yield
