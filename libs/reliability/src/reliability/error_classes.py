"""What kind of failure a consumer is looking at, and how to describe it without the data that caused it.

Three classes, each with its own treatment in `reliability.consumer`:
- transient: the infrastructure (broker, database connection, pool timeout, lock timeout, serialisation failure
  or deadlock on PostgreSQL). Retried with capped backoff until it clears; never dead-lettered.
- rejection: the contract (`contracts.InvalidEvent`) or the domain (`RejectEvent`) says the event can never be
  applied. Dead-lettered at once.
- unexpected: anything else (a bug). Retried a bounded number of times, then dead-lettered, unless the same class
  keeps failing event after event: then the partition is paused for an operator (see the consumer).

`safe_reason` is what goes into ``dlq-reason`` and the logs: the exception's type and, for database errors, the
driver's error class, SQLSTATE and constraint name. Never ``str(error)``: SQLAlchemy's includes the statement's
parameters and PostgreSQL's DETAIL quotes the row's values (names, e-mails).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""serialization_failure, deadlock_detected, lock_not_available: the same transaction succeeds when run again."""


@dataclass
class ErrorStreak:
    """The unexpected exception class that failed a partition's last events, and how many in a row."""

    error: str = ""
    events: int = 0


def is_transient(error: BaseException) -> bool:
    """Errors of the infrastructure (database or broker unreachable, pool or lock timeouts), not of the event."""
    for cause in _chain(error):
        if isinstance(
            cause, OperationalError | PoolTimeoutError | KafkaError | ConnectionError | builtins.TimeoutError
        ):
            return True
        if isinstance(cause, DBAPIError) and (cause.connection_invalidated or sqlstate(cause) in TRANSIENT_SQLSTATES):
            return True
    return False


def sqlstate(error: DBAPIError) -> str | None:
    """The SQLSTATE of the driver's error: psycopg 3 ``sqlstate``, psycopg2 ``pgcode``; None elsewhere (SQLite)."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def safe_reason(error: BaseException) -> str:
    """The error's type and, for a database error, its driver class, SQLSTATE and constraint; never its message."""
    name = type(error).__name__
    if not isinstance(error, DBAPIError):
        return name
    parts = [type(error.orig).__name__] if error.orig is not None else []
    code = sqlstate(error)
    if code:
        parts.append(f"SQLSTATE {code}")
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if isinstance(constraint, str) and constraint:
        parts.append(f"constraint {constraint}")
    return f"{name} ({', '.join(parts)})" if parts else name


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it (a handler may wrap a database error in its own), at most a few deep."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(found) < 5 and current not in found:
        found.append(current)
        current = current.__cause__
    return found
