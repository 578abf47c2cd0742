"""Dead-lettering: the rejected message goes to `<topic>.dlq` with headers saying why and where from.

A dead letter is normally the original record unchanged (key, value and headers byte for byte) plus the kit's
``dlq-*`` headers. One that would not fit the broker's limit with those headers added (a value near 1 MiB, or
huge headers) goes out as a bounded envelope instead, so the DLQ send can never fail on size:
- the original headers, as many as fit in `contracts.limits.MAX_HEADER_BYTES` (in order);
- the kit's ``dlq-*`` headers, plus ``dlq-value-bytes`` (the original value's length), ``dlq-value-sha256`` (hex
  SHA-256 of the whole original value) and ``dlq-truncated`` (what was cut: ``value``, ``headers``, ``key``);
- as value, the first `contracts.limits.DEAD_LETTER_EXCERPT_BYTES` of the original value.
The full bytes stay at the original coordinates (``dlq-original-topic/partition/offset``): read them there and
check them against ``dlq-value-sha256``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord
from contracts.limits import BROKER_MAX_MESSAGE_BYTES, DEAD_LETTER_EXCERPT_BYTES, MAX_HEADER_BYTES

from contracts import topics

Headers = list[tuple[str, bytes]]

DEAD_LETTER_BOUND = BROKER_MAX_MESSAGE_BYTES - 64 * 1024
"""The largest dead letter (key + value + headers) sent whole: well below the producer's request limit and the
topic's ``max.message.bytes``, leaving room for the record batch's own framing."""

REASON_CHARS = 4000


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def truncated(self) -> bool:
        return any(name == topics.DLQ_TRUNCATED for name, _ in self.headers)


def dead_letter_of(record: ConsumerRecord, reason: str, consumer: str) -> DeadLetter:
    """What goes to the DLQ for `record`: the record unchanged if it fits, else the bounded envelope."""
    headers = dead_letter_headers(record, reason, consumer)
    whole = DeadLetter(record.key, record.value, headers)
    if message_bytes(whole) <= DEAD_LETTER_BOUND:
        return whole
    return _envelope(record, reason, consumer)


def dead_letter_headers(record: ConsumerRecord, reason: str, consumer: str) -> Headers:
    return [*(record.headers or []), *_kit_headers(record, reason, consumer)]


def message_bytes(letter: DeadLetter) -> int:
    return len(letter.key or b"") + len(letter.value or b"") + _headers_bytes(letter.headers)


def _kit_headers(record: ConsumerRecord, reason: str, consumer: str) -> Headers:
    # The reason is for people reading the DLQ; capped so one huge validation error can't exceed the limit.
    return [
        (topics.DLQ_REASON, reason[:REASON_CHARS].encode("utf-8")),
        (topics.DLQ_CONSUMER, consumer.encode("utf-8")),
        (topics.DLQ_ORIGINAL_TOPIC, record.topic.encode("utf-8")),
        (topics.DLQ_ORIGINAL_PARTITION, str(record.partition).encode("ascii")),
        (topics.DLQ_ORIGINAL_OFFSET, str(record.offset).encode("ascii")),
        (topics.DLQ_AT, datetime.now(UTC).isoformat().encode("ascii")),
    ]


def _envelope(record: ConsumerRecord, reason: str, consumer: str) -> DeadLetter:
    value = record.value or b""
    cut: list[str] = []
    if len(value) > DEAD_LETTER_EXCERPT_BYTES:
        cut.append("value")
    original = list(record.headers or [])
    kept = _first_headers_within(original, MAX_HEADER_BYTES)
    if len(kept) < len(original):
        cut.append("headers")
    key = record.key
    if key is not None and len(key) > MAX_HEADER_BYTES:
        key = key[:MAX_HEADER_BYTES]
        cut.append("key")
    envelope_headers = [
        *kept,
        *_kit_headers(record, reason, consumer),
        (topics.DLQ_VALUE_BYTES, str(len(value)).encode("ascii")),
        (topics.DLQ_VALUE_SHA256, hashlib.sha256(value).hexdigest().encode("ascii")),
        (topics.DLQ_TRUNCATED, ",".join(cut or ["nothing"]).encode("ascii")),
    ]
    return DeadLetter(key, value[:DEAD_LETTER_EXCERPT_BYTES], envelope_headers)


def _first_headers_within(headers: Headers, limit: int) -> Headers:
    kept: Headers = []
    total = 0
    for name, value in headers:
        size = len(name.encode("utf-8")) + len(value or b"")
        if total + size > limit:
            break
        kept.append((name, value))
        total += size
    return kept


def _headers_bytes(headers: Headers) -> int:
    # Per header the record format adds a few varint bytes; counted generously.
    return sum(len(name.encode("utf-8")) + len(value or b"") + 10 for name, value in headers)
