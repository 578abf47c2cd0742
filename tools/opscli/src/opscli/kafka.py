"""Kafka clients as the CLI uses them: short-lived, started and closed per command, never auto-committing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, TopicPartition
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs
from reliability.producer import create_producer

CLIENT_ID = "opscli"
READ_IDLE_TIMEOUT_S = 30.0
"""Give up a bounded read when no partition has advanced for this long (a broker that stopped answering)."""


def security() -> KafkaSecuritySettings:
    """The operator's Kafka credentials, from the same KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* variables
    as the services (`reliability.kafka_security`)."""
    return KafkaSecuritySettings()


class CommandError(Exception):
    """A failure to report to the operator as one line, without a traceback."""


class Refused(CommandError):
    """The command would be unsafe now (e.g. the group still has members); nothing was changed."""


@asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=CLIENT_ID, **client_kwargs(security()))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def reader(bootstrap: str, group_id: str | None = None) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer for assign()-based reads. With a group_id it only fetches and commits offsets for that group:
    partitions are assigned by us, so it never joins the group and never rebalances a running service."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Show what is in the log, including records of transactions not yet committed: an operator
        # looking at a DLQ wants everything.
        isolation_level="read_uncommitted",
        **client_kwargs(security()),
    )
    await consumer.start()
    # Let the consumer's background task begin: aiokafka 0.14 raises CancelledError from stop() when a
    # consumer without a group is stopped before that task ever ran (e.g. nothing to read).
    await asyncio.sleep(0)
    try:
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    # The kit's producer: idempotent and acks=all, like the services, so a retried send is not written twice.
    client = create_producer(bootstrap, CLIENT_ID, security())
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


Topology = dict[str, list[TopicPartition]]
"""Every topic on the cluster and its partitions, in order."""


async def topology(bootstrap: str) -> Topology:
    # The admin client's metadata, not the consumer's: a consumer only keeps metadata of topics it is using.
    async with admin_client(bootstrap) as admin:
        described = await admin.describe_topics()
    return {
        item["topic"]: sorted(TopicPartition(item["topic"], p["partition"]) for p in item["partitions"])
        for item in described
        if not item["error_code"]
    }


TOPIC_VISIBLE_TIMEOUT_S = 15.0


async def wait_for_topics(bootstrap: str, names: Iterable[str]) -> Topology:
    """The topology once every name is in the metadata: a topic just created may take a moment to appear."""
    wanted = set(names)
    deadline = time.monotonic() + TOPIC_VISIBLE_TIMEOUT_S
    while True:
        cluster = await topology(bootstrap)
        missing = wanted - set(cluster)
        if not missing:
            return cluster
        if time.monotonic() > deadline:
            raise CommandError(f"topics still not in the cluster metadata: {', '.join(sorted(missing))}")
        await asyncio.sleep(0.2)


async def read_range(
    consumer: AIOKafkaConsumer,
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    idle_timeout: float = READ_IDLE_TIMEOUT_S,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record with start <= offset < end, per partition, then stop.

    The end offsets are captured by the caller before reading, so the read terminates even while producers keep
    appending; records that arrive later are left for the next run.
    """
    consumer.assign(list(starts))
    pending: set[TopicPartition] = set()
    for tp, start in starts.items():
        if start < ends[tp]:
            consumer.seek(tp, start)
            pending.add(tp)
    last_progress = time.monotonic()
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for tp, records in batches.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        for tp in list(pending):
            # position(), not the last record's offset: transaction markers take offsets but yield no record.
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        if batches:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > idle_timeout:
            stuck = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(pending))
            raise CommandError(f"no progress reading {stuck} for {idle_timeout:.0f}s; is the broker healthy?")


async def log_bounds(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(first offset, end offset) per partition; end is the offset the next record will get."""
    tps = list(partitions)
    if not tps:
        return {}, {}
    beginnings, ends = await asyncio.gather(consumer.beginning_offsets(tps), consumer.end_offsets(tps))
    return dict(beginnings), dict(ends)
