"""Variants of the kit, applied as temporary monkeypatches so their effect can be measured side by side.

Nothing here is used outside the benchmark. Each experiment is a context manager that patches the kit for the
duration of one run and restores it afterwards. The batch path these experiments once prototyped (no savepoint
per event, multi-row processed-event and outbox INSERTs, a set-oriented billing handler) is in the kit and in
billing since the batch-path commit; what is left measures the paths the kit still has (`per-event`,
`savepoints`), settings (`max-records-2000`, `sqlite-sync-off`, `switch-1ms`, `linger-5`, `gc-off`), the relay
(`lease-every-round`, `relay-waits`; `relay-off`, the consumer alone, a ceiling for the publishing side) and, undoing the changes of issue 14 one by one, the kit before them (`relay-orm`,
`decode-stepwise`, `span-per-event`; all three: `before`; and for the latency, `partition-transactions`,
`sqlite-busy-handler`, `processed-lookup-ids` and `linger-5`; all four: `before-latency`; `gc-defaults`; for PostgreSQL's round
trips, `insert-per-table`, `relay-in-transactions`, `pre-ping`, `lease-every-round`,
`billing-locks-and-reads-apart` and `relay-second-round`; all six: `before-round-trips`; and `arrays-as-text`, `log-scrub-regex`;
for the output and the INSERTs of 6 December `values-by-json-dumps`, `uuid5-stdlib`, `datetime-two-steps`, all three:
`before-6-december`). `stage-timings`
changes nothing and times each stage of the consumer and the relay, and every SQL statement, in the process it
runs in; `tracemalloc` changes nothing but speed and says where the process's live Python memory was allocated;
`pymalloc-arenas` samples CPython's small-object allocator next to the resident size, `glibc-heap` glibc's
heap (and with `BENCH_GLIBC_TRIM=1` what `malloc_trim` gives back).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

EXPERIMENTS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {}


def experiment(name: str) -> Callable[[Callable[[], Iterator[None]]], Callable[[], Iterator[None]]]:
    def register(function: Callable[[], Iterator[None]]) -> Callable[[], Iterator[None]]:
        EXPERIMENTS[name] = contextlib.contextmanager(function)
        return function

    return register


ALIASES = {
    "before": ("relay-orm", "decode-stepwise", "span-per-event"),
    "before-latency": ("partition-transactions", "sqlite-busy-handler", "processed-lookup-ids", "linger-5"),
    "before-round-trips": (
        "insert-per-table",
        "relay-in-transactions",
        "pre-ping",
        "lease-every-round",
        "billing-locks-and-reads-apart",
        "relay-second-round",
    ),
    "before-3-december": ("inserts-through-sqlalchemy", "log-per-event"),
    "before-6-december": ("values-by-json-dumps", "uuid5-stdlib", "datetime-two-steps"),
}


def expand(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(part for name in names for part in ALIASES.get(name, (name,)))


def known() -> str:
    return ", ".join([*EXPERIMENTS, *ALIASES])


def check(names: Sequence[str]) -> None:
    unknown = [name for name in expand(names) if name not in EXPERIMENTS]
    if unknown:
        raise SystemExit(f"unknown experiment(s) {unknown}; known: {known()}")


@contextlib.contextmanager
def applied(names: Sequence[str]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in expand(names):
            stack.enter_context(EXPERIMENTS[name]())
        yield


@contextlib.contextmanager
def patched(target: Any, attribute: str, value: Any) -> Iterator[None]:
    original = getattr(target, attribute)
    setattr(target, attribute, value)
    try:
        yield
    finally:
        setattr(target, attribute, original)


def _resident_mib() -> float:
    """This process's resident size now (VmRSS), for the instruments below."""
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _write_report(variable: str, default: str, text: str) -> None:
    """An instrument's findings, to the file `variable` names (else `default`), at the process's exit."""
    import os
    from pathlib import Path

    path = Path(os.environ.get(variable, default))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- consumer: the kit's other paths -------------------------------------------------------------------------


