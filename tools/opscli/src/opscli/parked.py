"""`mc-ops outbox parked|release|discard` and `mc-ops parked list|resend|discard`: what a service set aside.

These read and write a service's own database (each service has one), not Kafka: `--database-url URL`, else
`$<SERVICE>_DATABASE_URL` for `--service NAME` (BILLING_DATABASE_URL), else `$DATABASE_URL` — the service's own
setting. No command prints a value (events carry names and e-mail addresses): ids, topics, keys, sizes, reasons.

- outbox rows the relay parked (`reliability.outbox_parking`): `release` lets the relay try the row again with the
  rows of its key waiting behind it, `discard` marks it never to be sent (kept for audit) and releases them;
- consumed records the consumer parked (`reliability.tables.ParkedRecord`, when even the dead letter failed):
  `resend` puts the stored record on its dead-letter topic, bounded like a dead letter (an oversized value as
  its first `DEAD_LETTER_EXCERPT_BYTES` with the SHA-256 and size of the whole: the kit's own
  `reliability.dead_letter.dead_letter_of`), and closes it; `discard` closes
  it without sending. Closed records stay in the table (`released_at`), for audit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

from aiokafka.structs import ConsumerRecord
from reliability import outbox_parking
from reliability.database import create_database_engine, transaction
from reliability.dead_letter import dead_letter_of as kit_dead_letter_of
from reliability.tables import ParkedRecord
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from contracts import topics as contract
from opscli.kafka import CommandError, producer
from opscli.output import dump_json, table, truncate

T = TypeVar("T")
_RECORDS = ParkedRecord.__table__  # type: ignore[attr-defined]


def engine_for(database_url: str | None, service: str | None) -> Engine:
    url = database_url
    if url is None and service:
        url = os.environ.get(f"{service.upper().replace('-', '_')}_DATABASE_URL")
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        raise CommandError("no database: give --database-url, or set DATABASE_URL (or <SERVICE>_DATABASE_URL)")
    return create_database_engine(url)  # which hides the SQL parameters (the rows' values)


def _database(action: Callable[[], T]) -> T:
    """Run `action`; a database error is one line for the operator (the type, never the SQL's parameters)."""
    try:
        return action()
    except SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        raise CommandError(f"database: {type(error).__name__}: {detail}") from error


# -- outbox rows ------------------------------------------------------------------------------------------------


def outbox_parked_command(engine: Engine, include_discarded: bool, as_json: bool, out: TextIO) -> int:
    rows = _database(lambda: outbox_parking.list_parked(engine, include_discarded))
    if as_json:
        dump_json([{**asdict(row), "parked_at": row.parked_at.isoformat()} for row in rows], out)
        return 0
    table(
        ["ID", "TOPIC", "KEY", "SIZE", "PARKED_AT", "REASON"],
        [
            [r.id, r.topic, r.key, r.size, r.parked_at.isoformat(timespec="seconds"), truncate(r.reason, 90)]
            for r in rows
        ],
        out,
    )
    print(f"\n{len(rows)} parked outbox row(s)", file=out)
    return 0


def outbox_release_command(engine: Engine, row_id: int, out: TextIO) -> int:
    released = _database(lambda: _parked_call(outbox_parking.release, engine, row_id))
    print(f"released outbox row {row_id} and {released - 1} row(s) waiting behind it; the relay sends them", file=out)
    return 0


def outbox_discard_command(engine: Engine, row_id: int, reason: str, out: TextIO) -> int:
    if not reason.strip():
        raise CommandError("--reason must say why the row is never to be sent")
    released = _database(lambda: _parked_call(outbox_parking.discard, engine, row_id, reason))
    print(f"discarded outbox row {row_id} (kept for audit); released {released} row(s) waiting behind it", file=out)
    return 0


def _parked_call(function: Any, *args: Any) -> int:
    try:
        return int(function(*args))
    except outbox_parking.NotParked as error:
        raise CommandError(str(error)) from error


# -- consumed records -------------------------------------------------------------------------------------------


def parked_list_command(engine: Engine, consumer: str | None, show_all: bool, as_json: bool, out: TextIO) -> int:
    def load() -> list[dict[str, Any]]:
        c = _RECORDS.c
        statement = select(
            c.id, c.consumer, c.topic, c.partition, c.offset, func.length(c.value), c.reason, c.parked_at, c.released_at
        ).order_by(c.id)
        if not show_all:
            statement = statement.where(c.released_at.is_(None))
        if consumer:
            statement = statement.where(c.consumer == consumer)
        names = ("id", "consumer", "topic", "partition", "offset", "size", "reason", "parked_at", "released_at")
        with Session(engine) as session:
            return [dict(zip(names, row, strict=True)) for row in session.execute(statement)]

    records = _database(load)
    if as_json:
        dump_json(
            [{**r, "parked_at": _iso(r["parked_at"]), "released_at": _iso(r["released_at"])} for r in records], out
        )
        return 0
    table(
        ["ID", "CONSUMER", "TOPIC", "PARTITION", "OFFSET", "SIZE", "PARKED_AT", "RELEASED_AT", "REASON"],
        [
            [
                *(r["id"], r["consumer"], r["topic"], r["partition"], r["offset"], r["size"]),
                *(_iso(r["parked_at"]), _iso(r["released_at"]), truncate(r["reason"], 70)),
            ]
            for r in records
        ],
        out,
    )
    print(f"\n{len(records)} parked record(s)", file=out)
    return 0


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _open_record(session: Session, record_id: int) -> ParkedRecord:
    record = session.get(ParkedRecord, record_id, with_for_update=True)
    if record is None or record.released_at is not None:
        raise CommandError(f"parked record {record_id} is unknown or already resent/discarded")
    return record


def dead_letter_of(record: ParkedRecord, prefix: str) -> tuple[str, bytes | None, list[tuple[str, bytes]]]:
    """(DLQ topic, value, headers) of a parked record, bounded so the broker always takes it."""
    headers = [(name, value.encode("latin-1")) for name, value in record.headers]
    topic = record.topic if record.topic.startswith(prefix) else prefix + record.topic
    original: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=0,
        timestamp_type=0,
        key=record.key,
        value=record.value,
        checksum=None,
        serialized_key_size=len(record.key or b""),
        serialized_value_size=len(record.value or b""),
        headers=headers,
    )
    # The kit's own writer: whole if it fits, else the bounded envelope (excerpt, dlq-value-sha256, -bytes, -truncated).
    letter = kit_dead_letter_of(original, record.reason, record.consumer)
    return contract.dead_letter_topic(topic), letter.value, letter.headers


