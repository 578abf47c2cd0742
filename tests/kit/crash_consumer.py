"""Runs the kit's consumer in its own process, so a test can kill it at the worst moment.

usage: python -m tests.kit.crash_consumer BOOTSTRAP PREFIX DATABASE_URL EXPECTED [--die-after-database-commit N]
Exits 0 once EXPECTED distinct events are applied; with --die-after-database-commit it dies (os._exit, no
cleanup, no offset commit) right after the N-th batch's database transaction committed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from reliability.consumer import ConsumerSettings, IdempotentConsumer, RetryPolicy
from reliability.producer import create_producer
from sqlalchemy.engine import Engine

from contracts import topics
from tests.kit.kit_support import applied_counts, make_engine, record_cancellation

DIED = 17


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("prefix")
    parser.add_argument("database_url")
    parser.add_argument("expected", type=int)
    parser.add_argument("--die-after-database-commit", type=int, default=0)
    parser.add_argument("--max-records", type=int, default=7)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    batches = 0

    def maybe_die(_records: object) -> None:
        nonlocal batches
        batches += 1
        if batches == args.die_after_database_commit:
            os._exit(DIED)

    producer = create_producer(args.bootstrap, "crash-test")
    await producer.start()
    consumer = IdempotentConsumer(
        ConsumerSettings(
            name="crash-test",
            bootstrap_servers=args.bootstrap,
            group_id=f"{args.prefix}crash-group",
            topics=[topics.ENROLMENT_EVENTS],
            topic_prefix=args.prefix,
            max_records=args.max_records,
            poll_timeout_ms=100,
            session_timeout_ms=6000,
            retry=RetryPolicy(first_delay=0.05, max_delay=0.5),
        ),
        engine,
        {"EnrolmentCancelled": record_cancellation},
        producer,
        after_database_commit=maybe_die,
    )
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(60):
            while not await caught_up(consumer, engine, args.expected):
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 15)
        await producer.stop()
    return 0


async def caught_up(consumer: IdempotentConsumer, engine: Engine, expected: int) -> bool:
    """Every event applied *and* every partition's offsets committed to its end. Applied alone is not enough: a
    partition whose events were applied before a crash is redelivered and only skipped, and its commit may still
    be to come when the last new event is applied elsewhere."""
    if len(applied_counts(engine)) < expected or not consumer.consumers:
        return False
    kafka = consumer.consumers[0]
    partitions = list(kafka.assignment())
    if not partitions:
        return False
    ends = await kafka.end_offsets(partitions)
    for partition in partitions:
        if (await kafka.committed(partition) or 0) < ends[partition]:
            return False
    return True


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