@experiment("per-event")
def _per_event() -> Iterator[None]:
    """The consumer without billing's batch handler: the per-event handlers (billing's batch code with a batch
    of one) in one transaction per batch, no savepoints: what a service without a batch handler gets."""
    from reliability.consumer import IdempotentConsumer

    kit_init = IdempotentConsumer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["batch_handler"] = None
        kit_init(self, *args, **kwargs)

    with patched(IdempotentConsumer, "__init__", init):
        yield


@experiment("savepoints")
def _savepoints() -> Iterator[None]:
    """Every batch on the path a RejectEvent forces: the per-event handlers with a savepoint each (the cost a
    batch holding a rejection pays, on top of its undone fast attempt)."""
    from reliability.consumer import IdempotentConsumer

    kit_apply = IdempotentConsumer._apply_decoded

    def apply(self: Any, decoded: Any, decoding: Any, *, per_event: bool) -> Any:
        return kit_apply(self, decoded, decoding, per_event=True)

    with patched(IdempotentConsumer, "_apply_decoded", apply):
        yield


# --- consumer: the Kafka side -------------------------------------------------------------------------------------


@experiment("max-records-2000")
def _max_records() -> Iterator[None]:
    """Bigger polls: up to 2000 records per getmany instead of 500 (fewer, larger transactions)."""
    from reliability.consumer import IdempotentConsumer

    kit_init = IdempotentConsumer.__init__

    def init(self: Any, settings: Any, *args: Any, **kwargs: Any) -> None:
        settings.max_records = 2000
        kit_init(self, settings, *args, **kwargs)

    with patched(IdempotentConsumer, "__init__", init):
        yield


# --- relay --------------------------------------------------------------------------------------------------------


RELAY_OFF = "relay-off"
"""The experiment name the rebuild checks: with it, the rebuild is timed by the consumer's committed offsets."""


@experiment(RELAY_OFF)
def _relay_off() -> Iterator[None]:
    """The relay never publishes: the consumer alone, writing its outbox rows for nobody. Not a design, a
    ceiling: what any change to the publishing side (Kafka transactions instead of the outbox, outputs already
    on the topic not sent again) could at best give, since each still consumes, applies and writes the state."""
    from reliability.outbox import OutboxRelay

    async def run(self: Any) -> None:
        while not self._stopping:  # commits wake it (notify), stop() ends it
            self._wake.clear()
            await self._wake.wait()

    with patched(OutboxRelay, "run", run):
        yield


@experiment("lease-every-round")
def _lease_every_round() -> Iterator[None]:
    """The relay renews its lease before every round, as before 2 December (the kit now renews once a third of
    its term has passed, `OutboxRelay._hold_lease`)."""
    import asyncio

    from reliability import outbox
    from reliability.outbox import OutboxRelay

    async def hold_lease(self: Any) -> bool:
        settings = self._settings
        return bool(
            await asyncio.to_thread(
                outbox.try_acquire_lease,  # type: ignore[attr-defined]  # through outbox: stage-timings patches it there
                self._engine,
                settings.lease_name,
                self.owner,
                settings.lease_duration,
            )
        )

    with patched(OutboxRelay, "_hold_lease", hold_lease):
        yield


# --- undoing the round-trip changes of 2 December (PostgreSQL) ------------------------------------------------


@experiment("insert-per-table")
def _insert_per_table() -> Iterator[None]:
    """Billing's save with one executemany per table, as before `reliability.bulk_insert.insert_together`."""
    from billing.store import unit_of_work

    with patched(unit_of_work, "insert_together", _through_sqlalchemy):
        yield


def _through_sqlalchemy(session: Any, tables: Any) -> None:
    """`insert_together` as SQLAlchemy's INSERT per table (one executemany each)."""
    from sqlalchemy import insert

    for table, rows in tables:
        if rows:
            session.execute(insert(table), rows)


@experiment("inserts-through-sqlalchemy")
def _inserts_through_sqlalchemy() -> Iterator[None]:
    """The inserts as before 3 December: on SQLite billing's tables through SQLAlchemy's INSERT (one executemany
    each, SQLAlchemy building every row's parameters), and on both databases the processed-event identities."""
    from billing.store import unit_of_work
    from reliability import applying

    together = unit_of_work.insert_together  # type: ignore[attr-defined]

    def through_sqlalchemy_on_sqlite(session: Any, tables: Any) -> None:
        on_sqlite = session.get_bind().dialect.name == "sqlite"
        (_through_sqlalchemy if on_sqlite else together)(session, tables)

    with (
        patched(applying, "insert_together", _through_sqlalchemy),
        patched(unit_of_work, "insert_together", through_sqlalchemy_on_sqlite),
    ):
        yield


