"""The idempotent consumer: apply each event once, commit offsets only after the database committed.

Kafka consumption runs on FastStream: a `faststream.kafka.KafkaBroker` with one batch subscriber per consumed
topic (group id, ``auto_offset_reset="earliest"``, ``AckPolicy.MANUAL``; see `reliability.subscribers`, where a
service declares its handlers). FastStream fetches; the body of each subscriber is `IdempotentConsumer._consume`.
Here the fetch's partition batches are applied in one database transaction that also records every event's
identity (CloudEvents ``source`` + ``id``); only then are their offsets committed. If that one attempt fails,
each partition's batch is applied in a transaction of its own, with the retries below, and then its offsets
committed. A crash between the two redelivers the batch, and the recorded identities make the replay change
nothing.

What stays on aiokafka beneath FastStream, through the subscriber's own `AIOKafkaConsumer` (``subscriber.consumer``),
and why (FastStream 0.7.8 source, `faststream/`):
- Splitting the batch by partition: the batch subscriber flattens ``getmany`` over every partition into one
  tuple (kafka/subscriber/usecase.py:489-498); the kit regroups it, so that a partition that fails is retried
  alone.
- The offset commit: ``KafkaAckableMessage.ack()`` calls ``consumer.commit()`` with no offsets
  (kafka/message.py:70-73), which commits the consumer's position on *every* partition it fetched, those whose
  batch is not applied yet included (tests/kit/test_kit_faststream_limits.py shows it). The kit commits
  ``{partition: last offset + 1}`` after that partition's database commit, and never calls ``ack()``.
- The revoked-partition check and the lag: ``consumer.assignment()`` and ``consumer.highwater()``; FastStream
  has neither on its message.
- Errors: FastStream logs and swallows an exception of the handler and goes on fetching past the records
  (_internal/endpoint/subscriber/usecase.py:360-362), so a later commit would skip them. The kit's body catches
  every error itself and no input stops it (`reliability.error_classes` says which error gets what):
  transient errors retry with capped backoff until they clear; contract and domain rejections are dead-lettered
  at once; an unexpected error retries the batch `RetryPolicy.max_attempts` times, then the batch is isolated,
  one attempt per record within `isolation_budget` (the rest is redelivered), and the culprits are
  dead-lettered; `pause_after` consecutive events failing with the same unexpected class pause the partition
  (nothing committed, nothing dead-lettered, ``/health`` 503) until an operator restarts the service after the
  fix. A DLQ send that keeps failing parks the record in the database (`reliability.parking`); a failing offset
  commit or after-commit hook is retried, logged and counted, never raised.
- Retry with backoff and dead-lettering: FastStream has neither; the dead letter goes out on the kit's producer
  with the original headers byte for byte, or as a bounded envelope when it would not fit
  (`reliability.dead_letter`; see `reliability.subscribers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from faststream.kafka import KafkaBroker
from sqlalchemy.engine import Engine

from reliability import metrics
from reliability.applying import (
    BatchHandler,
    BatchOutcome,
    EventApplier,
    EventSession,
    Handler,
    Record,
    RejectEvent,
    by_partition,
)
from reliability.broker_start import start_when_reachable
from reliability.consumer_settings import ConsumerSettings, RetryPolicy
from reliability.error_classes import ErrorStreak, is_transient, safe_reason
from reliability.http import Degraded
from reliability.parking import dead_letter_or_park_all, open_parked_records
from reliability.subscribers import KafkaKit, Subscribers, build_broker, handler_table

if TYPE_CHECKING:
    from faststream.kafka.subscriber.usecase import BatchSubscriber

__all__ = [
    "BatchHandler",
    "ConsumerSettings",
    "EventSession",
    "Handler",
    "IdempotentConsumer",
    "Record",
    "RejectEvent",
    "RetryPolicy",
    "is_transient",
]

log = logging.getLogger(__name__)


class IdempotentConsumer(EventApplier):
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
        self._streaks: dict[TopicPartition, ErrorStreak] = {}
        self.paused: dict[TopicPartition, str] = {}
        """Partitions paused by a systematic failure, with the exception class that paused them."""
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
        """Start the broker's subscribers and consume until `stop()`; raises a bug of the kit that stopped it."""
        try:
            if await start_when_reachable(lambda: self.broker.start(), self._discard_broker, self._stopping):
                self.ready.set()
                await self._stopping.wait()
                await self._idle.wait()  # the batch being applied finishes (or gives up) first
        finally:
            await self.broker.stop()
        if self._failure is not None:
            raise self._failure

    async def _discard_broker(self) -> None:
        """After a start that failed half-way: stop what it started; the next attempt builds the broker anew."""
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(Exception):
                await broker.stop()

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
                if not self._stopping.is_set():
                    await self._consume_partitions(kafka, records)
        except Exception as error:
            # Only a bug of the kit gets here (every record's and the broker's errors are handled below). FastStream
            # would fetch on past these records and a later commit skip them: stop instead, run() raises it.
            self._failure = error
            self._stopping.set()
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _consume_partitions(self, kafka: AIOKafkaConsumer | None, records: Sequence[Record]) -> None:
        batches = by_partition(records)
        # A stop() from here on lets the whole fetch be applied (FastStream's graceful stop waits for it too).
        ready: dict[TopicPartition, list[Record]] = {}
        for partition, batch in batches.items():
            if kafka is not None and partition not in kafka.assignment():
                continue  # revoked by a rebalance since the fetch: its new owner will read these
            if partition in self.paused:
                if kafka is not None:
                    kafka.pause(partition)  # assigned again after a rebalance: stays paused, nothing committed
                continue
            ready[partition] = batch
        if not await self._process_fetch_together(kafka, ready):
            for partition, batch in ready.items():
                await self._process_partition_batch(kafka, partition, batch)
        if kafka is not None:
            self._report_lag(kafka, batches)

    async def _process_fetch_together(
        self, consumer: AIOKafkaConsumer | None, batches: Mapping[TopicPartition, list[Record]]
    ) -> bool:
        """The fast path for a fetch of several partitions: one transaction and one offset commit for all of
        them. At a steady rate each fetch holds a few events per partition, and a transaction and a commit per
        partition made the fixed costs (about 15 round trips each on PostgreSQL) most of the consumer's time.
        Records of different partitions never share a key, so applying them together changes no outcome.

        One attempt only: False (nothing committed) when it fails, or when a partition has a failure streak,
        and the caller applies the partitions one by one, each with its retries, isolation and pausing."""
        if len(batches) < 2 or any(partition in self._streaks for partition in batches):
            return False
        started = time.perf_counter()
        records = [record for batch in batches.values() for record in batch]
        try:
            outcome = await asyncio.to_thread(self._apply_batch, records)
        except Exception as error:
            log.info("applying a fetch's partitions together failed; one by one", extra={"error": safe_reason(error)})
            return False
        await self._settle(consumer, records, outcome, started)
        return True

    async def _process_partition_batch(
        self, consumer: AIOKafkaConsumer | None, partition: TopicPartition, records: list[Record]
    ) -> None:
        started = time.perf_counter()
        outcome = await self._apply_with_retries(consumer, partition, records)
        if outcome is None:
            return  # stopping, or the partition was paused: nothing committed, all of it is read again
        done = records
        if outcome.redeliver_from is not None:
            done = [record for record in records if record.offset < outcome.redeliver_from]
            if consumer is not None and partition in consumer.assignment():  # else its new owner reads the rest
                consumer.seek(partition, outcome.redeliver_from)  # the rest comes again in the next fetch
        await self._settle(consumer, done, outcome, started)

    async def _settle(
        self, consumer: AIOKafkaConsumer | None, done: list[Record], outcome: BatchOutcome, started: float
    ) -> None:
        """After the database commit of `done`: its dead letters out, then the offsets of its partitions."""
        await self._after_handler("after database commit", self._after_database_commit, done)
        if not await dead_letter_or_park_all(self, outcome.dead_letters, marks=consumer is not None):
            return  # stopping before each was either sent or parked: not committed, redelivered
        if consumer is not None and done:
            offsets = {partition: batch[-1].offset + 1 for partition, batch in by_partition(done).items()}
            await self._commit_offsets(consumer, offsets)
        name = self.settings.name
        metrics.EVENTS_CONSUMED.labels(name, "applied").inc(outcome.applied)
        metrics.EVENTS_CONSUMED.labels(name, "skipped").inc(outcome.skipped)
        metrics.EVENTS_CONSUMED.labels(name, "dead-lettered").inc(len(outcome.dead_letters))
        metrics.HANDLER_SECONDS.labels(name).observe(time.perf_counter() - started)
        if self._after_commit is not None and outcome.applied:
            await self._after_handler("after commit", self._after_commit)

    async def _commit_offsets(self, consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int]) -> None:
        """These partitions' offsets only, on the aiokafka consumer beneath FastStream (see the docstring), those
        revoked meanwhile left out. Given up after the retries: the events are applied, so the redelivery a
        missing commit causes is skipped."""

        async def commit() -> None:
            assigned = consumer.assignment()
            kept = {partition: offset for partition, offset in offsets.items() if partition in assigned}
            try:
                if kept:
                    await consumer.commit(kept)
            except (CommitFailedError, IllegalStateError):
                # A partition moved to another replica mid-batch; it will redeliver these and find them applied.
                log.warning("offset commit refused after a rebalance", extra={"partitions": sorted(map(str, kept))})

        await self._retrying("offset commit", commit)

    async def _after_handler(self, stage: str, hook: Callable[..., None] | None, *args: object) -> None:
        if hook is not None:
            await self._retrying(stage, lambda: _run_sync(hook, *args))

    async def _retrying(self, stage: str, step: Callable[[], Awaitable[None]]) -> bool:
        """Runs `step` up to `max_attempts` times with the capped backoff; a failure is logged, never raised."""
        retry = self.settings.retry
        for attempt in range(1, retry.max_attempts + 1):
            try:
                await step()
                return True
            except Exception as error:
                metrics.AFTER_HANDLER_FAILURES.labels(self.settings.name, stage).inc()
                log.warning(f"{stage} failed", extra={"attempt": attempt, "error": safe_reason(error)})
                if attempt == retry.max_attempts or self._stopping.is_set():
                    break
                await asyncio.sleep(retry.delay(attempt))
        return False

    async def _apply_with_retries(
        self, consumer: AIOKafkaConsumer | None, partition: TopicPartition, records: list[Record]
    ) -> BatchOutcome | None:
        """The batch, retried; None when stopping mid-retry or when the partition got paused."""
        retry = self.settings.retry
        attempt = 0
        while True:
            try:
                outcome = await asyncio.to_thread(self._apply_batch, records)
            except Exception as error:
                attempt += 1
                metrics.EVENTS_RETRIED.labels(self.settings.name).inc()
                transient = is_transient(error)
                if not transient and attempt >= retry.max_attempts:
                    return await self._isolate_failure(consumer, partition, records, error, attempt)
                delay = retry.delay(attempt)
                log.warning(
                    "handler failed; retrying",
                    extra={"attempt": attempt, "delay": delay, "transient": transient, "error": safe_reason(error)},
                )
                if self._stopping.is_set():
                    return None
                await asyncio.sleep(delay)
            else:
                if outcome.applied:
                    self._streaks.pop(partition, None)
                return outcome

    async def _isolate_failure(
        self,
        consumer: AIOKafkaConsumer | None,
        partition: TopicPartition,
        records: list[Record],
        error: Exception,
        attempts: int,
    ) -> BatchOutcome | None:
        """A batch keeps failing: apply its records one by one, one attempt each (transient errors aside), so only
        the culprits go to the DLQ; within `isolation_budget`, after which the rest is redelivered."""
        if len(records) == 1:
            failed = f"handler failed {attempts} times"
            return self._culprit(consumer, partition, records[0], error, failed, BatchOutcome())
        deadline = time.monotonic() + self.settings.isolation_budget
        total = BatchOutcome()
        for record in records:
            if time.monotonic() > deadline:
                log.warning("isolating a batch ran out of time", extra={"partition": str(partition)})
                total.redeliver_from = record.offset
                return total
            single = await self._apply_alone(record)
            if single is None:
                return None
            if isinstance(single, Exception):
                failed = f"handler failed alone after its batch failed {attempts} times"
                if self._culprit(consumer, partition, record, single, failed, total) is None:
                    return None
                continue
            if single.applied:
                self._streaks.pop(partition, None)
            total.add(single)
        return total

    async def _apply_alone(self, record: Record) -> BatchOutcome | Exception | None:
        """One attempt at `record` alone; a transient error is retried with backoff (None when stopping)."""
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(self._apply_batch, [record])
            except Exception as error:
                if not is_transient(error):
                    return error
                attempt += 1
                metrics.EVENTS_RETRIED.labels(self.settings.name).inc()
                if self._stopping.is_set():
                    return None
                await asyncio.sleep(self.settings.retry.delay(attempt))

    def _culprit(
        self,
        consumer: AIOKafkaConsumer | None,
        partition: TopicPartition,
        record: Record,
        error: Exception,
        failed: str,
        outcome: BatchOutcome,
    ) -> BatchOutcome | None:
        """Dead-letter `record` into `outcome`, unless its error class makes a streak that pauses the partition."""
        error_class = type(error).__name__
        streak = self._streaks.setdefault(partition, ErrorStreak())
        streak.events = streak.events + 1 if streak.error == error_class else 1
        streak.error = error_class
        if streak.events >= self.settings.pause_after:
            self._pause(consumer, partition, error_class, streak.events)
            return None
        outcome.dead_letters.append((record, f"{failed}: {safe_reason(error)}"))
        return outcome

    def _pause(self, consumer: AIOKafkaConsumer | None, partition: TopicPartition, error: str, events: int) -> None:
        self.paused[partition] = error
        if consumer is not None and partition in consumer.assignment():  # revoked: stays in self.paused for later
            consumer.pause(partition)
        metrics.PARTITIONS_PAUSED.labels(self.settings.name).set(len(self.paused))
        log.error(
            "partition paused: the same error failed event after event; fix it and restart the service",
            extra={"topic": partition.topic, "partition": partition.partition, "error": error, "events": events},
        )

    async def health(self) -> str | None:
        """None when healthy; else why not: parked records are `Degraded` (the service works), a pause is not."""
        if self.paused:
            where = ", ".join(f"{tp.topic}[{tp.partition}]: {error}" for tp, error in sorted(self.paused.items()))
            return f"paused after {self.settings.pause_after} consecutive events failed with the same error: {where}"
        parked = await asyncio.to_thread(open_parked_records, self._engine, self.settings.name)
        metrics.PARKED_RECORDS_OPEN.labels(self.settings.name).set(parked)
        return Degraded(f"degraded: {parked} consumed records parked, see mc-ops parked") if parked else None

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


async def _run_sync(hook: Callable[..., None], *args: object) -> None:
    hook(*args)
