"""Variants of the kit, applied as temporary monkeypatches so their effect can be measured side by side.

Nothing here is used outside the benchmark. Each experiment is a context manager that patches the kit for the
duration of one run and restores it afterwards. The batch path these experiments once prototyped (no savepoint
per event, multi-row processed-event and outbox INSERTs, a set-oriented billing handler) is in the kit and in
billing since the batch-path commit; what is left measures the paths the kit still has (`per-event`,
`savepoints`), settings (`max-records-2000`, `sqlite-sync-off`), the relay (`relay-lease`, `relay-waits`) and,
undoing the changes of issue 14 one by one, the kit before them (`relay-orm`, `decode-stepwise`,
`span-per-event`; all three: `before`).
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


ALIASES = {"before": ("relay-orm", "decode-stepwise", "span-per-event")}


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


@experiment("relay-lease")
def _relay_lease() -> Iterator[None]:
    """The relay renews its lease when a third of it has passed, not before every batch (one write fewer).
    Without the kit relay's retry on errors: a benchmark run has no outages."""
    import asyncio
    import time
    from datetime import UTC, datetime, timedelta

    from reliability import outbox
    from reliability.outbox import OutboxRelay

    async def run(self: Any) -> None:
        settings = self._settings
        last_cleanup = datetime.min.replace(tzinfo=UTC)
        renew_every = settings.lease_duration.total_seconds() / 3
        held_until = 0.0  # monotonic time up to which we may publish without renewing
        try:
            while not self._stopping:
                now = time.monotonic()
                if now >= held_until - 2 * renew_every:
                    holds = await asyncio.to_thread(
                        outbox.try_acquire_lease,  # type: ignore[attr-defined]  # through outbox: relay-waits patches it there
                        self._engine,
                        settings.lease_name,
                        self.owner,
                        settings.lease_duration,
                    )
                    held_until = now + settings.lease_duration.total_seconds() if holds else 0.0
                published = 0
                if time.monotonic() < held_until:
                    published = await self.publish_pending()
                    if datetime.now(UTC) - last_cleanup > timedelta(minutes=10):
                        await asyncio.to_thread(self._delete_old_published_rows)
                        last_cleanup = datetime.now(UTC)
                if published == 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), settings.idle_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            await asyncio.to_thread(
                outbox.release_lease,  # type: ignore[attr-defined]
                self._engine,
                settings.lease_name,
                self.owner,
            )

    with patched(OutboxRelay, "run", run):
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
