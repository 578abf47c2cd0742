"""Parking a consumed record the consumer could not dead-letter, so its partition moves on.

When the DLQ send keeps failing (the DLQ topic refused by an ACL, the broker refusing the producer) the record is
written whole into `reliability.tables.ParkedRecord`; only then is its offset committed. An operator sends it on
(``mc-ops parked ...``), which sets ``released_at``. Until then the service reports itself degraded on
``/health`` (still 200: it applies every other event) with the count of open parked records.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiokafka.structs import ConsumerRecord
from contracts.topics import dead_letter_topic
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from reliability import dead_letter_marks, metrics
from reliability.database import transaction
from reliability.dead_letter import REASON_CHARS, dead_letter_of
from reliability.error_classes import safe_reason
from reliability.tables import ParkedRecord

if TYPE_CHECKING:
    from reliability.consumer import IdempotentConsumer

log = logging.getLogger(__name__)


async def dead_letter_or_park(consumer: IdempotentConsumer, record: ConsumerRecord, reason: str) -> bool:
    """Send `record` to its DLQ (retried with the consumer's backoff), else park it in the database (retried until
    written: it is the record's last place). False only when the consumer stops before either happened."""
    name = consumer.settings.name
    letter = dead_letter_of(record, reason, name)
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    log.warning("dead-lettering a message", extra={**where, "reason": reason, "envelope": letter.truncated})

    async def send() -> None:
        await consumer._producer.send_and_wait(
            dead_letter_topic(record.topic), key=letter.key, value=letter.value, headers=letter.headers
        )

    if await consumer._retrying("dead-letter send", send):
        metrics.EVENTS_DEAD_LETTERED.labels(name).inc()
        return True
    attempt = 0
    while True:
        try:
            await asyncio.to_thread(park_record, consumer._engine, record, name, f"{reason} (DLQ send failed)")
        except Exception as error:
            attempt += 1
            log.warning("parking a record failed", extra={**where, "attempt": attempt, "error": safe_reason(error)})
            if consumer._stopping.is_set():
                return False
            await asyncio.sleep(consumer.settings.retry.delay(attempt))
        else:
            metrics.RECORDS_PARKED.labels(name).inc()
            metrics.PARKED_RECORDS_OPEN.labels(name).inc()  # set exactly from the table by each health check
            log.error("record parked: its dead letter could not be sent", extra=where)
            return True


async def dead_letter_or_park_all(
    consumer: IdempotentConsumer, letters: list[tuple[ConsumerRecord, str]], *, marks: bool = True
) -> bool:
    """Each letter to its DLQ (or parked), except those sent before this redelivery (`dead_letter_marks`).
    `marks=False` where records have no real coordinates (FastStream's in-memory broker gives every one offset 0).
    False only when the consumer stops first: then nothing of the batch is committed."""
    if not letters:
        return True
    name = consumer.settings.name
    records = [record for record, _ in letters]
    sent_before: set[dead_letter_marks.Coordinates] = set()
    try:
        if marks:
            sent_before = await asyncio.to_thread(dead_letter_marks.marked, consumer._engine, name, records)
    except Exception as error:  # the database away: sending again is a duplicate, never a loss
        log.warning("dead-letter marks unreadable", extra={"error": safe_reason(error)})
    done = []
    for record, reason in letters:
        if dead_letter_marks.coordinates(record) not in sent_before:
            if not await dead_letter_or_park(consumer, record, reason):
                return False
            done.append(record)
    try:
        if marks:
            await asyncio.to_thread(dead_letter_marks.mark, consumer._engine, name, done)
    except Exception as error:
        log.warning("dead-letter marks not written", extra={"error": safe_reason(error)})
    return True


def park_record(engine: Engine, record: ConsumerRecord, consumer: str, reason: str) -> None:
    """Keep `record` whole (key, value, headers as latin-1 text like the outbox's) with why it is parked."""
    with transaction(engine) as session:
        session.add(
            ParkedRecord(
                consumer=consumer,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                headers=[[name, (value or b"").decode("latin-1")] for name, value in record.headers or []],
                reason=reason[:REASON_CHARS],
                parked_at=datetime.now(UTC),
            )
        )


def open_parked_records(engine: Engine, consumer: str) -> int:
    """How many of `consumer`'s parked records no operator has released yet."""
    with transaction(engine) as session:
        query = (
            select(func.count())
            .select_from(ParkedRecord)
            .where(col(ParkedRecord.consumer) == consumer)
            .where(col(ParkedRecord.released_at).is_(None))
        )
        return int(session.execute(query).scalar_one())
