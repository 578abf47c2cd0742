"""Kill the consumer between its database commit and its offset commit: nothing is applied twice or lost."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from reliability.topics import ensure_topics

from contracts import topics
from tests.kit.crash_consumer import DIED
from tests.kit.kit_support import applied_counts, cancellation, make_engine, publish

pytestmark = pytest.mark.kafka


def run_consumer(bootstrap: str, prefix: str, database_url: str, expected: int, die_after: int = 0) -> int:
    command = [sys.executable, "-m", "tests.kit.crash_consumer", bootstrap, prefix, database_url, str(expected)]
    if die_after:
        command += ["--die-after-database-commit", str(die_after)]
    return subprocess.run(command, timeout=120, check=False).returncode


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        total = 0
        for partition in range(3):
            total += await reader.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await reader.stop()


async def test_killed_between_database_commit_and_offset_commit_applies_every_event_once(
    kafka_bootstrap, database_url, producer
):
    prefix = f"crash{uuid.uuid4().hex[:8]}."
    topic = prefix + topics.ENROLMENT_EVENTS
    await ensure_topics(kafka_bootstrap, [topic, topics.dead_letter_topic(topic)], partitions=3)
    make_engine(database_url)
    events = [cancellation(f"enr-{n % 10}") for n in range(60)]
    await publish(producer, prefix, events)

    # Each run dies right after committing a batch to the database, before committing its offsets.
    for die_after in (1, 2, 3):
        assert run_consumer(kafka_bootstrap, prefix, database_url, len(events), die_after) == DIED
    engine = make_engine(database_url)
    applied_before_recovery = applied_counts(engine)
    assert 0 < len(applied_before_recovery) < len(events)
    assert await committed_offsets(kafka_bootstrap, f"{prefix}crash-group", topic) < len(events)

    assert run_consumer(kafka_bootstrap, prefix, database_url, len(events)) == 0
    assert applied_counts(engine) == {event.id: 1 for event in events}
    assert await committed_offsets(kafka_bootstrap, f"{prefix}crash-group", topic) == len(events)
