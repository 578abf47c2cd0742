"""Parked outbox rows: what the relay sets aside so it never jams, and what an operator does with them.

A row is *parked* (`parked_at` set, `published_at` empty) when the broker refuses it for good (too large, an
invalid record, a value the producer cannot serialise): retrying would fail the same way for ever. To keep each
key's events in the order they were written, every later row of the same (topic, key) is parked too, with the
reason `waiting behind parked row N`, until an operator acts on row N:

- *release* N: the relay tries N again (after the operator raised a limit, say) and the rows waiting behind it
  with it, in id order;
- *discard* N: N is never sent (the row stays, for audit, its reason saying who discarded it and why); the rows
  waiting behind it are released.

Every other key keeps flowing. `mc-ops outbox parked|release|discard` is the operator's door to these functions.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, Table, TextualSelect, and_, func, not_, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from reliability.database import transaction
from reliability.tables import OutboxMessage

WAITING_PREFIX = "waiting behind parked row "
DISCARDED_PREFIX = "discarded: "
"""A discarded row keeps `parked_at` and its reason starts with this: never sent, never deleted."""
_REASON_LIMIT = 4000
_ROWS: Table = OutboxMessage.__table__  # type: ignore[attr-defined]


def waiting_reason(head_id: int) -> str:
    return f"{WAITING_PREFIX}{head_id}"


@dataclass(frozen=True)
class ParkedRow:
    """What an operator sees of a parked row: never its value (it may carry personal data)."""

    id: int
    topic: str
    key: str
    size: int
    reason: str
    parked_at: datetime


def _open_parked() -> ColumnElement[bool]:
    return and_(
        _ROWS.c.published_at.is_(None),
        _ROWS.c.parked_at.is_not(None),
        not_(_ROWS.c.parked_reason.startswith(DISCARDED_PREFIX)),
    )


def blocking_heads(engine: Engine | Connection) -> dict[tuple[str, bytes], int]:
    """{(topic, key): id of its first parked row} for every key whose later rows must wait."""
    with engine.connect() if isinstance(engine, Engine) else nullcontext(engine) as connection:
        query = blocking_heads_query(connection.dialect.name)
        return {(topic, bytes(key)): int(head) for topic, key, head in connection.execute(query)}


def blocking_heads_query(dialect_name: str) -> Select[tuple[str, bytes, int]] | TextualSelect:
    """The parked heads, as the relay joins them to its next batch, read from the parked rows' index only.

    SQLite, which has no statistics here, would rather walk the index of every unpublished row (the relay's whole
    backlog, every round): it is told the index (`INDEXED BY`, which SQLAlchemy's hints do not render for it)."""
    if dialect_name == "sqlite":
        return _SQLITE_HEADS
    return (
        select(_ROWS.c.topic, _ROWS.c.key, func.min(_ROWS.c.id).label("head"))
        .where(_open_parked())
        .where(not_(_ROWS.c.parked_reason.startswith(WAITING_PREFIX)))
        .group_by(_ROWS.c.topic, _ROWS.c.key)
    )


_SQLITE_HEADS = (
    text(
        "SELECT topic, key, min(id) AS head FROM outbox_message INDEXED BY ix_outbox_message_parked"
        " WHERE published_at IS NULL AND parked_at IS NOT NULL"
        " AND parked_reason NOT LIKE :discarded AND parked_reason NOT LIKE :waiting GROUP BY topic, key"
    )
    .bindparams(discarded=DISCARDED_PREFIX + "%", waiting=WAITING_PREFIX + "%")
    .columns(_ROWS.c.topic, _ROWS.c.key, func.min(_ROWS.c.id).label("head"))
)


def park_rows(engine: Engine, reasons: dict[int, str]) -> None:
    """Park each row id with its reason, in one transaction (one UPDATE per distinct reason), the refused heads
    first. Rows waiting behind a head are parked only while that head still is: an operator may have released it
    since the relay read the batch, and rows parked behind a released head would wait for ever. Left pending
    instead, they go out in the next round, after the head. On PostgreSQL the head's row is locked for this (a
    release locks it too); SQLite's writers take turns anyway."""
    by_reason: dict[str, list[int]] = {}
    for row_id, reason in reasons.items():
        by_reason.setdefault(reason[:_REASON_LIMIT], []).append(row_id)
    if not by_reason:
        return
    now = datetime.now(UTC)
    with transaction(engine) as session:
        for reason, ids in sorted(by_reason.items(), key=lambda item: item[0].startswith(WAITING_PREFIX)):
            if reason.startswith(WAITING_PREFIX) and not _still_parked(session, int(reason[len(WAITING_PREFIX) :])):
                continue
            session.execute(update(_ROWS).where(_ROWS.c.id.in_(ids)).values(parked_at=now, parked_reason=reason))


def _still_parked(session: Session, head_id: int) -> bool:
    statement = select(_ROWS.c.id).where(_ROWS.c.id == head_id).where(_open_parked()).with_for_update(read=True)
    return session.execute(statement).first() is not None


def count_parked(engine: Engine) -> int:
    """Rows parked and not discarded: refused heads and the rows waiting behind them."""
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).where(_open_parked())) or 0)


def list_parked(engine: Engine, include_discarded: bool = False, limit: int = 1000) -> list[ParkedRow]:
    condition = _ROWS.c.parked_at.is_not(None) if include_discarded else _open_parked()
    statement = (
        select(
            _ROWS.c.id,
            _ROWS.c.topic,
            _ROWS.c.key,
            func.length(_ROWS.c.value),
            _ROWS.c.parked_reason,
            _ROWS.c.parked_at,
        )
        .where(condition)
        .where(_ROWS.c.published_at.is_(None))
        .order_by(_ROWS.c.id)
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            ParkedRow(int(i), topic, bytes(key).decode("utf-8", "replace"), int(size), reason or "", parked_at)
            for i, topic, key, size, reason, parked_at in session.execute(statement)
        ]


class NotParked(LookupError):
    """The row does not exist, was published, or is not parked (or was discarded already)."""


def release(engine: Engine, row_id: int) -> int:
    """Unpark row `row_id` and the rows waiting behind it; returns how many rows the relay will try again."""
    with transaction(engine) as session:
        _require_open(session, row_id)
        result = session.execute(
            update(_ROWS)
            .where(_open_parked())
            .where(or_(_ROWS.c.id == row_id, _ROWS.c.parked_reason == waiting_reason(row_id)))
            .values(parked_at=None, parked_reason=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def discard(engine: Engine, row_id: int, reason: str) -> int:
    """Mark row `row_id` never to be sent (kept for audit); the rows waiting behind it are released (returned)."""
    if not reason.strip():
        raise ValueError("a discard needs a reason")
    with transaction(engine) as session:
        previous = _require_open(session, row_id)
        session.execute(
            update(_ROWS)
            .where(_ROWS.c.id == row_id)
            .values(parked_reason=f"{DISCARDED_PREFIX}{reason.strip()} (was: {previous})"[:_REASON_LIMIT])
        )
        result = session.execute(
            update(_ROWS)
            .where(_open_parked())
            .where(_ROWS.c.parked_reason == waiting_reason(row_id))
            .values(parked_at=None, parked_reason=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _require_open(session: Session, row_id: int) -> str:
    statement = select(_ROWS.c.parked_reason).where(_ROWS.c.id == row_id).where(_open_parked()).with_for_update()
    reason = session.execute(statement).scalar_one_or_none()
    if reason is None:
        raise NotParked(f"outbox row {row_id} is not parked (unknown, published or discarded)")
    return str(reason)
