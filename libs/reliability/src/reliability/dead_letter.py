"""Dead-lettering: the rejected message goes unchanged to `<topic>.dlq` with headers saying why and where from."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord

from contracts import topics


def dead_letter_headers(
    record: ConsumerRecord,
    reason: str,
    consumer: str,
) -> list[tuple[str, bytes]]:
    original = list(record.headers or [])
    # The reason is for people reading the DLQ; cap it so one huge validation error can't exceed max message size.
    return [
        *original,
        (topics.DLQ_REASON, reason[:4000].encode("utf-8")),
        (topics.DLQ_CONSUMER, consumer.encode("utf-8")),
        (topics.DLQ_ORIGINAL_TOPIC, record.topic.encode("utf-8")),
        (topics.DLQ_ORIGINAL_PARTITION, str(record.partition).encode("ascii")),
        (topics.DLQ_ORIGINAL_OFFSET, str(record.offset).encode("ascii")),
        (topics.DLQ_AT, datetime.now(UTC).isoformat().encode("ascii")),
    ]
