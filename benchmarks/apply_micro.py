"""The consumer's database step alone: `IdempotentConsumer._apply_batch` on ready records, no Kafka.

    uv run python -m benchmarks.apply_micro [--events 6000] [--batch 500] [--database sqlite|postgres]
        [--experiment NAME[+NAME],...] [--repeats 3] [--verify] [--floor] [--sql-floor] [--profile] [--memory]

Isolates what billing does per event (decode, batch handler, processed-event rows, commit) from Kafka, and
reports CPU time per event, which a busy shared machine disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord
from billing.bootstrap import build
from billing.config import BillingSettings
from reliability.consumer import ConsumerSettings, IdempotentConsumer

from benchmarks import experiments as exp
from benchmarks import workload
from benchmarks.billing_pipeline import Databases
from benchmarks.service_process import API_TOKENS
from contracts import topics


def records(run: str, events: int, topic: str, anomalies: bool = False) -> list[ConsumerRecord]:
    """Created then cancelled per enrolment; with `anomalies`, also the cases the batch handler must settle
    like the per-event path: every 7th cancellation arrives first (it waits), every 11th enrolment is announced
    twice under a new id, every 13th cancellation is redelivered (same id)."""
    values: list[tuple[bytes, bytes]] = []
    for index, (key, created, cancelled) in enumerate(workload.pairs(run, events // 2)):
        if anomalies and index % 7 == 0:
            values += [(key, cancelled), (key, created)]
        else:
            values += [(key, created), (key, cancelled)]
        if anomalies and index % 11 == 0:
            values.append((key, created.replace(b'"id":"', b'"id":"again-', 1)))
        if anomalies and index % 13 == 0:
            values.append((key, cancelled))
    return [
        ConsumerRecord(
            topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key, value=value,
            checksum=None, serialized_key_size=len(key), serialized_value_size=len(value),
            headers=tuple(workload.HEADERS),
        )
        for offset, (key, value) in enumerate(values)
    ]  # fmt: skip


def catalogue_record(topic: str) -> ConsumerRecord:
    """The catalogue entry of the input's micro-credential (billing prices every enrolment from it)."""
    key, value = workload.catalogue_record()
    return ConsumerRecord(
        topic=topic, partition=0, offset=0, timestamp=0, timestamp_type=0, key=key, value=value, checksum=None,
        serialized_key_size=len(key), serialized_value_size=len(value), headers=tuple(workload.HEADERS),
    )  # fmt: skip


def billing_consumer(runtime: Any, prefix: str = "") -> IdempotentConsumer:
    """Billing's consumer on `runtime`'s database, fed by hand: no Kafka, no dead letters in these workloads."""
    return IdempotentConsumer(
        ConsumerSettings(
            name="billing", bootstrap_servers="unused:9092", group_id="billing",
            topics=[topics.ENROLMENT_EVENTS], topic_prefix=prefix,
        ),
        runtime.engine,
        {},
        producer=None,
        subscribers=runtime.subscribers,
    )  # fmt: skip


# Columns that hold the time of processing, not a result: they differ between any two runs.
_VOLATILE = {"recorded_at", "created_at", "processed_at", "received_at", "published_at", "resolved_at", "id"}


