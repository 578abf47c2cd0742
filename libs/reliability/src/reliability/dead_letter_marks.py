"""Which records a consumer already dead-lettered (or parked), so a redelivery does not send them again.

A batch's dead letters go out before its offsets are committed. When the commit is then refused (the partition
moved to another replica, a group rebalancing while a flood arrives), the new owner reads the same records again:
the valid ones are skipped by their recorded identity, and without a mark the invalid ones — which have no
identity — would be dead-lettered a second time. The mark is a `ProcessedEvent` row of the consumer whose source
names the topic (``urn:mc:dead-lettered:<topic>``) and whose id is ``<partition>:<offset>``, written after the
send: a crash between the send and the mark can still repeat one dead letter (at least once), a rebalance no longer
does. The marks never match an event's identity (a CloudEvents source is never of that form on our topics).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from reliability.applying import processed_row
from reliability.database import transaction
from reliability.tables import ProcessedEvent

MARK_SOURCE_PREFIX = "urn:mc:dead-lettered:"

Coordinates = tuple[str, int, int]


def coordinates(record: ConsumerRecord) -> Coordinates:
    return record.topic, record.partition, record.offset


def marked(engine: Engine, consumer: str, records: Sequence[ConsumerRecord]) -> set[Coordinates]:
    """The records of `records` this consumer dead-lettered or parked before."""
    ids = {_mark_id(record) for record in records}
    sources = {_mark_source(record) for record in records}
    with transaction(engine) as session:
        rows = session.execute(
            select(col(ProcessedEvent.topic), col(ProcessedEvent.partition), col(ProcessedEvent.offset))
            .where(col(ProcessedEvent.consumer) == consumer)
            .where(col(ProcessedEvent.source).in_(sources))
            .where(col(ProcessedEvent.event_id).in_(ids))
        )
        return {(topic, partition, offset) for topic, partition, offset in rows}


def mark(engine: Engine, consumer: str, records: Sequence[ConsumerRecord]) -> None:
    """Record that `records` went to their DLQ (or were parked)."""
    if not records:
        return
    now = datetime.now(UTC)
    rows = [processed_row(consumer, _mark_source(record), _mark_id(record), record, now) for record in records]
    with transaction(engine) as session:
        session.execute(insert(ProcessedEvent.__table__), rows)  # type: ignore[attr-defined]


def _mark_source(record: ConsumerRecord) -> str:
    return f"{MARK_SOURCE_PREFIX}{record.topic}"


def _mark_id(record: ConsumerRecord) -> str:
    return f"{record.partition}:{record.offset}"
