"""The benchmark's input and its instruments: contract events at volume, output counters, timelines.

Input events are real contract events: one EnrolmentCreated and one EnrolmentCancelled per enrolment, built once
with `new_event` (so they pass the same validation billing applies) and then stamped with a fresh enrolment id
and event ids by byte substitution. Building a million events through pydantic would take longer than the
benchmark itself; the substituted fields have the same length and alphabet, so the records stay valid.
Every enrolment is in the contract's example micro-credential, whose catalogue entry (billing prices from it)
goes to catalogue.microcredentials first (`catalogue_record`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from contracts.examples import example_events, example_payloads
from reliability import garbage

from contracts import EnrolmentCancelled, EnrolmentCreated, new_event, topics

_ENROLMENT_PLACEHOLDER = "BENCH-PLACEHOLDER-0000000000"
_ID_PLACEHOLDER = "00000000-0000-4000-8000-00000000feed"
SOURCE = "/campus/student-administration"
"""The load stands in for student administration: billing's consumer accepts only allow-listed sources
(deploy/event-sources.yaml), and the benchmark's topics carry a prefix of their own."""
_NAMESPACE = uuid.UUID("5d3c1f0e-8a4b-4c2d-9e6f-b1a2c3d4e5f6")


def _template(event_type: type[EnrolmentCreated] | type[EnrolmentCancelled]) -> bytes:
    payload = next(p for p in example_payloads() if isinstance(p, event_type))
    payload = payload.model_copy(update={"enrolment_id": _ENROLMENT_PLACEHOLDER})
    when = payload.enrolled_at if isinstance(payload, EnrolmentCreated) else payload.cancelled_at
    value = new_event(payload, source=SOURCE, event_id=_ID_PLACEHOLDER, time=when).to_kafka().value
    assert value.count(_ENROLMENT_PLACEHOLDER.encode()) == 2 and value.count(_ID_PLACEHOLDER.encode()) == 1
    return value


CREATED_TEMPLATE = _template(EnrolmentCreated)
CANCELLED_TEMPLATE = _template(EnrolmentCancelled)
HEADERS = [("content-type", b"application/cloudevents+json")]


def catalogue_record() -> tuple[bytes, bytes]:
    """(key, value) of the catalogue entry the input's enrolments repeat, as the enrolment service publishes it."""
    record = example_events()["MicroCredentialPublished"].to_kafka()
    assert record.key is not None
    return record.key, record.value


def enrolment_id(run: str, index: int) -> str:
    return f"BENCH-{run}-{index:013d}"


def pair(run: str, index: int) -> tuple[bytes, bytes, bytes]:
    """(key, EnrolmentCreated value, EnrolmentCancelled value) of enrolment number `index`."""
    eid = enrolment_id(run, index).encode()
    # Event ids derive from (run, index), so two runs over the same input can be compared row by row.
    created_id = str(uuid.uuid5(_NAMESPACE, f"{run}:{index}:created")).encode()
    cancelled_id = str(uuid.uuid5(_NAMESPACE, f"{run}:{index}:cancelled")).encode()
    created = CREATED_TEMPLATE.replace(_ENROLMENT_PLACEHOLDER.encode(), eid).replace(
        _ID_PLACEHOLDER.encode(), created_id
    )
    cancelled = CANCELLED_TEMPLATE.replace(_ENROLMENT_PLACEHOLDER.encode(), eid).replace(
        _ID_PLACEHOLDER.encode(), cancelled_id
    )
    return eid, created, cancelled


def pairs(run: str, count: int, start: int = 0) -> Iterator[tuple[bytes, bytes, bytes]]:
    for index in range(start, start + count):
        yield pair(run, index)


