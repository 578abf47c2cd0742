"""Applying a batch (a partition's, or a whole fetch's) in one database transaction, with the processed-event
identities (see `reliability.consumer`, which retries, isolates, dead-letters and commits around it)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from contracts.limits import MAX_EVENT_BYTES
from sqlalchemy import Select, Table, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import EVENT_TYPES, CloudEvent, EventPayload, InvalidEvent, decode_event
from reliability.bulk_insert import insert_together
from reliability.database import transaction
from reliability.tables import ProcessedEvent
from reliability.tracing import consuming

PROCESSED_EVENT: Table = ProcessedEvent.__table__  # type: ignore[attr-defined]

if TYPE_CHECKING:
    from reliability.consumer_settings import ConsumerSettings

Record: TypeAlias = ConsumerRecord
EventSession: TypeAlias = Session
"""The session of the kit's transaction a handler runs in: handed on to the service's Store, never committed by it."""
Handler = Callable[[EventSession, CloudEvent[Any]], None]
"""Applies one event inside the caller's transaction: load, call the domain, write state and outbox rows."""
BatchHandler = Callable[[Session, Sequence[tuple[Record, CloudEvent[Any]]]], None]
"""Optional fast path: applies a batch of new events in the caller's transaction (e.g. with one query per table and
one INSERT per table): one partition's, or a fetch's partitions one after the other, each in its order. It opens
each event's trace span itself (`tracing.consuming`). A RejectEvent from it makes the kit undo the batch and apply
it again one event at a time through the per-event handlers, so only the rejected event is dead-lettered: both
must implement the same rules."""


class _ApplyPerEvent(Exception):
    """The fast attempt at a batch was undone; apply it again event by event, a savepoint each."""