def snapshot(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every billing and kit table, without processing times and row ids, sorted: what a run left behind."""
    from billing.store import schema_metadata
    from sqlalchemy import create_engine, select

    engine = create_engine(database_url)
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as connection:
        for table in schema_metadata().sorted_tables:
            if table.name == "lease":
                continue
            columns = [c for c in table.columns if c.name not in _VOLATILE]
            rows = connection.execute(select(*columns)).all()
            out[table.name] = sorted((tuple(str(v) for v in row) for row in rows), key=repr)
        if "outbox_message" in out:  # the outbox order is part of the contract: compare it as written
            table = schema_metadata().tables["outbox_message"]
            out["outbox order"] = [
                tuple(row) for row in connection.execute(select(table.c.value).order_by(table.c.id)).all()
            ]
    engine.dispose()
    return out


def measure(
    database_url: str, variant: Sequence[str], events: int, batch: int, run: str | None = None, anomalies: bool = False
) -> tuple[float, float]:
    """(CPU seconds per event, wall seconds per event) of applying `events` in batches of `batch`."""
    prefix = f"micro-{run or uuid.uuid4().hex[:8]}-"
    with exp.applied(variant):
        _app, runtime = build(BillingSettings(database_url=database_url, topic_prefix=prefix, api_tokens=API_TOKENS))
        consumer = billing_consumer(runtime, prefix)
        items = records(run or uuid.uuid4().hex[:8], events, prefix + topics.ENROLMENT_EVENTS, anomalies)
        entry = catalogue_record(prefix + topics.CATALOGUE)
        assert consumer._apply_batch([entry]).applied == 1  # billing prices from it: applied first, not timed
        with workload.collector_as_served():
            cpu, wall = time.process_time(), time.perf_counter()
            for start in range(0, len(items), batch):
                outcome = consumer._apply_batch(items[start : start + batch])
                assert not outcome.dead_letters, outcome.dead_letters[:1]
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        runtime.engine.dispose()
    return cpu / events, wall / events


def verify(databases: Databases, variants: Sequence[tuple[str, ...]], events: int, batch: int) -> None:
    for anomalies in (False, True):
        verify_one(databases, variants, events, batch, anomalies)


def verify_one(
    databases: Databases, variants: Sequence[tuple[str, ...]], events: int, batch: int, anomalies: bool
) -> None:
    run = uuid.uuid4().hex[:8]  # the same input for every variant: same enrolment and event ids
    reference = None
    for variant in variants:
        url = databases.new("verify")
        measure(url, variant, events, batch, run=run, anomalies=anomalies)
        state = snapshot(url)
        if reference is None:
            reference = state
            continue
        name = "+".join(variant) or "kit"
        differing = [table for table in reference if reference[table] != state.get(table)]
        print(
            f"verify {name}{' with anomalies' if anomalies else ''}: "
            + (f"DIFFERS in {differing}" if differing else "same rows and outbox bytes as the kit's batch path")
        )


def floor(events: int) -> dict[str, float]:
    """CPU µs per event of the work no database change can remove: decode and validate the input (contract),
    price it (domain), build, validate and serialise the output event (contract). No database at all."""
    from datetime import UTC

    from billing import domain, usecases
    from billing.bootstrap import active_policy
    from billing.domain import policy_reference

    from contracts import ReimbursementCalculated, TuitionInvoiced, decode_event, new_event

    policy = active_policy(BillingSettings())
    items = records(uuid.uuid4().hex[:8], events, topics.ENROLMENT_EVENTS)
    started = time.process_time()
    decoded = [decode_event(record.value, key=record.key) for record in items]
    decode = time.process_time() - started
    started = time.process_time()
    snapshots: dict[str, domain.EnrolmentSnapshot] = {}
    for event in decoded:
        data: Any = event.data
        if event.type == "EnrolmentCreated":
            snapshot = usecases.snapshot_from_event(data)
            invoice = domain.compute_invoice(snapshot)
            snapshots[data.enrolment_id] = snapshot
            payload: TuitionInvoiced | ReimbursementCalculated = TuitionInvoiced(
                enrolment_id=data.enrolment_id, student_id=data.student.id,
                microcredential_id=data.microcredential.id, academic_year=invoice.academic_year,
                currency=invoice.currency,
                lines=[usecases.semester_amount(x.semester, x.credits, x.amount) for x in invoice.lines],
                fixed_fee=invoice.fixed_fee, total=invoice.total,
            )  # fmt: skip
        else:
            result = domain.calculate_reimbursement(snapshots[data.enrolment_id], data.cancelled_at, policy)
            payload = ReimbursementCalculated(
                enrolment_id=data.enrolment_id, cancelled_at=data.cancelled_at.astimezone(UTC),
                policy=policy_reference(policy), rule=result.rule_id, currency=result.currency,
                lines=[usecases.semester_amount(x.semester, x.credits, x.refunded) for x in result.lines],
                fixed_fee=result.fixed_fee, total=result.total,
            )  # fmt: skip
        new_event(payload, source=usecases.SOURCE, time=event.time.astimezone(UTC)).to_kafka()
    rest = time.process_time() - started
    return {"decode": decode / events * 1e6, "domain and output event": rest / events * 1e6}


_PROFILE_GROUPS = {
    # group -> (file suffix, function name); cumulative times, so groups overlap where calls nest.
    "decode + validate input (contract)": [("contracts/envelope.py", "decode_event")],
    "processed-event check (SELECT)": [("reliability/applying.py", "_already_processed")],
    "billing: load (one lock statement + 3 SELECTs)": [("billing/store/unit_of_work.py",
                                                        "load_catalogue_and_enrolments")],
    "billing: apply the events in memory": [("billing/usecases/__init__.py", "_bill")],
    "  pricing (domain)": [("billing/domain/tuition.py", "compute_invoice"),
                           ("billing/domain/reimbursement.py", "calculate_reimbursement")],
    "  build + validate output (contract)": [("contracts/envelope.py", "new_event")],
    "  serialise output (to_kafka)": [("contracts/envelope.py", "to_kafka")],
    "  outbox row (headers, trace context)": [("reliability/outbox.py", "outbox_row")],
    "  trace span per event (consuming)": [("reliability/tracing.py", "consuming")],
    "billing: write (every table + outbox)": [("billing/store/unit_of_work.py", "save")],
    "all statements via Session.execute": [("sqlalchemy/orm/session.py", "execute")],
    "  driver executing (sqlite3 / psycopg)": [("~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
                                               ("~", "<method 'executemany' of 'sqlite3.Cursor' objects>"),
                                               ("psycopg/cursor.py", "execute"), ("psycopg/cursor.py", "executemany")],
    "commit": [("sqlalchemy/orm/session.py", "commit")],
}  # fmt: skip


def profile(database_url: str, variant: Sequence[str], events: int, batch: int, top: int = 15) -> None:
    """cProfile one run of the database step: the cumulative share and µs per event of each group of functions,
    then the functions with the most time of their own (µs are inflated by the profiler's overhead)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    measure(database_url, variant, events, batch)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = next(v[3] for (f, _, name), v in stats.items() if f.endswith("apply_micro.py") and name == "measure")
    print(
        f"cProfile of {'+'.join(variant) or 'kit'}, {events} events: {total:.1f}s under the profiler, "
        f"{total / events * 1e6:.0f} µs/event (cumulative shares overlap)"
    )
    for group, functions in _PROFILE_GROUPS.items():
        chosen = [v for (f, _, name), v in stats.items() if any(f.endswith(s) and name == n for s, n in functions)]
        seconds = sum(v[3] for v in chosen)
        calls = sum(v[1] for v in chosen)
        print(f"  {group:<48} {100 * seconds / total:5.1f} %  {seconds / events * 1e6:6.0f} µs/event  {calls:6d} calls")
    print(f"  top {top} by own time:")
    own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (f, line, name), v in own:
        where = f if f == "~" else "/".join(Path(f).parts[-2:]) + f":{line}"
        print(f"    {100 * v[2] / total:5.1f} %  {v[2] / events * 1e6:6.1f} µs/event  {name}  ({where})")


def batch_memory(database_url: str, variant: Sequence[str], events: int, batch: int) -> None:
    """Python's own memory for one batch of the database step (tracemalloc): the peak above what was live before
    the batch, and what the batch left live. Memory that C libraries take with malloc is not traced."""
    import tracemalloc

    with exp.applied(variant):
        _app, runtime = build(BillingSettings(database_url=database_url, api_tokens=API_TOKENS))
        consumer = billing_consumer(runtime)
        items = records(uuid.uuid4().hex[:8], events, topics.ENROLMENT_EVENTS)
        consumer._apply_batch([catalogue_record(topics.CATALOGUE)])
        consumer._apply_batch(items[:batch])  # the caches the first batch fills are not the batch's
        tracemalloc.start()
        peaks, kept = [], []
        for start in range(batch, len(items), batch):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            consumer._apply_batch(items[start : start + batch])
            current, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - before)
            kept.append(current - before)
        tracemalloc.stop()
        runtime.engine.dispose()
    print(
        f"Python memory of one batch of {batch} ({'+'.join(variant) or 'kit'}, {len(peaks)} batches): peak "
        f"{statistics.median(peaks) / 2**20:.1f} MiB above what was live before it "
        f"({statistics.median(peaks) / batch / 1024:.1f} KiB/event), left live {statistics.median(kept) / 2**20:+.2f} MiB"
    )


def sql_floor(databases: Databases, events: int, batch: int) -> float:
    """CPU µs per event of the kit's own SQL sent straight to the driver: every statement and parameter set the
    database step sent (recorded at the cursor), replayed in order on an empty database of the same schema with
    the raw DBAPI connection, committing where the kit committed. No SQLAlchemy, no decoding, no pricing: what
    the database work costs the consumer's process with no Python around it (PostgreSQL's own CPU not counted)."""
    from billing.bootstrap import MIGRATIONS
    from reliability.database import create_database_engine
    from reliability.migrations import upgrade_to_head
    from sqlalchemy import event

    recorded: list[tuple[str, Any, bool] | None] = []  # None: a commit
    url = databases.new("record")
    _app, runtime = build(BillingSettings(database_url=url, api_tokens=API_TOKENS))
    engine = runtime.engine

    def cursor_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        recorded.append((statement, parameters, many))

    event.listen(engine, "before_cursor_execute", cursor_execute)
    event.listen(engine, "commit", lambda conn: recorded.append(None))
    consumer = billing_consumer(runtime)
    items = records(uuid.uuid4().hex[:8], events, topics.ENROLMENT_EVENTS)
    consumer._apply_batch([catalogue_record(topics.CATALOGUE)])
    consumer._apply_batch(items[:batch])
    warm = len(recorded)
    for start in range(batch, len(items), batch):
        consumer._apply_batch(items[start : start + batch])
    engine.dispose()

    replay_url = databases.new("replay")
    upgrade_to_head(replay_url, MIGRATIONS)
    replay = create_database_engine(replay_url)  # the kit's connection settings (SQLite's pragmas)
    raw = replay.raw_connection()
    dbapi: Any = raw.driver_connection
    cursor = dbapi.cursor()

    def run(entries: list[tuple[str, Any, bool] | None]) -> None:
        for entry in entries:
            if entry is None:
                dbapi.commit()
            elif entry[2]:
                cursor.executemany(entry[0], entry[1])
            else:
                cursor.execute(entry[0], entry[1])

    run(recorded[:warm])
    started = time.process_time()
    run(recorded[warm:])
    spent = time.process_time() - started
    raw.close()
    replay.dispose()
    # The replay must have written what the kit wrote, or its time means nothing.
    written, replayed = snapshot(url), snapshot(replay_url)
    differing = [table for table in written if written[table] != replayed.get(table)]
    assert not differing, f"the replay left other rows in {differing}"
    return spent / (len(items) - batch) * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.apply_micro", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--experiment", default="", help=f"variants besides the kit as it is: {exp.known()}")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each variant once and print where the time goes"
    )
    parser.add_argument("--floor", action="store_true", help="also measure the per-event work without any database")
    parser.add_argument(
        "--sql-floor", action="store_true", help="also replay the database step's SQL on the bare driver, timed"
    )
    parser.add_argument(
        "--memory", action="store_true", help="also measure one batch's Python memory (tracemalloc), each variant"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check each variant leaves exactly the rows and outbox bytes of the kit as it is",
    )
    args = parser.parse_args(argv)
    variants: list[tuple[str, ...]] = [(), *(tuple(v.split("+")) for v in args.experiment.split(",") if v)]
    for variant in variants:
        exp.check(variant)
    with tempfile.TemporaryDirectory(prefix="bench-micro-") as workdir:
        databases = Databases(args.database, Path(workdir))
        try:
            if args.verify:
                verify(databases, variants, args.events, args.batch)
            if args.sql_floor:
                sql = [sql_floor(databases, args.events, args.batch) for _ in range(args.repeats)]
                print(
                    f"floor: the kit's SQL replayed on the raw driver CPU {statistics.median(sql):7.0f} µs/event "
                    f"[{min(sql):.0f}-{max(sql):.0f}]"
                )
            if args.memory:
                for variant in variants:
                    batch_memory(databases.new("memory"), variant, args.events, args.batch)
            if args.profile:
                for variant in variants:
                    profile(databases.new("profile"), variant, args.events, args.batch)
            results: dict[str, list[tuple[float, float]]] = {}
            for _ in range(args.repeats):  # interleaved, so background load hits every variant alike
                for variant in variants:
                    name = "+".join(variant) or "kit"
                    results.setdefault(name, []).append(
                        measure(databases.new("micro"), variant, args.events, args.batch)
                    )
        finally:
            databases.drop_all()
    if args.floor:
        parts = [floor(args.events) for _ in range(args.repeats)]
        for part_name in parts[0]:
            floor_values = [part[part_name] for part in parts]
            print(
                f"floor: {part_name:<30} CPU {statistics.median(floor_values):7.0f} µs/event "
                f"[{min(floor_values):.0f}-{max(floor_values):.0f}]"
            )
    base = statistics.median(cpu for cpu, _ in results["kit"])
    print(f"{args.events} events, batches of {args.batch}, {args.database}, {args.repeats} repeats (median [min-max])")
    for name, values in results.items():
        cpus = [cpu * 1e6 for cpu, _ in values]
        walls = [wall * 1e6 for _, wall in values]
        print(
            f"{name:<40} CPU {statistics.median(cpus):7.0f} µs/event [{min(cpus):.0f}-{max(cpus):.0f}]  "
            f"wall {statistics.median(walls):7.0f} µs/event  => {1e6 / statistics.median(cpus):6.0f} events/CPU-s  "
            f"x{base * 1e6 / statistics.median(cpus):.2f}"
        )


if __name__ == "__main__":
    main()
