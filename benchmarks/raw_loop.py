"""The baseline: the same Kafka work as billing with nothing else — consume, decode JSON, produce, commit.

Per `getmany` batch: every value is decoded as JSON and one record per input is sent (re-encoded JSON of a
similar size to billing's events) with the kit's own producer settings (idempotent, acks=all, linger 0);
the offsets are committed once all those sends are acknowledged. No database, no validation, no domain: what
is left is the price of aiokafka and the broker, the ceiling a Python consumer on this machine can reach.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from reliability.producer import create_producer

RAW_OUTPUT = "raw.out"


Output = tuple[str, bytes | None, bytes]
"""(topic, key, value) of one record a raw loop sends."""


async def consume_and_pass_on(
    bootstrap: str,
    input_topics: list[str],
    group: str,
    stop: asyncio.Event,
    outputs_of: Callable[[ConsumerRecord[bytes, bytes]], Iterable[Output]],
    max_records: int = 500,
) -> int:
    """Every raw loop's Kafka work, until `stop` is set: from offset 0, per `getmany` batch send what `outputs_of`
    makes of each record, then commit the batch's offsets once those sends are acknowledged; returns records sent."""
    consumer = AIOKafkaConsumer(
        *input_topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
    )
    producer = create_producer(bootstrap, f"{group}-producer")
    await consumer.start()
    await producer.start()
    sent = 0
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=max_records)
            if not batches:
                continue
            deliveries = []
            for records in batches.values():
                for record in records:
                    for topic, key, value in outputs_of(record):
                        deliveries.append(await producer.send(topic, key=key, value=value))
            await asyncio.gather(*deliveries)
            await consumer.commit({partition: records[-1].offset + 1 for partition, records in batches.items()})
            sent += len(deliveries)
    finally:
        await producer.stop()
        await consumer.stop()
    return sent


async def raw_loop(
    bootstrap: str, input_topic: str, output_topic: str, group: str, stop: asyncio.Event, max_records: int = 500
) -> int:
    """Run until `stop` is set; returns how many records were passed on."""

    def passed_on(record: ConsumerRecord[bytes, bytes]) -> tuple[Output]:
        document = json.loads(record.value)
        document["type"] = "Raw" + document["type"]
        return ((output_topic, record.key, json.dumps(document, separators=(",", ":")).encode()),)

    return await consume_and_pass_on(bootstrap, [input_topic], group, stop, passed_on, max_records)


def main() -> None:
    """`python -m benchmarks.raw_loop BOOTSTRAP INPUT OUTPUT GROUP`: the loop as its own process, until SIGTERM."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m benchmarks.raw_loop")
    for name in ("bootstrap", "input", "output", "group"):
        parser.add_argument(name)
    args = parser.parse_args()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await raw_loop(args.bootstrap, args.input, args.output, args.group, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
