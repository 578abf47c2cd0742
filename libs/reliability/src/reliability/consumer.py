"""The idempotent consumer: apply each event once, commit offsets only after the database committed.

Kafka consumption runs on FastStream: a `faststream.kafka.KafkaBroker` with one batch subscriber per consumed
topic (group id, ``auto_offset_reset="earliest"``, ``AckPolicy.MANUAL``; see `reliability.subscribers`, where a
service declares its handlers). FastStream fetches; the body of each subscriber is `IdempotentConsumer._consume`.
Here a partition's batch is applied in one database transaction that also records every event's identity
(CloudEvents ``source`` + ``id``); only then are that partition's offsets committed. A crash between the two
redelivers the batch, and the recorded identities make the replay change nothing.

What stays on aiokafka beneath FastStream, through the subscriber's own `AIOKafkaConsumer` (``subscriber.consumer``),
and why (FastStream 0.7.8 source, `faststream/`):
- Splitting the batch by partition: the batch subscriber flattens ``getmany`` over every partition into one
  tuple (kafka/subscriber/usecase.py:489-498); the kit regroups it, one transaction per partition.
- The offset commit: ``KafkaAckableMessage.ack()`` calls ``consumer.commit()`` with no offsets
  (kafka/message.py:70-73), which commits the consumer's position on *every* partition it fetched, those whose
  batch is not applied yet included (tests/kit/test_kit_faststream_limits.py shows it). The kit commits
  ``{partition: last offset + 1}`` after that partition's database commit, and never calls ``ack()``.
- The revoked-partition check and the lag: ``consumer.assignment()`` and ``consumer.highwater()``; FastStream
  has neither on its message.
- Errors: FastStream logs and swallows an exception of the handler and goes on fetching past the records
  (_internal/endpoint/subscriber/usecase.py:360-362), so a later commit would skip them. The kit's body catches
  every error itself; one that escapes the kit's retries stops the consumer and `run()` raises it, as before.
- Retry with backoff and dead-lettering: FastStream has neither; the dead letter goes out on the kit's producer
  with the original headers byte for byte (see `reliability.subscribers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord
from contracts.topics import dead_letter_topic
from faststream.kafka import KafkaBroker
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col

from contracts import EVENT_TYPES, CloudEvent, EventPayload, InvalidEvent, decode_event
from reliability import metrics
from reliability.database import transaction
from reliability.dead_letter import dead_letter_headers
from reliability.kafka_security import KafkaSecuritySettings
from reliability.provenance import EventSources
from reliability.subscribers import KafkaKit, Subscribers, build_broker, handler_table
from reliability.tables import ProcessedEvent
from reliability.tracing import consuming

if TYPE_CHECKING:
    from faststream.kafka.subscriber.usecase import BatchSubscriber

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord
EventSession: TypeAlias = Session
"""The session of the kit's transaction a handler runs in: handed on to the service's Store, never committed by it."""
Handler = Callable[[EventSession, CloudEvent[Any]], None]
"""Applies one event inside the caller's transaction: load, call the domain, write state and outbox rows."""
BatchHandler = Callable[[Session, Sequence[tuple[Record, CloudEvent[Any]]]], None]
"""Optional fast path: applies a partition's batch of new events, in order, in the caller's transaction (e.g. with
one query per table and one INSERT per table). It opens each event's trace span itself (`tracing.consuming`).
A RejectEvent from it makes the kit undo the batch and apply it again one event at a time through the
per-event handlers, so only the rejected event is dead-lettered: both must implement the same rules."""


class _ApplyPerEvent(Exception):
    """The fast attempt at a batch was undone; apply it again event by event, a savepoint each."""


