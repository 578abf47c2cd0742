"""Smoke test on a real broker: keyed CloudEvents, manual commits, and a consumer group resuming exactly
where the previous member committed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from localkafka import ensure_topics

from tests.kafka_fixtures import NewTopic

pytestmark = pytest.mark.kafka

CLOUDEVENTS_JSON = b"application/cloudevents+json"
KEYS = [f"learner-{i:02d}" for i in range(12)]
EVENTS_PER_KEY = 5
PROCESSED_BEFORE_STOP = 23

# A consumer key for a record: where it sits in the log.
Position = tuple[int, int]


def cloud_event(key: str, seq: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/tests/smoke",
        "type": "be.microcredentials.smoke.step.v1",
        "subject": key,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"learner": key, "seq": seq},
    }


def new_consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        key_deserializer=bytes.decode,
        value_deserializer=json.loads,
        # Small batches so the first member really stops with fetched-but-unprocessed records.
        max_poll_records=5,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )


async def test_topics_are_created_explicitly_and_idempotently(kafka_bootstrap: str) -> None:
    name = f"smoke-explicit-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [name])
    await ensure_topics(kafka_bootstrap, [name], partitions=6)  # existing topic: left as it is

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert described["error_code"] == 0
    assert len(described["partitions"]) == 3


async def test_group_resumes_exactly_after_committed_offsets(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    async with asyncio.timeout(25):
        topic = await new_topic("smoke")
        group = f"smoke-group-{uuid.uuid4().hex[:8]}"

        # -- produce: EVENTS_PER_KEY events per key, interleaved across keys ----------------------------
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            key_serializer=str.encode,
            value_serializer=lambda v: json.dumps(v).encode(),
        )
        await producer.start()
        produced: dict[Position, tuple[str, int]] = {}
        try:
            for seq in range(EVENTS_PER_KEY):
                for key in KEYS:
                    meta = await producer.send_and_wait(
                        topic,
                        key=key,
                        value=cloud_event(key, seq),
                        headers=[("content-type", CLOUDEVENTS_JSON)],
                    )
                    produced[(meta.partition, meta.offset)] = (key, seq)
        finally:
            await producer.stop()
        assert len(produced) == len(KEYS) * EVENTS_PER_KEY

        partitions_by_key: dict[str, set[int]] = defaultdict(set)
        for (partition, _), (key, _) in produced.items():
            partitions_by_key[key].add(partition)
        assert all(len(p) == 1 for p in partitions_by_key.values()), "a key was spread over partitions"

        # -- first member: process some records, commit exactly those, stop -----------------------------
        first = new_consumer(kafka_bootstrap, topic, group)
        await first.start()
        processed: list[Position] = []
        next_offset: dict[TopicPartition, int] = {}
        try:
            while len(processed) < PROCESSED_BEFORE_STOP:
                batches = await first.getmany(timeout_ms=1_000)
                for tp, records in batches.items():
                    for record in records:
                        if len(processed) == PROCESSED_BEFORE_STOP:
                            break  # fetched but not processed: must come back to the next member
                        assert dict(record.headers)["content-type"] == CLOUDEVENTS_JSON
                        assert record.value["specversion"] == "1.0"
                        assert record.value["subject"] == record.key
                        processed.append((record.partition, record.offset))
                        next_offset[tp] = record.offset + 1
            await first.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in next_offset.items()})
        finally:
            await first.stop()

        committed = {tp.partition: offset for tp, offset in next_offset.items()}
        assert len(processed) == PROCESSED_BEFORE_STOP
        assert len(set(processed)) == len(processed), "first member saw a record twice"

        # -- second member, same group: must start at the committed offsets ---------------------------
        second = new_consumer(kafka_bootstrap, topic, group)
        await second.start()
        resumed: list[Position] = []
        first_offset_seen: dict[int, int] = {}
        remaining = len(produced) - len(processed)
        try:
            for tp, offset in next_offset.items():
                assert await second.committed(tp) == offset
            while len(resumed) < remaining:
                batches = await second.getmany(timeout_ms=1_000)
                for records in batches.values():
                    for record in records:
                        first_offset_seen.setdefault(record.partition, record.offset)
                        resumed.append((record.partition, record.offset))
            # Nothing beyond the remaining records may show up (e.g. committed ones delivered again).
            extra = await second.getmany(timeout_ms=500)
            assert not any(extra.values()), f"unexpected extra records: {extra}"
        finally:
            await second.stop()

        for partition, offset in first_offset_seen.items():
            assert offset == committed.get(partition, 0), f"partition {partition} did not resume at its commit"
        assert not set(resumed) & set(processed), "committed records were consumed again"
        assert set(resumed) | set(processed) == set(produced), "records were skipped"
        assert len(resumed) == len(set(resumed))

        # -- per key: one partition, and the consumed order is the produced order ---------------------
        consumed_seq: dict[str, list[int]] = defaultdict(list)
        for position in processed + resumed:
            key, seq = produced[position]
            consumed_seq[key].append(seq)
        assert consumed_seq == {key: list(range(EVENTS_PER_KEY)) for key in KEYS}
