"""Transactional outbox: state change and the events announcing it commit together; a relay publishes them.

Nothing is published for a rolled-back change (the rows never commit), and nothing committed is lost if the
process dies (the rows stay until the broker acknowledged them). With several replicas, a database lease lets
one relay publish at a time, so events of one key leave in the order they were written.

Nothing can jam it: an event over `MAX_EVENT_BYTES` is refused when it is queued (`EventTooLarge`, in the use
case's transaction), and a row the broker refuses for good anyway is parked with its reason, with the later rows
of its key behind it, while every other key flows on (`reliability.outbox_parking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from contracts.limits import MAX_EVENT_BYTES
from sqlalchemy import Select, Table, and_, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import CloudEvent, EventPayload, KafkaRecord
from reliability import metrics
from reliability.applying import RejectEvent
from reliability.database import statements_on_their_own, transaction
from reliability.lease import release_lease, try_acquire_lease
from reliability.outbox_delivery import BatchOutcome, Key, OutboxRow, send_batch
from reliability.outbox_parking import blocking_heads_query, count_parked, park_rows
from reliability.tables import OutboxMessage
from reliability.tracing import trace_headers

log = logging.getLogger(__name__)


_ROWS: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
OUTBOX = _ROWS
"""The outbox table, for writers inserting its rows with others (`reliability.bulk_insert`)."""
_UNPUBLISHED = (
    select(_ROWS.c.id, _ROWS.c.topic, _ROWS.c.key, _ROWS.c.value, _ROWS.c.headers)
    .where(_ROWS.c.published_at.is_(None))
    .where(_ROWS.c.parked_at.is_(None))
    .order_by(_ROWS.c.id)
)


def next_batch_query(
    limit: int, dialect_name: str
) -> Select[tuple[int, str, bytes, bytes, list[list[str]], int | None]]:
    """The relay's read of a round: the next `limit` rows, each with the head its key is parked behind (if any).

    One statement, so one snapshot: read apart, an operator's release landing between the two reads let a row
    written behind the head it released go out before that head and the rows waiting with it."""
    batch = _UNPUBLISHED.limit(limit).subquery("batch")
    heads = blocking_heads_query(dialect_name).subquery("heads")
    on_key = and_(heads.c.topic == batch.c.topic, heads.c.key == batch.c.key)
    return select(batch, heads.c.head).select_from(batch.outerjoin(heads, on_key)).order_by(batch.c.id)


class EventTooLarge(RejectEvent):
    """An event whose Kafka value is over `contracts.limits.MAX_EVENT_BYTES`: refused when it is queued, so the
    use case fails (HTTP 422; a consumed event that would produce it is rejected, i.e. dead-lettered) instead of
    the relay meeting a record the broker can never take."""

    def __init__(self, event_type: str, size: int, limit: int = MAX_EVENT_BYTES) -> None:
        super().__init__(f"{event_type} event is {size} bytes, over the limit of {limit} bytes")
        self.event_type = event_type
        self.size = size
        self.limit = limit


def add_to_outbox(session: Session, event: CloudEvent[EventPayload]) -> None:
    """Queue `event` for publishing as part of the caller's transaction; raises `EventTooLarge` (nothing written)."""
    add_record_to_outbox(session, event.to_kafka(), event.id)


def add_record_to_outbox(session: Session, record: KafkaRecord, event_id: str) -> None:
    # A Core INSERT at once rather than an ORM object: the unit of work's flush of these rows was a sixth of a
    # consumer's time. Executed in the caller's transaction (and savepoint), so it commits or rolls back with it.
    session.execute(insert(OutboxMessage.__table__), outbox_row(record, event_id))  # type: ignore[attr-defined]


def outbox_row(record: KafkaRecord, event_id: str) -> dict[str, object]:
    """The outbox row of one record, for callers inserting many at once (`add_rows_to_outbox`, or
    `bulk_insert.insert_together` with `OUTBOX` and other tables).

    Raises `EventTooLarge` for a value over `MAX_EVENT_BYTES`."""
    if len(record.value) > MAX_EVENT_BYTES:
        raise EventTooLarge(_event_type(record), len(record.value))
    # The trace context of the change travels with its event, so the consumer's work joins the same trace.
    headers = [*record.headers, *trace_headers()]
    return {
        "event_id": event_id,
        "topic": record.topic,
        "key": record.key,
        "value": record.value,
        "headers": [[name, value.decode("latin-1")] for name, value in headers],
        "created_at": datetime.now(UTC),
    }