class RejectEvent(Exception):
    """Raised by a handler for an event that is valid on the wire but can never be applied (goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RetryPolicy:
    """Growing, capped delays. Infrastructure errors retry until they clear; other errors `max_attempts` times."""

    first_delay: float = 0.1
    multiplier: float = 2.0
    max_delay: float = 30.0
    max_attempts: int = 5

    def delay(self, attempt: int) -> float:
        return float(min(self.first_delay * self.multiplier ** (attempt - 1), self.max_delay))


def is_transient(error: BaseException) -> bool:
    """Errors of the infrastructure (database or broker unreachable, lock timeouts), not of the event."""
    if isinstance(error, OperationalError | KafkaError | ConnectionError | TimeoutError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


@dataclass
class BatchOutcome:
    dead_letters: list[tuple[Record, str]] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0


@dataclass
class ConsumerSettings:
    name: str
    """Names this consumer in the processed-event table and the dlq-consumer header; usually the group id."""
    bootstrap_servers: str
    group_id: str
    topics: Sequence[str]
    """Logical topic names of the contract, e.g. ``enrolment.events``."""
    topic_prefix: str = ""
    """Prepended to every topic name, so tests and tenants can share one cluster without sharing topics."""
    max_records: int = 500
    poll_timeout_ms: int = 500
    session_timeout_ms: int = 10000
    """How soon the group notices a replica that died without leaving; its partitions move after this."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sources: EventSources | None = None
    """The source allow-list checked before any handler runs; ServiceRuntime always sets it. None (the kit's own
    tests, benchmarks of one consumer) accepts every source."""
    security: KafkaSecuritySettings | None = None
    """How the consumer authenticates (`reliability.kafka_security`); None: PLAINTEXT."""