@experiment("log-per-event")
def _log_per_event() -> Iterator[None]:
    """Billing's line per invoice and per reimbursement at INFO, as before 3 December (the batch's line stays)."""
    from billing import usecases

    with patched(usecases.log, "debug", usecases.log.info):
        yield


@experiment("values-by-json-dumps")
def _values_by_json_dumps() -> Iterator[None]:
    """Every record's value by `model_dump` and `json.dumps`, as before 6 December (same bytes, slower)."""
    from contracts import envelope

    with patched(envelope, "serialised", envelope.serialised_by_json_dumps):
        yield


@experiment("uuid5-stdlib")
def _uuid5_stdlib() -> Iterator[None]:
    """Event ids by `uuid.uuid5`, as before 6 December (same ids)."""
    import uuid

    from reliability.events import EventIds

    def of(self: EventIds, kind: str, subject: str) -> str:
        return str(uuid.uuid5(self._namespace, f"{kind}:{subject}"))

    with patched(EventIds, "of", of):
        yield


@experiment("datetime-two-steps")
def _datetime_two_steps() -> Iterator[None]:
    """On SQLite each instant through `process_bind_param` and then the dialect's DATETIME processor, as before
    6 December (the same text)."""
    from reliability.columns import UTCDateTime
    from sqlalchemy import TypeDecorator

    with patched(UTCDateTime, "bind_processor", TypeDecorator.bind_processor):
        yield


@experiment("heartbeat-2s")
def _heartbeat_two_seconds() -> Iterator[None]:
    """Consumers heartbeat every 2 s (a fifth of the session timeout), as before 3 December."""
    import dataclasses

    from reliability import subscribers

    original = subscribers._subscribe

    def subscribe(broker: Any, consumer: Any, settings: Any, topic: str, declared: Any) -> None:
        original(broker, consumer, dataclasses.replace(settings, heartbeat_interval_ms=2000), topic, declared)

    with patched(subscribers, "_subscribe", subscribe):
        yield


@experiment("arrays-as-text")
def _arrays_as_text() -> Iterator[None]:
    """`insert_together`'s arrays in PostgreSQL's text format, as before the evening of 2 December: psycopg
    quotes and escapes every element (and writes bytea as hex) in Python."""
    from reliability import bulk_insert

    original = bulk_insert._prepared

    def as_text(shape: Any, dialect: Any) -> Any:
        statement, processors = original(shape, dialect)
        return statement.replace(")b AS ", ")s AS "), processors

    with patched(bulk_insert, "_prepared", as_text):
        yield


@experiment("log-scrub-regex")
def _log_scrub_regex() -> Iterator[None]:
    """The JSON logs scrubbed of e-mail addresses by the regular expression itself, as before the evening of
    2 December: it tries every position of a run of word characters, so a line of ids cost more than the rest of
    logging it."""
    from reliability import logs

    with patched(logs, "scrub_emails", lambda text: logs._EMAIL.sub("<email>", text)):
        yield


@experiment("relay-in-transactions")
def _relay_in_transactions() -> Iterator[None]:
    """The relay's reads, its mark-published and the lease's UPDATE each in a transaction (BEGIN and COMMIT
    round trips on PostgreSQL), as before `statements_on_their_own`."""
    from reliability import lease, outbox

    @contextlib.contextmanager
    def in_a_transaction(engine: Any) -> Iterator[Any]:
        with engine.begin() as connection:
            yield connection

    with patched(outbox, "statements_on_their_own", in_a_transaction):
        with patched(lease, "statements_on_their_own", in_a_transaction):
            yield