class RejectEvent(Exception):
    """Raised by a handler for an event that is valid on the wire but can never be applied (goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class BatchOutcome:
    dead_letters: list[tuple[Record, str]] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0
    redeliver_from: int | None = None
    """Set when isolating a batch ran out of time: this offset and the later ones were not applied."""

    def add(self, other: BatchOutcome) -> None:
        self.dead_letters += other.dead_letters
        self.applied += other.applied
        self.skipped += other.skipped


class EventApplier:
    """The database side of the consumer: decode, check, apply through the handlers, record the identities."""

    settings: ConsumerSettings
    _engine: Engine
    _handlers: Mapping[str, Handler]
    _batch_handler: BatchHandler | None
    _batch_handlers: Mapping[str, BatchHandler]

    def _apply_batch(self, records: list[Record]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[tuple[Record, CloudEvent[EventPayload]]] = []
        for record in records:
            if not record.key:
                # Without the key a producer's events of one enrolment scatter over partitions and lose order.
                outcome.dead_letters.append((record, "message has no key; the Kafka key must be the event's subject"))
                continue
            size = len(record.value or b"")
            if size > MAX_EVENT_BYTES:
                # Refused unread: parsing a value this size is the attacker's work, not ours.
                outcome.dead_letters.append((record, f"value is {size} bytes, over the limit of {MAX_EVENT_BYTES}"))
                continue
            try:
                event = decode_event(record.value, key=record.key, known_types=self._types_of_topic(record.topic))
            except InvalidEvent as invalid:
                outcome.dead_letters.append((record, invalid.reason))
                continue
            if event.type not in self._handlers:
                outcome.skipped += 1  # a contract type this service has no interest in
                continue
            refused = self._source_refusal(record, event)
            if refused is not None:
                outcome.dead_letters.append((record, refused))
                continue
            decoded.append((record, event))
        if not decoded:
            return outcome
        try:
            return self._apply_decoded(decoded, outcome, per_event=False)
        except _ApplyPerEvent:
            # Rare: a rejected event. Its writes are mixed with the batch's, so the whole transaction was rolled
            # back; apply the batch again with a savepoint per event, so that only the rejected event's writes
            # are undone.
            return self._apply_decoded(decoded, outcome, per_event=True)

    def _apply_decoded(
        self, decoded: list[tuple[Record, CloudEvent[EventPayload]]], decoding: BatchOutcome, *, per_event: bool
    ) -> BatchOutcome:
        """One transaction for the batch. Fast attempt (per_event=False): the batch handler if there is one, else
        the handlers without savepoints — a savepoint per event cost a fifth of billing's time. Either way the
        processed-event identities go in as one multi-row INSERT."""
        outcome = BatchOutcome(dead_letters=list(decoding.dead_letters), skipped=decoding.skipped)
        applied: list[tuple[Record, CloudEvent[EventPayload]]] = []
        batch_handler = self._batch_handler_of(decoded[0][0].topic)
        with transaction(self._engine) as session:
            seen = self._already_processed(session, [event for _, event in decoded])
            if batch_handler is not None and not per_event:
                for record, event in decoded:
                    if event.identity in seen:
                        outcome.skipped += 1  # applied before, or twice in this batch
                    else:
                        seen.add(event.identity)
                        applied.append((record, event))
                try:
                    if applied:
                        batch_handler(session, applied)
                except (RejectEvent, InvalidEvent) as reason:
                    raise _ApplyPerEvent from reason
            else:
                for record, event in decoded:
                    if event.identity in seen:
                        outcome.skipped += 1
                        continue
                    try:
                        savepoint = session.begin_nested() if per_event else contextlib.nullcontext()
                        with consuming(event.type, event.id, event.subject, record.headers), savepoint:
                            self._handlers[event.type](session, event)
                    except (RejectEvent, InvalidEvent) as rejected:
                        if not per_event:
                            raise _ApplyPerEvent from rejected
                        outcome.dead_letters.append((record, rejected.reason))
                        continue
                    seen.add(event.identity)
                    applied.append((record, event))
            now = datetime.now(UTC)
            processed = [
                processed_row(self.settings.name, event.source, event.id, record, now) for record, event in applied
            ]
            insert_together(session, [(PROCESSED_EVENT, processed)])
            outcome.applied = len(processed)
        return outcome

    def _source_refusal(self, record: Record, event: CloudEvent[EventPayload]) -> str | None:
        """Checked here, before both the per-event and the batch handlers see the event (defence in depth)."""
        sources = self.settings.sources
        if sources is None:
            return None
        return sources.refusal(record.topic.removeprefix(self.settings.topic_prefix), event.type, event.source)

    def _already_processed(self, session: Session, events: list[CloudEvent[EventPayload]]) -> set[tuple[str, str]]:
        rows = session.execute(processed_lookup(self.settings.name, events))
        return {(source, event_id) for source, event_id in rows}

    def _batch_handler_of(self, topic: str) -> BatchHandler | None:
        return self._batch_handlers.get(topic.removeprefix(self.settings.topic_prefix), self._batch_handler)

    def _types_of_topic(self, topic: str) -> dict[str, type[EventPayload]]:
        return contract_types_of(topic.removeprefix(self.settings.topic_prefix))


@functools.cache
def contract_types_of(logical_topic: str) -> dict[str, type[EventPayload]]:
    """The contract's types for this topic: a type that belongs elsewhere is as wrong as an unknown one.
    One dict per topic, built once (and so one one-pass validator per topic, see `contracts.decode_event`)."""
    return {name: model for name, model in EVENT_TYPES.items() if model.topic == logical_topic}


def processed_lookup(consumer: str, events: Sequence[CloudEvent[EventPayload]]) -> Select[str, str]:
    """The identities among `events` that `consumer` has processed, and possibly a few other pairs of their
    sources and ids: the caller looks up exact identities. Both columns are given so the whole primary key is
    used; with the ids alone only its first column was, and each lookup read every row this consumer had ever
    processed (on SQLite and on PostgreSQL), so every batch cost more than the one before."""
    return (
        select(col(ProcessedEvent.source), col(ProcessedEvent.event_id))
        .where(col(ProcessedEvent.consumer) == consumer)
        .where(col(ProcessedEvent.source).in_({event.source for event in events}))
        .where(col(ProcessedEvent.event_id).in_({event.id for event in events}))
    )


def by_partition(records: Sequence[Record]) -> dict[TopicPartition, list[Record]]:
    """FastStream's batch, split again into the per-partition batches `getmany` fetched, in order."""
    batches: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        batches.setdefault((record.topic, record.partition), []).append(record)
    return {TopicPartition(topic, partition): batch for (topic, partition), batch in batches.items()}


def processed_row(consumer: str, source: str, event_id: str, record: Record, at: datetime) -> dict[str, object]:
    """A `ProcessedEvent` row: what `consumer` applied (or, `dead_letter_marks`, dead-lettered) and where from."""
    return {
        "consumer": consumer,
        "source": source,
        "event_id": event_id,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "processed_at": at,
    }