def _event_type(record: KafkaRecord) -> str:
    # Only on the refusal path: the type is for the operator, the value itself never goes into the message.
    try:
        event_type = json.loads(record.value).get("type")
    except Exception:
        event_type = None
    return event_type if isinstance(event_type, str) and len(event_type) <= 200 else f"an {record.topic}"


def add_rows_to_outbox(session: Session, rows: list[dict[str, object]]) -> None:
    """Queue many events with one multi-row INSERT; ids, hence publishing order, follow the order of `rows`."""
    if rows:
        session.execute(insert(OutboxMessage.__table__), rows)  # type: ignore[attr-defined]


@dataclass
class RelaySettings:
    lease_name: str = "outbox-relay"
    lease_duration: timedelta = timedelta(seconds=10)
    batch_size: int = 500
    idle_poll_seconds: float = 0.5
    keep_published_for: timedelta = timedelta(days=7)
    max_retry_delay_seconds: float = 10.0
    topic_prefix: str = ""
    """Prepended to each row's (logical) topic when publishing; see ConsumerSettings.topic_prefix."""


def service_relay_settings(service: str, topic_prefix: str) -> RelaySettings:
    """A service's relay, in its own process or not: one lease name, so its replicas publish one at a time."""
    return RelaySettings(lease_name=f"{service}-outbox-relay", topic_prefix=topic_prefix)


def refresh_parked_gauge(engine: Engine, service: str) -> int:
    """Counts the parked rows and sets the service's `outbox_parked_rows` gauge to it."""
    parked = count_parked(engine)
    metrics.OUTBOX_PARKED.labels(service).set(parked)
    return parked


