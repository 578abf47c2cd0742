"""Database engines that behave the same on SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine


def create_database_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so a relay and a consumer can share the file.

    Parameters are hidden from SQLAlchemy's error messages and logs: they are the rows' values (names, e-mails)."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite_connection)
        # pysqlite opens transactions lazily and upgrades read locks to write locks mid-transaction, which
        # deadlocks two writers; BEGIN IMMEDIATE takes the write lock up front and lets busy_timeout work.
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" listener issue BEGIN itself instead of pysqlite's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: everything written in the block commits together, or nothing does."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def lock_until_commit(session: Session, names: Iterable[str], *, shared: bool = False) -> None:
    """Hold PostgreSQL advisory locks on `names` until this transaction ends, so replicas deciding about the same
    thing take turns and the second sees what the first committed (READ COMMITTED would hide it).

    All in one statement and in sorted key order, so two transactions locking overlapping sets cannot deadlock;
    re-entrant within a transaction. SQLite needs none: every transaction begins with BEGIN IMMEDIATE, which
    already serialises writers.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({advisory_lock_key(name) for name in names})
    if not keys:
        return
    session.execute(_SHARED_LOCKS if shared else _EXCLUSIVE_LOCKS, {"keys": keys})


_EXCLUSIVE_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
_SHARED_LOCKS = text("SELECT pg_advisory_xact_lock_shared(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def advisory_lock_key(name: str) -> int:
    """PostgreSQL's advisory lock keys are signed 64-bit integers: the first 8 bytes of the name's SHA-256."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