async def parked_resend_command(engine: Engine, bootstrap: str, prefix: str, record_id: int, out: TextIO) -> int:
    def load() -> ParkedRecord:
        with Session(engine, expire_on_commit=False) as session:
            return _open_record(session, record_id)

    record = _database(load)
    topic, value, headers = dead_letter_of(record, prefix)
    async with producer(bootstrap) as sender:
        sent = await sender.send_and_wait(topic, key=record.key, value=value, headers=headers)
    note = f"; resent to {topic} partition {sent.partition} offset {sent.offset}"
    _database(lambda: _close(engine, record_id, lambda reason: (reason + note)[-4000:]))
    print(f"parked record {record_id} sent to {topic} (partition {sent.partition}, offset {sent.offset})", file=out)
    return 0


def parked_discard_command(engine: Engine, record_id: int, reason: str, out: TextIO) -> int:
    if not reason.strip():
        raise CommandError("--reason must say why the record is not sent on")
    _database(lambda: _close(engine, record_id, lambda was: f"discarded: {reason.strip()} (was: {was})"[:4000]))
    print(f"parked record {record_id} discarded (kept for audit)", file=out)
    return 0


def _close(engine: Engine, record_id: int, new_reason: Any) -> None:
    with transaction(engine) as session:
        record = _open_record(session, record_id)
        record.reason = new_reason(record.reason)
        record.released_at = datetime.now(UTC)