def fast_producer(bootstrap: str, client_id: str, linger_ms: int = 20) -> AIOKafkaProducer:
    """The load generator: idempotent and acks=all like the services, but batching generously."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        max_batch_size=512 * 1024,
    )


async def prefill(bootstrap: str, topic: str, run: str, events: int) -> float:
    """Write `events` input events (events/2 enrolments, created then cancelled) to `topic` (the prefixed
    enrolment.events), after their catalogue entry to the same prefix's catalogue topic; returns seconds taken."""
    started = time.perf_counter()
    producer = fast_producer(bootstrap, f"bench-prefill-{run}")
    await producer.start()
    try:
        key, value = catalogue_record()
        catalogue = topic.removesuffix(topics.ENROLMENT_EVENTS) + topics.CATALOGUE
        await producer.send_and_wait(catalogue, key=key, value=value, headers=HEADERS)
        pending: list[asyncio.Future[object]] = []
        for key, created, cancelled in pairs(run, events // 2):
            # Default (murmur2) partitioner on the key, as the enrolment service does: a pair shares a partition.
            pending.append(await producer.send(topic, key=key, value=created, headers=HEADERS))
            pending.append(await producer.send(topic, key=key, value=cancelled, headers=HEADERS))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def machine_cpu_seconds() -> float:
    """CPU time the whole machine spent busy so far (every core, every process: the broker, PostgreSQL, this one),
    from /proc/stat, leaving out the `nice` column: work run under `nice` (another developer's) is not counted."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, _nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process `pid` so far, from /proc/<pid>/stat."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


class Offsets:
    """Reads end offsets and committed group offsets; with no transactions, end offset = records written."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        self._bootstrap = bootstrap
        self._partitions = partitions
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-offsets")
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")

    async def start(self) -> None:
        await self._consumer.start()
        await self._admin.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    def partitions(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(self._partitions)]

    async def end(self, topic: str) -> dict[TopicPartition, int]:
        offsets: dict[TopicPartition, int] = await self._consumer.end_offsets(self.partitions(topic))
        return offsets

    async def total(self, topic: str) -> int:
        return sum((await self.end(topic)).values())

    async def committed(self, group: str, topic: str) -> int:
        offsets = await self._admin.list_consumer_group_offsets(group, partitions=self.partitions(topic))
        return sum(max(meta.offset, 0) for meta in offsets.values())


@dataclass
class Timeline:
    """(seconds since start, records out) samples of one run, for wall time and the rate after start-up."""

    expected: int
    started: float = field(default_factory=time.perf_counter)
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, count: int) -> None:
        self.samples.append((time.perf_counter() - self.started, count))

    def time_at(self, count: float) -> float:
        """First time the output reached `count`, interpolated between the two samples around it."""
        previous = (0.0, 0)
        for sample in self.samples:
            if sample[1] >= count:
                (t0, c0), (t1, c1) = previous, sample
                return t0 if c1 == c0 else t0 + (t1 - t0) * (count - c0) / (c1 - c0)
            previous = sample
        raise ValueError(f"output never reached {count}")

    @property
    def wall(self) -> float:
        return self.time_at(self.expected)

    @property
    def first_output(self) -> float:
        return self.time_at(1)

    def steady_rate(self) -> float:
        """Records/s from the first output to the last, the first output's own records left out.

        Leaves out start-up (group join, first batch) without assuming a smooth flow: billing publishes in
        bursts of a whole batch, and a window between two fractions of the output (10 %–90 %) would measure the
        spacing of a few bursts rather than the rate.
        """
        t_first, c_first = next(sample for sample in self.samples if sample[1] > 0)
        if c_first >= self.expected:
            return self.expected / max(t_first, 1e-9)
        return (self.expected - c_first) / (self.wall - t_first)


async def watch_output(
    offsets: Offsets, topic: str, baseline: int, timeline: Timeline, limit_seconds: float, interval: float = 0.02
) -> None:
    """Sample the output topic's record count until `timeline.expected` new records are there."""

    async def count() -> int:
        return await offsets.total(topic) - baseline

    await _watch(count, timeline, limit_seconds, interval, f"{topic}: records")


async def watch_committed(offsets: Offsets, group: str, topic: str, timeline: Timeline, limit_seconds: float) -> None:
    """Sample `group`'s committed offsets on `topic` until `timeline.expected` records are committed."""

    async def count() -> int:
        try:
            return await offsets.committed(group, topic)
        except GroupCoordinatorNotAvailableError:  # the group has not been created yet
            return 0

    await _watch(count, timeline, limit_seconds, 0.25, f"{group} on {topic}: committed")


async def _watch(
    count: Callable[[], Awaitable[int]], timeline: Timeline, limit_seconds: float, interval: float, what: str
) -> None:
    deadline = time.perf_counter() + limit_seconds
    while True:
        reached = await count()
        timeline.add(reached)
        if reached >= timeline.expected:
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: {reached} of {timeline.expected} after {limit_seconds:.0f}s")
        await asyncio.sleep(interval)


async def read_types(
    bootstrap: str, topic: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> dict[str, int | str]:
    """Count the records of each CloudEvents type between two offset maps (verifies what a run produced)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="bench-verify")
    await consumer.start()
    counts: dict[str, int | str] = {}
    ids: set[str] = set()
    values: list[bytes] = []
    try:
        consumer.assign(list(end))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        remaining = {p for p in end if end[p] > start.get(p, 0)}
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for partition, records in batches.items():
                for record in records:
                    if record.offset >= end[partition]:
                        continue
                    document = json.loads(record.value)
                    counts[document["type"]] = int(counts.get(document["type"], 0)) + 1
                    ids.add(document["id"])
                    values.append(record.key + b"\0" + record.value)
                if records and records[-1].offset + 1 >= end[partition]:
                    remaining.discard(partition)
    finally:
        await consumer.stop()
    counts["distinct ids"] = len(ids)
    # Billing's events are deterministic functions of its input: every variant must publish these very bytes.
    counts["digest"] = hashlib.sha256(b"\n".join(sorted(values))).hexdigest()[:16]
    return counts


@contextlib.contextmanager
def collector_as_served() -> Iterator[None]:
    """The garbage collector as `ServiceRuntime.serve` sets it (`gc-defaults`: as CPython does), put back
    afterwards so that the variants measured in one process do not inherit each other's."""
    threshold = gc.get_threshold()
    garbage.settle_after_start()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