class OutboxRelay:
    """Publishes committed outbox rows in id order, then marks them published."""

    def __init__(
        self,
        engine: Engine,
        producer: AIOKafkaProducer,
        service: str,
        settings: RelaySettings | None = None,
        owner: str | None = None,
        renew_producer: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        """`renew_producer`: a fresh, started producer, to replace `producer` after the broker refused a batch;
        the relay then owns its producers (`producer` is the current one)."""
        self._engine = engine
        self._producer = producer
        self._renew_producer = renew_producer
        self._service = service
        self._settings = settings or RelaySettings()
        self.owner = owner or f"{service}-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._held_until = 0.0
        """time.monotonic() up to which this relay holds the lease (counted from before the write that took it)."""
        self.last_failure: str | None = None
        """Why the last round failed (the error type), None once a round succeeds: for the health check."""

    def notify(self) -> None:
        """Wake the relay right after a commit instead of waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        self._wake.clear()
        if self._stopping:
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def run(self) -> None:
        settings = self._settings
        last_cleanup = last_count = datetime.min.replace(tzinfo=UTC)
        failures = 0
        try:
            while not self._stopping:
                # Cleared before the round reads the outbox, not after: a commit's notify() that lands while the
                # round runs (its rows too new for the round's query) must cut the idle wait short, not be lost.
                self._wake.clear()
                try:
                    published = 0
                    if await self._hold_lease():
                        published = await self.publish_pending()
                        if datetime.now(UTC) - last_cleanup > timedelta(minutes=10):
                            await asyncio.to_thread(self._delete_old_published_rows)
                            last_cleanup = datetime.now(UTC)
                        if datetime.now(UTC) - last_count > timedelta(seconds=10):
                            # An operator releases or discards rows from another process (mc-ops).
                            await asyncio.to_thread(self.refresh_parked_gauge)
                            last_count = datetime.now(UTC)
                    failures = 0
                    self.last_failure = None
                except Exception as error:
                    # Broker or database away: the rows stay unpublished and are sent once it is back. The relay
                    # must outlive any outage, or the service would stop publishing for good.
                    failures += 1
                    self._held_until = 0.0  # take (or confirm) the lease again before the next batch
                    self.last_failure = f"{type(error).__name__} ({failures} attempts in a row)"
                    delay = min(0.5 * 2 ** (failures - 1), settings.max_retry_delay_seconds)
                    log.warning(
                        "outbox relay could not publish; retrying",
                        extra={"error": repr(error), "attempt": failures, "delay": delay},
                    )
                    await self._sleep_unless_stopped(delay)
                    continue
                if published < settings.batch_size:
                    # The round found all there was when it read (a full batch may have more behind it). Rows
                    # committed since in this process came with a notify(), which ends this wait at once; those of
                    # other processes wait for the poll. A second round right away only found nothing: at 200
                    # events/s that was every other round, each a read competing with the consumer's transaction.
                    try:
                        await asyncio.wait_for(self._wake.wait(), settings.idle_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            with contextlib.suppress(Exception):  # the lease expires by itself if the database is away
                await asyncio.to_thread(release_lease, self._engine, settings.lease_name, self.owner)

    async def _hold_lease(self) -> bool:
        """Whether this relay holds the lease; renewed once a third of its term has passed, not every round.

        Renewing per round was a write and, on PostgreSQL, three round trips in every round of the relay (at 200
        events/s a round every few milliseconds). A round that starts on a lease not renewed for a third of its
        term still has two thirds of it (`lease_duration`, 10 s by default) before another replica may take it."""
        term = self._settings.lease_duration
        now = time.monotonic()
        if now < self._held_until - term.total_seconds() * 2 / 3:
            return True
        holds = await asyncio.to_thread(try_acquire_lease, self._engine, self._settings.lease_name, self.owner, term)
        self._held_until = now + term.total_seconds() if holds else 0.0
        return holds

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published or parked."""
        rows, heads = await asyncio.to_thread(self._load_unpublished)
        if not rows:
            return 0
        # Sends are queued in id order on one idempotent producer, so per-partition order is kept even
        # though we only await the acknowledgements together; each send's own future says how its row fared.
        outcome = await send_batch(self._producer, rows, heads, self._settings.topic_prefix)
        # If we die (or lose the lease) before this commit, the rows are published again: consumers are
        # idempotent on the CloudEvents identity, so a repeat changes nothing.
        await asyncio.to_thread(self._record, outcome)
        metrics.EVENTS_PUBLISHED.labels(self._service).inc(len(outcome.published))
        if outcome.parked:
            self._report_parked(outcome)
        if outcome.broker_refused and self._renew_producer is not None:
            await self._renew()
        if outcome.retry:
            raise outcome.retry[0]
        return len(outcome.published) + len(outcome.parked)

    def _record(self, outcome: BatchOutcome) -> None:
        if outcome.published:
            self._mark_published(outcome.published)
        park_rows(self._engine, outcome.parked)

    def _report_parked(self, outcome: BatchOutcome) -> None:
        for row_id, error in outcome.refused.items():
            metrics.OUTBOX_ROWS_REFUSED.labels(self._service, error).inc()
            # The id, the error type and the reason (sizes, limits): never the value or the key.
            log.error(
                "outbox row refused by the broker for good; parked with the later rows of its key",
                extra={"row": row_id, "error": error, "reason": outcome.parked[row_id]},
            )
        self.refresh_parked_gauge()

    def refresh_parked_gauge(self) -> int:
        return refresh_parked_gauge(self._engine, self._service)

    async def _renew(self) -> None:
        # A batch the broker refused left a gap in the idempotent producer's sequence numbers: every later send to
        # that partition would fail (OutOfOrderSequenceNumber). A new producer starts a new sequence.
        assert self._renew_producer is not None
        old, self._producer = self._producer, await self._renew_producer()
        log.warning("outbox relay renewed its producer after a refused batch", extra={"service": self._service})
        with contextlib.suppress(Exception):
            await old.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        return self._producer

    async def close(self) -> None:
        """Stops the producer the relay holds now (after `run` returned)."""
        await self._producer.stop()

    def _load_unpublished(self) -> tuple[Sequence[OutboxRow], dict[Key, int]]:
        """The next batch as plain rows (building ORM objects was a third of the relay's time) and the keys among
        them parked behind a head."""
        with statements_on_their_own(self._engine) as connection:
            rows = connection.execute(next_batch_query(self._settings.batch_size, connection.dialect.name)).all()
        heads = {(row.topic, bytes(row.key)): int(row.head) for row in rows if row.head is not None}
        return rows, heads

    def _mark_published(self, ids: list[int]) -> None:
        with statements_on_their_own(self._engine) as connection:
            connection.execute(update(_ROWS).where(_ROWS.c.id.in_(ids)).values(published_at=datetime.now(UTC)))

    def _delete_old_published_rows(self) -> None:
        cutoff = datetime.now(UTC) - self._settings.keep_published_for
        with transaction(self._engine) as session:
            session.execute(delete(OutboxMessage).where(col(OutboxMessage.published_at) < cutoff))


def count_unpublished(engine: Engine) -> int:
    """Rows waiting for the relay (parked ones not included: see `outbox_parking.count_parked`)."""
    with Session(engine) as session:
        statement = (
            select(func.count())
            .where(col(OutboxMessage.published_at).is_(None))
            .where(col(OutboxMessage.parked_at).is_(None))
        )
        return int(session.scalar(statement) or 0)
