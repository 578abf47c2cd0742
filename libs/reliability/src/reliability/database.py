"""Database engines that behave the same on SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)


def create_database_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so a relay and a consumer can share the file.

    Parameters are hidden from SQLAlchemy's error messages and logs: they are the rows' values (names, e-mails)."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS, "factory": TurnTakingConnection}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine)
    return engine


IDLE_BEFORE_PING_SECONDS = 2.0


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for `IDLE_BEFORE_PING_SECONDS`.

    `pool_pre_ping` pings at every checkout: a round trip in each transaction, one of about fifteen in billing's
    and three in every round of the relay at 200 events/s. A connection in use moments ago is as alive as a ping
    would show; if the server went away in between, the statement fails as a disconnect, SQLAlchemy discards
    every pooled connection of before, and the caller's retry (the consumer's, the relay's next round) gets a
    new one, as it would for a server lost mid-transaction."""

    @event.listens_for(engine, "checkin")
    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < IDLE_BEFORE_PING_SECONDS:
            return  # new, or used just now
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:
            raise exc.DisconnectionError() from error  # the pool replaces the connection and checks out again


SQLITE_BUSY_SECONDS = 30.0


def _begin_immediate(connection: Connection) -> None:
    # pysqlite opens transactions lazily and upgrades read locks to write locks mid-transaction, which
    # deadlocks two writers; BEGIN IMMEDIATE takes the write lock up front and lets busy_timeout work.
    raw = cast(TurnTakingConnection, connection.connection.dbapi_connection)  # the engine's connect factory
    raw.take_turn()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        raw.end_turn()  # no transaction began, so no commit or rollback will end it
        raise


class TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection whose transactions take turns with the process's other connections to the same file,
    first come first served, before BEGIN IMMEDIATE.

    SQLite's own wait for a held write lock is its busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between
    tries: behind a consumer committing a few transactions every 10 ms, the outbox relay's writes slept up to
    0.3-0.4 s (p99 of its lease, load and mark 80 ms at 200 events/s) with the lock free most of that time.
    Taking turns on a lock of the process hands the file over as soon as the writer before commits. Between
    processes (the outbox relay's own, `OUTBOX_RELAY=process`; a second replica; mc-ops) the turn is then an
    flock on `<database>-turn`, held from BEGIN to COMMIT: with only the busy handler between them, the relay's
    process and the consumer's slept up to a second (p99 399 ms at 200 events/s, against 48 in one process)."""

    _turn: _FirstComeFirstServed | None = None
    _holds_turn = False
    _holds_file = False

    def take_turn(self) -> None:
        if self._turn is None:
            self._turn = _turn_of(self)
        if not self._turn.acquire(SQLITE_BUSY_SECONDS):
            # a thread starting a second transaction inside its first: SQLite's busy timeout says so, as before
            log.warning("no SQLite turn after %.0f s; beginning without one", SQLITE_BUSY_SECONDS)
            return
        self._holds_turn = True
        if self._turn.between_processes is not None:
            self._holds_file = self._turn.between_processes.acquire(SQLITE_BUSY_SECONDS)
            if not self._holds_file:  # another process has held it that long: its busy handler decides, as before
                log.warning("no SQLite turn from the other processes after %.0f s", SQLITE_BUSY_SECONDS)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()

    def end_turn(self) -> None:
        # The processes' turn first: the next thread of this process would find it held by its own descriptor.
        if self._holds_file and self._turn is not None and self._turn.between_processes is not None:
            self._holds_file = False
            self._turn.between_processes.release()
        if self._holds_turn and self._turn is not None:
            self._holds_turn = False
            self._turn.release()


class _FirstComeFirstServed:
    """A lock that release() hands to the longest waiter; a threading.Lock lets the thread that released it take
    it again at once, and a consumer looping over short transactions then starves the relay."""

    def __init__(self, between_processes: _FileTurn | None = None) -> None:
        self.between_processes = between_processes
        """The file's turn among processes, taken by whoever holds this one (None for an in-memory database)."""
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        return True  # handed over just as the wait timed out

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False


class _FileTurn:
    """An exclusive flock on a file beside the database, one descriptor per process: the kernel hands it over
    when its holder unlocks (or dies). Tried without blocking, 0.1 ms and then at most 1 ms apart, so a holder
    that never lets go costs the waiter a timeout, not a thread blocked for good."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


_TURNS: dict[str, _FirstComeFirstServed] = {}
_TURNS_LOCK = threading.Lock()


def _turn_of(connection: sqlite3.Connection) -> _FirstComeFirstServed:
    """One turn per database file (every engine of the process on it), one per connection to an in-memory one."""
    path = next((row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"), "")
    key = os.path.realpath(path) if path else f"memory:{id(connection)}"
    with _TURNS_LOCK:
        if key not in _TURNS:
            _TURNS[key] = _FirstComeFirstServed(_file_turn(key) if path else None)
        return _TURNS[key]


def _file_turn(database: str) -> _FileTurn | None:
    try:
        return _FileTurn(database + "-turn")
    except OSError as error:  # a directory this process may not write to: the busy handler alone, as before
        log.warning("no SQLite turns between processes: %s", type(error).__name__)
        return None


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
def statements_on_their_own(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements each commit by themselves on PostgreSQL (autocommit): for a single write, or
    reads that need no common snapshot (READ COMMITTED gives each statement its own anyway). It saves the BEGIN
    and COMMIT round trips psycopg adds around them, two of the three of a one-statement transaction. On SQLite
    a transaction as usual: BEGIN IMMEDIATE takes the process's turn on the file (`TurnTakingConnection`)."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


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
    lock_in_order_until_commit(session, [(names, shared)])


def lock_in_order_until_commit(session: Session, groups: Iterable[tuple[Iterable[str], bool]]) -> None:
    """`lock_until_commit` for several groups of names, each `(names, shared)`, in one statement: each group's
    keys in sorted order, the groups in the order given. A service that always locks one kind of thing before
    another (billing: catalogue keys, then enrolments) saves a round trip per transaction this way, and keeps
    the order that rules out deadlocks between its paths. The statement's rows are produced, and so its locks
    taken, in the arrays' order (a function scan, nothing sorted above it)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys: list[int] = []
    shared: list[bool] = []
    for names, group_shared in groups:
        group = sorted({advisory_lock_key(name) for name in names})
        keys += group
        shared += [group_shared] * len(group)
    if keys:
        session.execute(_LOCKS_IN_ORDER, {"keys": keys, "shared": shared})


_LOCKS_IN_ORDER = text(
    "SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k) ELSE pg_advisory_xact_lock(k) END"
    " FROM unnest(CAST(:keys AS bigint[]), CAST(:shared AS boolean[])) AS t(k, s)"
)


def advisory_lock_key(name: str) -> int:
    """PostgreSQL's advisory lock keys are signed 64-bit integers: the first 8 bytes of the name's SHA-256."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