@experiment("relay-second-round")
def _relay_second_round() -> Iterator[None]:
    """The relay reads the outbox again at once after any round that published something, as before it waited
    for a wake-up after a round short of a batch (half its rounds at 200 events/s then found nothing)."""
    from reliability.outbox import OutboxRelay

    publish = OutboxRelay.publish_pending

    async def publish_as_if_full(self: Any) -> int:
        published = await publish(self)
        if published:
            self.notify()  # what the kit did: go round again at once
        return published

    with patched(OutboxRelay, "publish_pending", publish_as_if_full):
        yield


@experiment("pre-ping")
def _pre_ping() -> Iterator[None]:
    """The pool pings every connection it hands out (SQLAlchemy's `pool_pre_ping`), as before the ping only
    after an idle spell."""
    from reliability import database

    def ping_always(engine: Any) -> None:
        engine.pool._pre_ping = True

    with patched(database, "_ping_after_idle", ping_always):
        yield


@experiment("billing-locks-and-reads-apart")
def _billing_locks_and_reads_apart() -> Iterator[None]:
    """Billing's batch with its catalogue and enrolment locks in two statements and its enrolments,
    reimbursements and waiting cancellations read in three queries, as before `lock_in_order_until_commit`."""
    from billing import domain
    from billing.store import unit_of_work
    from billing.store.rows import billed_enrolment_of, waiting_cancellation_of
    from billing.store.unit_of_work import ENROLMENT, PENDING_CANCELLATION, REIMBURSEMENT, Store
    from reliability.database import lock_until_commit
    from sqlalchemy import select

    def locks_apart(session: Any, groups: Any) -> None:
        for names, shared in groups:
            lock_until_commit(session, names, shared=shared)

    def read_apart(self: Any, ids: Any) -> None:
        for row in self.session.execute(select(ENROLMENT).where(ENROLMENT.c.enrolment_id.in_(ids))):
            self._enrolments[row.enrolment_id] = billed_enrolment_of(row._mapping)
        reimbursed = select(REIMBURSEMENT.c.enrolment_id, REIMBURSEMENT.c.cancellation_event_id)
        for row in self.session.execute(reimbursed.where(REIMBURSEMENT.c.enrolment_id.in_(ids))):
            self._first_cancellations[row.enrolment_id] = row.cancellation_event_id
        pending = PENDING_CANCELLATION
        waiting = select(pending).where(pending.c.enrolment_id.in_(ids), pending.c.status == domain.WAITING)
        for row in self.session.execute(waiting.order_by(pending.c.id)):
            stored = dict(row._mapping)
            self._waiting.keep(row.enrolment_id, waiting_cancellation_of(stored), stored)

    with (
        patched(unit_of_work, "lock_in_order_until_commit", locks_apart),
        patched(Store, "_read_enrolments", read_apart),
    ):
        yield


@experiment("relay-orm")
def _relay_orm() -> Iterator[None]:
    """The relay as before the Core change: the batch loaded as ORM objects, the parked heads in a second
    session and thread hop (for comparing the two in one run)."""
    import asyncio

    from reliability.outbox import OutboxRelay
    from reliability.outbox_parking import blocking_heads
    from reliability.tables import OutboxMessage
    from sqlalchemy import select
    from sqlmodel import Session, col

    def load(self: Any) -> tuple[list[Any], dict[Any, int]]:
        with Session(self._engine, expire_on_commit=False) as session:
            statement = (
                select(OutboxMessage)
                .where(col(OutboxMessage.published_at).is_(None))
                .where(col(OutboxMessage.parked_at).is_(None))
                .order_by(col(OutboxMessage.id))
                .limit(self._settings.batch_size)
            )
            return list(session.scalars(statement)), {}

    kit_publish = OutboxRelay.publish_pending

    async def publish(self: Any) -> int:
        await asyncio.to_thread(blocking_heads, self._engine)  # the second hop the kit made
        return await kit_publish(self)

    with patched(OutboxRelay, "_load_unpublished", load), patched(OutboxRelay, "publish_pending", publish):
        yield


# --- consumer: the contract and tracing work per event, as before the decode-once change ---------------------------


@experiment("decode-stepwise")
def _decode_stepwise() -> Iterator[None]:
    """Every input decoded the step-by-step way (json.loads, the envelope, then the payload): the kit before
    the one-pass decoder."""
    from contracts.envelope import decode_event_stepwise
    from reliability import applying

    with patched(applying, "decode_event", decode_event_stepwise):
        yield


