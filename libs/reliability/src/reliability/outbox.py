"""Transactional outbox: state change and the events announcing it commit together; a relay publishes them.

Nothing is published for a rolled-back change (the rows never commit), and nothing committed is lost if the
process dies (the rows stay until the broker acknowledged them). With several replicas, a database lease lets
one relay publish at a time, so events of one key leave in the order they were written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import CloudEvent, EventPayload, KafkaRecord
from reliability import metrics
from reliability.database import transaction
from reliability.lease import release_lease, try_acquire_lease
from reliability.tables import OutboxMessage
from reliability.tracing import trace_headers

log = logging.getLogger(__name__)


def add_to_outbox(session: Session, event: CloudEvent[EventPayload]) -> None:
    """Queue `event` for publishing as part of the caller's transaction."""
    add_record_to_outbox(session, event.to_kafka(), event.id)


def add_record_to_outbox(session: Session, record: KafkaRecord, event_id: str) -> None:
    # A Core INSERT at once rather than an ORM object: the unit of work's flush of these rows was a sixth of a
    # consumer's time. Executed in the caller's transaction (and savepoint), so it commits or rolls back with it.
    session.execute(insert(OutboxMessage.__table__), outbox_row(record, event_id))  # type: ignore[attr-defined]


def outbox_row(record: KafkaRecord, event_id: str) -> dict[str, object]:
    """The outbox row of one record, for callers inserting many at once (`add_rows_to_outbox`)."""
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


class OutboxRelay:
    """Publishes committed outbox rows in id order, then marks them published."""

    def __init__(
        self,
        engine: Engine,
        producer: AIOKafkaProducer,
        service: str,
        settings: RelaySettings | None = None,
        owner: str | None = None,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._service = service
        self._settings = settings or RelaySettings()
        self.owner = owner or f"{service}-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stopping = False

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
        last_cleanup = datetime.min.replace(tzinfo=UTC)
        failures = 0
        try:
            while not self._stopping:
                try:
                    holds = await asyncio.to_thread(
                        try_acquire_lease, self._engine, settings.lease_name, self.owner, settings.lease_duration
                    )
                    published = 0
                    if holds:
                        published = await self.publish_pending()
                        if datetime.now(UTC) - last_cleanup > timedelta(minutes=10):
                            await asyncio.to_thread(self._delete_old_published_rows)
                            last_cleanup = datetime.now(UTC)
                    failures = 0
                except Exception as error:
                    # Broker or database away: the rows stay unpublished and are sent once it is back. The relay
                    # must outlive any outage, or the service would stop publishing for good.
                    failures += 1
                    delay = min(0.5 * 2 ** (failures - 1), settings.max_retry_delay_seconds)
                    log.warning(
                        "outbox relay could not publish; retrying",
                        extra={"error": repr(error), "attempt": failures, "delay": delay},
                    )
                    await self._sleep_unless_stopped(delay)
                    continue
                if published == 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), settings.idle_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            with contextlib.suppress(Exception):  # the lease expires by itself if the database is away
                await asyncio.to_thread(release_lease, self._engine, settings.lease_name, self.owner)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        rows = await asyncio.to_thread(self._load_unpublished)
        if not rows:
            return 0
        # Sends are queued in id order on one idempotent producer, so per-partition order is kept even
        # though we only await the acknowledgements together.
        deliveries = [
            await self._producer.send(
                self._settings.topic_prefix + row.topic,
                key=row.key,
                value=row.value,
                headers=[(name, value.encode("latin-1")) for name, value in row.headers],
            )
            for row in rows
        ]
        await asyncio.gather(*deliveries)
        ids = [row.id for row in rows if row.id is not None]
        # If we die (or lose the lease) before this commit, the rows are published again: consumers are
        # idempotent on the CloudEvents identity, so a repeat changes nothing.
        await asyncio.to_thread(self._mark_published, ids)
        metrics.EVENTS_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    def _load_unpublished(self) -> list[OutboxMessage]:
        with Session(self._engine, expire_on_commit=False) as session:
            statement = (
                select(OutboxMessage)
                .where(col(OutboxMessage.published_at).is_(None))
                .order_by(col(OutboxMessage.id))
                .limit(self._settings.batch_size)
            )
            return list(session.scalars(statement))

    def _mark_published(self, ids: list[int]) -> None:
        with transaction(self._engine) as session:
            session.execute(
                update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(published_at=datetime.now(UTC))
            )

    def _delete_old_published_rows(self) -> None:
        cutoff = datetime.now(UTC) - self._settings.keep_published_for
        with transaction(self._engine) as session:
            session.execute(delete(OutboxMessage).where(col(OutboxMessage.published_at) < cutoff))


def count_unpublished(engine: Engine) -> int:
    with Session(engine) as session:
        statement = select(func.count()).where(col(OutboxMessage.published_at).is_(None))
        return int(session.scalar(statement) or 0)
