"""Helpers for the opscli tests: run the CLI in-process, dead-letter messages the way the kit does, read topics."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, RecordMetadata
from opscli import amain
from opscli.kafka import topology
from reliability.dead_letter import dead_letter_headers

from contracts import topics as contract


def unique_prefix() -> str:
    return f"ops{uuid.uuid4().hex[:10]}."


async def cli(bootstrap: str, prefix: str, *args: str) -> tuple[int, str]:
    """Exit status and stdout of one command, run on the test's event loop."""
    out = io.StringIO()
    code = await amain(["--bootstrap", bootstrap, "--topic-prefix", prefix, *args], out=out)
    return code, out.getvalue()


async def cli_json(bootstrap: str, prefix: str, *args: str) -> Any:
    code, output = await cli(bootstrap, prefix, *args, "--json")
    assert code == 0, output
    return json.loads(output)


async def create_topics(bootstrap: str, prefix: str) -> None:
    code, output = await cli(bootstrap, prefix, "topics", "create")
    assert code == 0, output


async def dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    reason: str,
    consumer: str,
    partition: int | None = None,
) -> tuple[RecordMetadata, RecordMetadata]:
    """Publish a message to `topic`, then put it on `topic.dlq` exactly as the kit's consumer would."""
    original = await producer.send_and_wait(topic, key=key, value=value, headers=headers, partition=partition)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=original.topic,
        partition=original.partition,
        offset=original.offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=headers,
    )
    dlq = await producer.send_and_wait(
        contract.dead_letter_topic(topic),
        key=key,
        value=value,
        headers=dead_letter_headers(record, reason, consumer),
        partition=original.partition,
    )
    return original, dlq


async def read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in the topic, in (partition, offset) order; no consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = (await topology(bootstrap))[topic]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for records_of_tp in batches.values():
                records.extend(records_of_tp)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()