@experiment("span-per-event")
def _span_per_event() -> Iterator[None]:
    """A span per consumed event even with tracing off (the API's no-op tracer), as before."""
    from reliability import tracing

    with patched(tracing, "tracing_on", lambda: True):
        yield


# --- database -----------------------------------------------------------------------------------------------------


@experiment("sqlite-sync-off")
def _sqlite_sync_off() -> Iterator[None]:
    """PRAGMA synchronous=OFF (not for production): shows how much of the time is spent waiting for fsync."""
    from reliability import database

    kit_configure = database._configure_sqlite_connection

    def configure(dbapi_connection: Any, record: Any) -> None:
        kit_configure(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    with patched(database, "_configure_sqlite_connection", configure):
        yield


# --- instruments --------------------------------------------------------------------------------------------------

RELAY_WAITS: dict[str, list[float]] = {}
"""Seconds each relay database write took (lease renewal, marking rows published), filled by `relay-waits`."""


@experiment("relay-waits")
def _relay_waits() -> Iterator[None]:
    """Changes nothing; records how long the relay's two writes per cycle take (on SQLite: waiting for the lock
    the consumer's transaction holds)."""
    import time

    from reliability import outbox
    from reliability.outbox import OutboxRelay

    kit_lease = outbox.try_acquire_lease  # type: ignore[attr-defined]
    kit_mark = OutboxRelay._mark_published

    def lease(*args: Any, **kwargs: Any) -> bool:
        started = time.perf_counter()
        try:
            return kit_lease(*args, **kwargs)
        finally:
            RELAY_WAITS.setdefault("lease renewal", []).append(time.perf_counter() - started)

    def mark(self: Any, ids: list[int]) -> None:
        started = time.perf_counter()
        try:
            kit_mark(self, ids)
        finally:
            RELAY_WAITS.setdefault("mark published", []).append(time.perf_counter() - started)

    RELAY_WAITS.clear()
    with patched(outbox, "try_acquire_lease", lease), patched(OutboxRelay, "_mark_published", mark):
        yield


@experiment("stage-timings")
def _stage_timings() -> Iterator[None]:
    """Changes nothing; times each stage of the consumer and the relay (wall seconds per call, and the records of
    each fetch), written as JSON at exit to `BENCH_STAGE_TIMINGS` (default bench-results/stage-timings.json).
    For the latency section: where a record's time between fetch and output goes when billing falls behind."""
    import atexit
    import json
    import time

    from reliability import outbox
    from reliability.consumer import IdempotentConsumer
    from reliability.outbox import OutboxRelay

    timings: dict[str, list[float]] = {}
    sizes: list[int] = []

    def timed(name: str, function: Any, asynchronous: bool) -> Any:
        def record(started: float) -> None:
            timings.setdefault(name, []).append(time.perf_counter() - started)

        if asynchronous:

            async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    record(started)

            return wrapper_async

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                record(started)

        return wrapper

    consume = IdempotentConsumer._consume_partitions

    async def consume_partitions(self: Any, kafka: Any, records: Any) -> None:
        sizes.append(len(records))
        await consume(self, kafka, records)

    def dump() -> None:
        summary = {name: _timing_summary(values) for name, values in timings.items()}
        summary["records per fetch"] = _timing_summary([float(size) for size in sizes], unit=1.0)
        _write_report("BENCH_STAGE_TIMINGS", "bench-results/stage-timings.json", json.dumps(summary, indent=1))

    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.default import DefaultDialect

    def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        name = "sql: " + " ".join(statement.split())[:70]
        timings.setdefault(name, []).append(time.perf_counter() - conn.info.pop("bench_started"))

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    atexit.register(dump)
    patches = [
        (IdempotentConsumer, "_consume_partitions", timed("consumer: one fetch", consume_partitions, True)),
        (
            IdempotentConsumer,
            "_apply_batch",
            timed("consumer: apply a batch (thread)", IdempotentConsumer._apply_batch, False),
        ),
        (
            IdempotentConsumer,
            "_commit_offsets",
            timed("consumer: offset commit", IdempotentConsumer._commit_offsets, True),
        ),
        (OutboxRelay, "publish_pending", timed("relay: round", OutboxRelay.publish_pending, True)),
        (OutboxRelay, "_load_unpublished", timed("relay: load (thread)", OutboxRelay._load_unpublished, False)),
        (OutboxRelay, "_mark_published", timed("relay: mark published (thread)", OutboxRelay._mark_published, False)),
        (outbox, "send_batch", timed("relay: send and await acks", outbox.send_batch, True)),  # type: ignore[attr-defined]
        (DefaultDialect, "do_commit", timed("sql: COMMIT", DefaultDialect.do_commit, False)),
        (outbox, "try_acquire_lease", timed("relay: lease (thread)", outbox.try_acquire_lease, False)),  # type: ignore[attr-defined]
    ]
    with contextlib.ExitStack() as stack:
        for target, attribute, value in patches:
            stack.enter_context(patched(target, attribute, value))
        yield


def _timing_summary(values: list[float], unit: float = 1000.0) -> dict[str, float]:
    from benchmarks.service_process import percentile

    if not values:
        return {"calls": 0}
    quantiles = {f"p{round(q * 100)}": percentile(values, q) * unit for q in (0.5, 0.9, 0.99)}
    return {"calls": len(values), "total": sum(values) * unit, **quantiles, "max": max(values) * unit}


@experiment("tracemalloc")
def _tracemalloc() -> Iterator[None]:
    """Changes nothing but speed: traces Python's allocations in the process and, at exit, writes where the live
    memory was allocated (top lines and files) and the traced and resident sizes every 5 s, to
    `BENCH_TRACEMALLOC` (default bench-results/tracemalloc.txt). Memory that C libraries take with malloc is
    not traced: the gap between the two sizes is theirs."""
    import atexit
    import threading
    import time
    import tracemalloc

    tracemalloc.start(8)
    samples: list[tuple[float, float, float]] = []
    started = time.monotonic()

    def sample() -> None:
        while True:
            traced, _ = tracemalloc.get_traced_memory()
            samples.append((time.monotonic() - started, traced / 2**20, _resident_mib()))
            time.sleep(5)

    def dump() -> None:
        snapshot = tracemalloc.take_snapshot()
        traced, peak = tracemalloc.get_traced_memory()
        lines = [f"traced now {traced / 2**20:.1f} MiB, traced peak {peak / 2**20:.1f} MiB, RSS {_resident_mib():.1f}"]
        lines += [f"{at:6.0f} s  traced {mib:6.1f} MiB  RSS {rss:6.1f} MiB" for at, mib, rss in samples]
        for grouping in ("filename", "lineno"):
            lines.append(f"--- top by {grouping}")
            lines += [str(stat) for stat in snapshot.statistics(grouping)[:25]]
        _write_report("BENCH_TRACEMALLOC", "bench-results/tracemalloc.txt", "\n".join(lines) + "\n")

    threading.Thread(target=sample, daemon=True, name="tracemalloc-samples").start()
    atexit.register(dump)
    yield


@experiment("pymalloc-arenas")
def _pymalloc_arenas() -> Iterator[None]:
    """Changes nothing but a pause every 2 s: samples CPython's small-object allocator (`sys._debugmallocstats`:
    its 1 MiB arenas, mapped outside malloc, and the bytes in blocks in use) next to the resident size, and at
    exit writes them to `BENCH_ARENAS` (default bench-results/arenas.txt); with `BENCH_ARENAS_ON=SIGUSR2`, no
    thread and no pause, a sample each time the process gets that signal. An arena goes back to the system
    only when every block in it is free, so arenas far above the blocks in use are fragmentation."""
    import atexit
    import logging
    import os
    import re
    import signal
    import sys
    import tempfile
    import threading
    import time

    samples: list[str] = []
    started = time.monotonic()
    wanted = ("# arenas allocated current", "# arenas highwater mark", "# bytes in allocated blocks")

    def dump_samples() -> None:
        _write_report("BENCH_ARENAS", "bench-results/arenas.txt", "\n".join(samples) + "\n")

    def allocator_figures() -> list[int]:
        # _debugmallocstats writes to C's stderr: point fd 2 at a file meanwhile, with the log handlers held
        # so that no log line goes there instead.
        handlers = logging.getLogger().handlers
        with tempfile.TemporaryFile() as capture:
            for handler in handlers:
                handler.acquire()
            saved = os.dup(2)
            try:
                sys.stderr.flush()
                os.dup2(capture.fileno(), 2)
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                for handler in handlers:
                    handler.release()
            capture.seek(0)
            text = capture.read().decode()
        lines = {line.split("=")[0].strip(): line.split("=")[1] for line in text.splitlines() if "=" in line}
        return [int(re.sub(r"\D", "", lines[name])) for name in wanted]

    def sample_once() -> None:
        arenas, highwater, in_use = allocator_figures()
        samples.append(
            f"{time.monotonic() - started:6.0f} s  RSS {_resident_mib():6.1f} MiB  arenas {arenas:4d} (highwater {highwater})"
            f"  in blocks in use {in_use / 2**20:6.1f} MiB"
        )

    if os.environ.get("BENCH_ARENAS_ON") == "SIGUSR2":
        # No thread: a sample each time the process gets SIGUSR2 (a thread of its own changes what is measured).
        signal.signal(signal.SIGUSR2, lambda signum, frame: sample_once())
        atexit.register(dump_samples)
        yield
        return

    def sample() -> None:
        while True:
            sample_once()
            time.sleep(2)

    threading.Thread(target=sample, name="pymalloc-arenas", daemon=True).start()
    atexit.register(dump_samples)
    yield


@experiment("glibc-heap")
def _glibc_heap() -> Iterator[None]:
    """Changes nothing but a pause every `BENCH_GLIBC_EVERY` s (default 5): glibc's own account of its heap
    (`malloc_info`: the memory its arenas hold, what of it is free, the chunks it mapped on its own) next to the
    resident size, written at exit to `BENCH_GLIBC_HEAP` (default bench-results/glibc-heap.txt). With
    `BENCH_GLIBC_TRIM=1` each sample also calls `malloc_trim(0)` and records the resident size after it: if
    that falls back, the growth was free memory malloc kept, not memory in use."""
    import atexit
    import ctypes
    import os
    import tempfile
    import threading
    import time
    import xml.etree.ElementTree as ElementTree

    libc = ctypes.CDLL("libc.so.6")
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    every = float(os.environ.get("BENCH_GLIBC_EVERY", "5"))
    trim = os.environ.get("BENCH_GLIBC_TRIM") == "1"
    samples: list[str] = []
    started = time.monotonic()

    def heap_figures() -> dict[str, float]:
        with tempfile.TemporaryFile() as capture:
            stream = libc.fdopen(os.dup(capture.fileno()), b"w")
            libc.malloc_info(0, stream)
            libc.fclose(stream)
            capture.seek(0)
            root = ElementTree.fromstring(capture.read())  # noqa: S314 -- glibc wrote it, in this process
        # The totals over every arena are the direct children of <malloc>; each <heap> has its own.
        totals = {(node.tag, node.get("type")): node for node in root if node.tag in ("total", "system")}

        def mib(key: tuple[str, str], attribute: str = "size") -> float:
            return int(totals[key].get(attribute, "0")) / 2**20

        return {
            "arenas": len(root.findall("heap")),
            "held": mib(("system", "current")),
            "free": mib(("total", "fast")) + mib(("total", "rest")),
            "mapped": mib(("total", "mmap")),
            "mapped_chunks": int(totals[("total", "mmap")].get("count", "0")),
        }

    def sample() -> None:
        while True:
            time.sleep(every)
            rss = _resident_mib()
            heap = heap_figures()
            line = (
                f"{time.monotonic() - started:6.0f} s  RSS {rss:6.1f} MiB  malloc: {heap['arenas']:2.0f} arenas hold"
                f" {heap['held']:6.1f} MiB, {heap['free']:6.1f} of it free; {heap['mapped_chunks']:3.0f} chunks"
                f" mapped apart {heap['mapped']:6.1f} MiB"
            )
            if trim:
                libc.malloc_trim(0)
                line += f"  RSS after malloc_trim {_resident_mib():6.1f} MiB"
            samples.append(line)

    def dump() -> None:
        _write_report("BENCH_GLIBC_HEAP", "bench-results/glibc-heap.txt", "\n".join(samples) + "\n")

    threading.Thread(target=sample, name="glibc-heap", daemon=True).start()
    atexit.register(dump)
    yield


@experiment("switch-1ms")
def _switch_interval() -> Iterator[None]:
    """The GIL handed over after 1 ms instead of CPython's 5: a database thread waiting for the GIL after each
    statement's round trip gets it back sooner from the event loop's thread."""
    import sys

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@experiment("linger-5")
def _linger_five() -> Iterator[None]:
    """The services' producer with linger_ms=5, as before linger 0: each publication waited 5 ms for company,
    which the relay, queuing its whole batch before it awaits the acknowledgements, never needed."""
    from aiokafka import AIOKafkaProducer
    from reliability import runtime

    kit_create = runtime.create_producer  # type: ignore[attr-defined]

    def create(*args: Any, **kwargs: Any) -> AIOKafkaProducer:
        producer = kit_create(*args, **kwargs)
        producer._message_accumulator._linger_time = 0.005
        return producer

    with patched(runtime, "create_producer", create):
        yield


@experiment("partition-transactions")
def _partition_transactions() -> Iterator[None]:
    """The kit before one transaction per fetch: each partition of a fetch applied and committed on its own."""
    from reliability.consumer import IdempotentConsumer

    async def never_together(self: Any, consumer: Any, batches: Any) -> bool:
        return False

    with patched(IdempotentConsumer, "_process_fetch_together", never_together):
        yield


@experiment("processed-lookup-ids")
def _processed_lookup_ids() -> Iterator[None]:
    """The kit before the processed-event lookup named the sources: the ids alone, so only the first column of
    the key (the consumer) narrowed the search."""
    from reliability import applying
    from reliability.tables import ProcessedEvent
    from sqlalchemy import select
    from sqlmodel import col

    def lookup(consumer: str, events: Any) -> Any:
        return (
            select(col(ProcessedEvent.source), col(ProcessedEvent.event_id))
            .where(col(ProcessedEvent.consumer) == consumer)
            .where(col(ProcessedEvent.event_id).in_({event.id for event in events}))
        )

    with patched(applying, "processed_lookup", lookup):
        yield


@experiment("sqlite-busy-handler")
def _sqlite_busy_handler() -> Iterator[None]:
    """The kit before SQLite's turns: a transaction meeting a held write lock waits in SQLite's busy handler."""
    from reliability.database import TurnTakingConnection

    with patched(TurnTakingConnection, "take_turn", lambda self: None):
        yield


@experiment("no-turns-between-processes")
def _no_turns_between_processes() -> Iterator[None]:
    """SQLite's turns within the service's process only, as before 4 December: with `OUTBOX_RELAY=process` the
    relay's child still takes the file's turn, but the service does not, so between the two the busy handler
    decides again."""
    from reliability import database

    with patched(database, "_file_turn", lambda path: None):
        yield


@experiment("gc-off")
def _gc_off() -> Iterator[None]:
    """No cyclic garbage collection (not for production): shows what the collector's pauses, which hold the GIL
    for every thread, add to the latency's tail."""
    import gc

    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@experiment("gc-defaults")
def _gc_defaults() -> Iterator[None]:
    """The collector as CPython sets it (nothing frozen, the youngest generation collected after 700
    allocations): undoes `reliability.garbage.settle_after_start` in the service's process."""
    from reliability import garbage

    with patched(garbage, "settle_after_start", lambda: None):
        yield


@experiment("import-first")
def _import_first() -> Iterator[None]:
    """Imports the modules named in `BENCH_IMPORT_FIRST` (default threading) before the service's own: changes
    the order in which long-lived objects land in CPython's arenas, and with it how many of them stay pinned
    after a batch (a rebuild with 2 000-record batches peaked at 165 MiB with it, 210-231 without)."""
    import os

    for name in os.environ.get("BENCH_IMPORT_FIRST", "threading").split(","):
        __import__(name)
    yield