class IdempotentConsumer:
    def __init__(
        self,
        settings: ConsumerSettings,
        engine: Engine,
        handlers: Mapping[str, Handler],
        producer: AIOKafkaProducer,
        after_commit: Callable[[], None] | None = None,
        after_database_commit: Callable[[Sequence[Record]], None] | None = None,
        batch_handler: BatchHandler | None = None,
        subscribers: Subscribers | None = None,
    ) -> None:
        """`handlers` (by event type) and `batch_handler` apply the events of `settings.topics`; `subscribers`
        declares more the way a service's entrypoints/kafka.py does (`reliability.subscribers`).
        `after_database_commit` runs between the database commit and the offset commit: a fault-injection seam."""
        self.settings = settings
        self._engine = engine
        kit = KafkaKit()
        handler_table(settings.topics, handlers, batch_handler)(kit)
        if subscribers is not None:
            subscribers(kit)
        self._handlers = {**handlers, **kit.handlers()}
        self._batch_handler = batch_handler
        self._batch_handlers = kit.batch_handlers()
        self._producer = producer
        self._after_commit = after_commit
        self._after_database_commit = after_database_commit
        self.topics = kit.topics
        """The contract topics consumed, one FastStream subscriber each."""
        self._kit = kit
        self._broker: KafkaBroker | None = None
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0
        self._failure: Exception | None = None
        self._one_at_a_time = asyncio.Lock()
        self.ready = asyncio.Event()

    @property
    def broker(self) -> KafkaBroker:
        """FastStream's broker with the subscribers, built when first needed (by `run()` at the latest), so the
        settings can still change until then (the benchmark gives each run its own group)."""
        if self._broker is None:
            self._broker = build_broker(self, self._kit)
        return self._broker

    @property
    def consumers(self) -> list[AIOKafkaConsumer]:
        """The aiokafka consumers beneath the subscribers, one per topic, once started."""
        subscribers = self._broker.subscribers if self._broker is not None else []
        found = (getattr(subscriber, "consumer", None) for subscriber in subscribers)
        return [consumer for consumer in found if isinstance(consumer, AIOKafkaConsumer)]

    @property
    def _consumer(self) -> AIOKafkaConsumer | None:
        consumers = self.consumers
        return consumers[0] if consumers else None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Start the broker's subscribers and consume until `stop()`; raises the error that stopped it, if any."""
        try:
            await self.broker.start()
            self.ready.set()
            await self._stopping.wait()
            await self._idle.wait()  # the batch being applied finishes (or gives up) first
        finally:
            await self.broker.stop()
        if self._failure is not None:
            raise self._failure

    async def _consume(self, subscriber: BatchSubscriber, records: Sequence[Record]) -> None:
        """The body of every subscriber: FastStream's flattened fetch, applied partition by partition."""
        if self._stopping.is_set():
            return  # neither applied nor committed: whoever owns these partitions next reads them again
        consumer = subscriber.consumer
        # Absent under FastStream's in-memory TestKafkaBroker: no offsets, no assignment, no lag there.
        kafka = consumer if isinstance(consumer, AIOKafkaConsumer) else None
        self._in_flight += 1
        self._idle.clear()
        try:
            # One batch at a time across the topics' subscribers, as the kit's single loop applied them: a
            # service's handlers never race each other.
            async with self._one_at_a_time:
                if self._stopping.is_set():
                    return
                await self._consume_partitions(kafka, records)
        except Exception as error:
            # FastStream would log this and fetch on past the records: stop instead, run() raises it.
            self._failure = error
            self._stopping.set()
            if kafka is None:
                raise
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _consume_partitions(self, kafka: AIOKafkaConsumer | None, records: Sequence[Record]) -> None:
        batches = _by_partition(records)
        # A stop() from here on lets the whole fetch be applied (FastStream's graceful stop waits for it too).
        for partition, batch in batches.items():
            if kafka is not None and partition not in kafka.assignment():
                continue  # revoked by a rebalance since the fetch: its new owner will read these
            await self._process_partition_batch(kafka, partition, batch)
        if kafka is not None:
            self._report_lag(kafka, batches)

    async def _process_partition_batch(
        self, consumer: AIOKafkaConsumer | None, partition: TopicPartition, records: list[Record]
    ) -> None:
        started = time.perf_counter()
        outcome = await self._apply_with_retries(records)
        if self._after_database_commit is not None:
            self._after_database_commit(records)
        for record, reason in outcome.dead_letters:
            await self._dead_letter(record, reason)
        try:
            if consumer is not None:
                # This partition's offsets only, on the aiokafka consumer beneath FastStream (see the docstring).
                await consumer.commit({partition: records[-1].offset + 1})
        except (CommitFailedError, IllegalStateError):
            # The partition moved to another replica mid-batch; it will redeliver these and find them applied.
            log.warning("offset commit refused after a rebalance", extra={"partition": str(partition)})
        name = self.settings.name
        metrics.EVENTS_CONSUMED.labels(name, "applied").inc(outcome.applied)
        metrics.EVENTS_CONSUMED.labels(name, "skipped").inc(outcome.skipped)
        metrics.EVENTS_CONSUMED.labels(name, "dead-lettered").inc(len(outcome.dead_letters))
        metrics.HANDLER_SECONDS.labels(name).observe(time.perf_counter() - started)
        if self._after_commit is not None and outcome.applied:
            self._after_commit()

    async def _apply_with_retries(self, records: list[Record]) -> BatchOutcome:
        retry = self.settings.retry
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(self._apply_batch, records)
            except Exception as error:
                attempt += 1
                metrics.EVENTS_RETRIED.labels(self.settings.name).inc()
                transient = is_transient(error)
                if not transient and attempt >= retry.max_attempts:
                    return await self._isolate_failure(records, error, attempt)
                delay = retry.delay(attempt)
                log.warning(
                    "handler failed; retrying",
                    extra={"attempt": attempt, "delay": delay, "transient": transient, "error": repr(error)},
                )
                if self._stopping.is_set():
                    raise
                await asyncio.sleep(delay)

    async def _isolate_failure(self, records: list[Record], error: Exception, attempts: int) -> BatchOutcome:
        """A batch keeps failing: apply its records one by one so only the culprit goes to the DLQ."""
        if len(records) == 1:
            reason = f"handler failed {attempts} times: {type(error).__name__}: {error}"
            return BatchOutcome(dead_letters=[(records[0], reason)])
        total = BatchOutcome()
        for record in records:
            single = await self._apply_with_retries([record])
            total.dead_letters += single.dead_letters
            total.applied += single.applied
            total.skipped += single.skipped
        return total

    def _apply_batch(self, records: list[Record]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[tuple[Record, CloudEvent[EventPayload]]] = []
        for record in records:
            if not record.key:
                # Without the key a producer's events of one enrolment scatter over partitions and lose order.
                outcome.dead_letters.append((record, "message has no key; the Kafka key must be the event's subject"))
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
                except RejectEvent as reason:
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
                    except RejectEvent as rejected:
                        if not per_event:
                            raise _ApplyPerEvent from rejected
                        outcome.dead_letters.append((record, rejected.reason))
                        continue
                    seen.add(event.identity)
                    applied.append((record, event))
            now = datetime.now(UTC)
            processed = [
                {
                    "consumer": self.settings.name,
                    "source": event.source,
                    "event_id": event.id,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "processed_at": now,
                }
                for record, event in applied
            ]
            if processed:
                session.execute(insert(ProcessedEvent.__table__), processed)  # type: ignore[attr-defined]
            outcome.applied = len(processed)
        return outcome

    def _source_refusal(self, record: Record, event: CloudEvent[EventPayload]) -> str | None:
        """Checked here, before both the per-event and the batch handlers see the event (defence in depth)."""
        sources = self.settings.sources
        if sources is None:
            return None
        return sources.refusal(record.topic.removeprefix(self.settings.topic_prefix), event.type, event.source)

    def _already_processed(self, session: Session, events: list[CloudEvent[EventPayload]]) -> set[tuple[str, str]]:
        ids = {event.id for event in events}
        rows = session.execute(
            select(col(ProcessedEvent.source), col(ProcessedEvent.event_id))
            .where(col(ProcessedEvent.consumer) == self.settings.name)
            .where(col(ProcessedEvent.event_id).in_(ids))
        )
        return {(source, event_id) for source, event_id in rows}

    async def _dead_letter(self, record: Record, reason: str) -> None:
        log.warning(
            "dead-lettering a message",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason},
        )
        await self._producer.send_and_wait(
            dead_letter_topic(record.topic),
            key=record.key,
            value=record.value,
            headers=dead_letter_headers(record, reason, self.settings.name),
        )
        metrics.EVENTS_DEAD_LETTERED.labels(self.settings.name).inc()

    def _report_lag(self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[Record]]) -> None:
        assigned = consumer.assignment()
        for partition in batches:
            if partition not in assigned:
                # Revoked while the batch was applied: aiokafka asserts on a highwater it no longer tracks, and
                # a metric must never stop the consumer.
                continue
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            position = batches[partition][-1].offset + 1
            metrics.CONSUMER_LAG.labels(self.settings.name, partition.topic, str(partition.partition)).set(
                max(highwater - position, 0)
            )

    def _batch_handler_of(self, topic: str) -> BatchHandler | None:
        return self._batch_handlers.get(topic.removeprefix(self.settings.topic_prefix), self._batch_handler)

    def _types_of_topic(self, topic: str) -> dict[str, type[EventPayload]]:
        """The contract's types for this topic: a type that belongs elsewhere is as wrong as an unknown one."""
        logical = topic.removeprefix(self.settings.topic_prefix)
        return {name: model for name, model in EVENT_TYPES.items() if model.topic == logical}


def _by_partition(records: Sequence[Record]) -> dict[TopicPartition, list[Record]]:
    """FastStream's batch, split again into the per-partition batches `getmany` fetched, in order."""
    batches: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        batches.setdefault((record.topic, record.partition), []).append(record)
    return {TopicPartition(topic, partition): batch for (topic, partition), batch in batches.items()}
