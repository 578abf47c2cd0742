"""One batch of outbox rows onto the producer, and which rows the broker took, refused for good, or must see again.

Permanent (the same row would fail the same way for ever; parked): a record too large for the producer's
request limit or the topic's `max.message.bytes` (`MessageSizeTooLargeError`, `RecordListTooLargeError`,
`RecordTooLargeError`), a record the broker calls invalid or corrupt (`INVALID_RECORD`, `CORRUPT_MESSAGE`,
`INVALID_TIMESTAMP`, `UNSUPPORTED_FOR_MESSAGE_FORMAT`), an invalid topic name, and a key, value or headers the
producer cannot serialise (`TypeError`/`ValueError` from `send`).

Transient (the row stays pending, the relay backs off and tries again): everything else — the broker unreachable
or timing out, leadership moving, and authorisation refused (`TOPIC_AUTHORIZATION_FAILED`): a missing ACL is a
deployment slip that an operator fixes once for the whole topic, after which every row flows again in order; parking
would instead set aside every key of the topic for release one by one. The health check shows the relay failing.

A row over the limit is refused here, before `send`, so it never reaches the broker: aiokafka's idempotent producer
numbers the records of a partition, and a batch the broker rejects leaves a gap that fails every later send to
that partition with `OutOfOrderSequenceNumber` for the producer's lifetime (seen on Kafka 4.4 with aiokafka 0.12).
When the broker does refuse a batch (a topic configured smaller than the platform's limit), the relay parks the
refused row and starts a fresh producer (`OutboxRelay(renew_producer=...)`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from contracts.limits import BROKER_MAX_MESSAGE_BYTES

from reliability.outbox_parking import waiting_reason

PERMANENT_ERROR_CODES = frozenset({2, 10, 17, 18, 32, 43, 87})
"""CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, INVALID_TOPIC_EXCEPTION, RECORD_LIST_TOO_LARGE, INVALID_TIMESTAMP,
UNSUPPORTED_FOR_MESSAGE_FORMAT, INVALID_RECORD."""

Key = tuple[str, bytes]


class OutboxRow(Protocol):
    """What the relay reads of an outbox row (a Core row of `outbox_message`)."""

    @property
    def id(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> list[list[str]]: ...


def is_permanent(error: BaseException) -> bool:
    if isinstance(error, MessageSizeTooLargeError | RecordTooLargeError | TypeError | ValueError):
        return True
    return getattr(error, "errno", None) in PERMANENT_ERROR_CODES


def refusal_reason(error: BaseException) -> str:
    # The type and the broker's description, never the record: a value may carry personal data.
    description = getattr(error, "description", None) or getattr(error, "message", None) or ""
    if isinstance(error, MessageSizeTooLargeError | RecordTooLargeError | TypeError | ValueError) and error.args:
        description = str(error.args[0])
    return f"refused by the broker for good: {type(error).__name__}: {str(description)[:500]}".rstrip(": ")


@dataclass
class BatchOutcome:
    published: list[int] = field(default_factory=list)
    parked: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    """The heads among `parked`: {row id: error type}."""
    retry: list[BaseException] = field(default_factory=list)
    """Transient failures of rows left pending."""
    broker_refused: bool = False
    """The broker refused a batch after the producer numbered it: the producer must be renewed."""

    def refuse(self, row_id: int, error: BaseException) -> None:
        self.parked[row_id] = refusal_reason(error)
        self.refused[row_id] = type(error).__name__


def record_size(row: OutboxRow, headers: list[tuple[str, bytes]]) -> int:
    """The size the record takes in a batch of its own: what the broker compares with `max.message.bytes`."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(row.key, row.value, headers))


async def send_batch(
    producer: AIOKafkaProducer,
    rows: Sequence[OutboxRow],
    heads: dict[Key, int],
    topic_prefix: str = "",
    limit: int = BROKER_MAX_MESSAGE_BYTES,
) -> BatchOutcome:
    """Send `rows` (id order) except those of keys in `heads` (parked behind their head); gather each delivery."""
    outcome = BatchOutcome()
    blocked = dict(heads)
    sent: list[tuple[OutboxRow, asyncio.Future[object]]] = []
    for row in rows:
        assert row.id is not None
        key: Key = (row.topic, bytes(row.key))
        if key in blocked:
            outcome.parked[row.id] = waiting_reason(blocked[key])
            continue
        headers = [(name, value.encode("latin-1")) for name, value in row.headers]
        try:
            size = record_size(row, headers)
            if size > limit:
                raise MessageSizeTooLargeError(f"the record is {size} bytes, over the limit of {limit} bytes")
            future = await producer.send(topic_prefix + row.topic, key=row.key, value=row.value, headers=headers)
        except Exception as error:
            if not is_permanent(error):
                raise
            outcome.refuse(row.id, error)
            blocked[key] = row.id
            continue
        sent.append((row, future))
    results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
    for (row, _), result in zip(sent, results, strict=True):
        _settle(outcome, blocked, row, result)
    return outcome


def _settle(outcome: BatchOutcome, blocked: dict[Key, int], row: OutboxRow, result: object) -> None:
    assert row.id is not None
    key: Key = (row.topic, bytes(row.key))
    if not isinstance(result, BaseException):
        outcome.published.append(row.id)
        return
    outcome.broker_refused = True
    if key in blocked:
        outcome.parked[row.id] = waiting_reason(blocked[key])
    elif is_permanent(result):
        outcome.refuse(row.id, result)
        blocked[key] = row.id
    else:
        outcome.retry.append(result)
