"""Billing pipeline benchmark: throughput against a raw aiokafka loop, latency, rebuild time, peak RSS.

    uv run python -m benchmarks.billing_pipeline [--events N] [--repeats R] [--rebuild 100000,1000000]
        [--database sqlite|postgres] [--experiment NAME[,NAME...]] [--profile] [--skip SECTION,...]
        [--learners N] [--http-enrolments N]   (enrolment and certification against raw loops of their own:
                                               benchmarks.service_throughput)

Starts its own Kafka (localkafka, removed afterwards) unless KAFKA_BOOTSTRAP_SERVERS is set, and uses a unique
topic prefix, so it can share a broker. Writes `bench-results/<run>.json` and `.md` (git-ignored); the short
report in docs/benchmark.md is written by hand from those. See docs/benchmark.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from billing.bootstrap import build
from billing.config import BillingSettings
from reliability.topics import ensure_topics
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks import experiments as exp
from benchmarks import scale_out, workload
from benchmarks.raw_loop import RAW_OUTPUT, raw_loop
from benchmarks.service_process import API_TOKENS, service_environment_name
from contracts import topics

log = logging.getLogger("benchmarks")

PARTITIONS = 3
RESULTS = Path("bench-results")
DEFAULT_POSTGRES = "postgresql+psycopg://mctest:mctest@127.0.0.1:5432/postgres"


# --- infrastructure ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def kafka() -> Iterator[tuple[str, str]]:
    """(bootstrap, description): the broker in KAFKA_BOOTSTRAP_SERVERS, else a fresh localkafka removed at exit."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given, f"external broker {given} (KAFKA_BOOTSTRAP_SERVERS)"
        return
    from localkafka import KAFKA_VERSION, LocalKafka

    broker = LocalKafka(name="bench", fresh=True, remove_on_stop=True, tie_to_parent=True)
    started = time.perf_counter()
    bootstrap = broker.start()
    try:
        yield (
            bootstrap,
            f"localkafka Apache Kafka {KAFKA_VERSION}, single node, started in {time.perf_counter() - started:.1f}s",
        )
    finally:
        broker.stop()


class Databases:
    """A fresh, empty database per run: a new SQLite file, or a new PostgreSQL database dropped afterwards."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self._admin_url = os.environ.get("POSTGRES_URL", DEFAULT_POSTGRES)
        self._created: list[str] = []

    def new(self, label: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / f'{label}-{uuid.uuid4().hex[:6]}.db'}"
        name = f"bench_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self._created.append(name)
        return make_url(self._admin_url).set(database=name).render_as_string(hide_password=False)

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite {__import__('sqlite3').sqlite_version} (WAL, synchronous=NORMAL) in {self.workdir}"
        admin = create_engine(self._admin_url)
        with admin.connect() as connection:
            version = connection.execute(text("select version()")).scalar_one()
        admin.dispose()
        return f"PostgreSQL at {make_url(self._admin_url).host}:{make_url(self._admin_url).port}: {version}"

    def drop_all(self) -> None:
        if not self._created:
            return
        from tests.db_fixtures import drop_database  # retries past an autovacuum worker the role may not stop

        admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        for name in self._created:
            drop_database(admin, name)
        admin.dispose()


@dataclass
class Bench:
    bootstrap: str
    offsets: workload.Offsets
    databases: Databases
    run_id: str
    experiments: tuple[str, ...] = ()
    seed: str = ""
    """Names the input's enrolments and events; the same seed gives the same input, so the digests of two runs
    (say, before and after a kit change) can be compared."""

    def __post_init__(self) -> None:
        self.seed = self.seed or self.run_id

    def prefix(self, label: str) -> str:
        return f"bench-{self.run_id}-{label}-"

    async def topics_for(self, prefix: str) -> None:
        names = [*topics.ALL, topics.dead_letter_topic(topics.ENROLMENT_EVENTS), RAW_OUTPUT]
        await ensure_topics(self.bootstrap, [prefix + name for name in names], PARTITIONS)


# --- one run of each system ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    system: str
    events: int
    wall_seconds: float
    first_output_seconds: float
    steady_rate: float
    wall_rate: float
    samples: list[tuple[float, int]]
    cpu_us_per_event: float
    """CPU time of this whole process (all threads, watcher included) per event: steadier than wall time on a
    shared machine."""
    machine_cpu_us_per_event: float
    """CPU time of the whole machine (this process, the broker, the database; `nice`d work left out) per event:
    what the design costs in all, the figure a floor on a 2-core machine is computed from."""
    load_average: float
    verified: dict[str, int | str] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"{self.system:<28} {self.events:>8} events  {self.wall_rate:>7.0f}/s  wall {self.wall_seconds:>6.1f}s  "
            f"first output {self.first_output_seconds:.2f}s  after it {self.steady_rate:.0f}/s  "
            f"CPU {self.cpu_us_per_event:.0f} µs/event (machine {self.machine_cpu_us_per_event:.0f})  "
            f"load {self.load_average:.1f}"
        )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _result(system: str, timeline: workload.Timeline, cpu: float, machine_cpu: float) -> RunResult:
    return RunResult(
        cpu_us_per_event=cpu / timeline.expected * 1e6,
        machine_cpu_us_per_event=machine_cpu / timeline.expected * 1e6,
        load_average=os.getloadavg()[0],
        system=system,
        events=timeline.expected,
        wall_seconds=timeline.wall,
        first_output_seconds=timeline.first_output,
        steady_rate=timeline.steady_rate(),
        samples=timeline.samples,
        wall_rate=timeline.expected / timeline.wall,
    )


async def run_raw(bench: Bench, prefix: str, events: int, limit_seconds: float) -> RunResult:
    output = prefix + RAW_OUTPUT
    baseline = await bench.offsets.total(output)
    stop = asyncio.Event()
    timeline = workload.Timeline(expected=events)
    cpu, machine_cpu = cpu_seconds(), workload.machine_cpu_seconds()
    task = asyncio.create_task(
        raw_loop(bench.bootstrap, prefix + topics.ENROLMENT_EVENTS, output, f"raw-{uuid.uuid4().hex[:8]}", stop)
    )
    try:
        await workload.watch_output(bench.offsets, output, baseline, timeline, limit_seconds)
    finally:
        stop.set()
        await task
    return _result("raw aiokafka loop", timeline, cpu_seconds() - cpu, workload.machine_cpu_seconds() - machine_cpu)


@contextlib.asynccontextmanager
async def billing_runtime(
    bench: Bench, prefix: str, database_url: str, group: str, experiments: Sequence[str]
) -> AsyncIterator[Any]:
    """Billing's own runtime (consumer + relay) in this process, with a group of its own and `experiments` applied."""
    settings = BillingSettings(
        kafka_bootstrap_servers=bench.bootstrap,
        database_url=database_url,
        topic_prefix=prefix,
        topic_partitions=PARTITIONS,
        api_tokens=API_TOKENS,
        instance_id=f"bench-{uuid.uuid4().hex[:6]}",
    )
    with exp.applied(experiments):
        _app, runtime = build(settings)
        original_start = runtime.start

        async def start() -> None:
            await original_start()
            # The group id is the service name; the benchmark reads the same input several times, so each run
            # needs its own group to start again from offset 0.
            assert runtime.consumer is not None
            runtime.consumer.settings.group_id = group

        runtime.start = start  # type: ignore[method-assign]
        try:
            with workload.collector_as_served():
                async with runtime.background():
                    yield runtime
        finally:
            runtime.engine.dispose()


async def run_billing(
    bench: Bench, prefix: str, events: int, limit_seconds: float, experiments: Sequence[str], verify: bool = False
) -> RunResult:
    output = prefix + topics.BILLING_EVENTS
    start_offsets = await bench.offsets.end(output)
    baseline = sum(start_offsets.values())
    database_url = bench.databases.new("billing")
    group = f"billing-{uuid.uuid4().hex[:8]}"
    timeline = workload.Timeline(expected=events)
    async with billing_runtime(bench, prefix, database_url, group, experiments):
        timeline.started = time.perf_counter()  # migrations are not part of the figure; Kafka start-up is
        cpu, machine_cpu = cpu_seconds(), workload.machine_cpu_seconds()
        await workload.watch_output(bench.offsets, output, baseline, timeline, limit_seconds)
        cpu, machine_cpu = cpu_seconds() - cpu, workload.machine_cpu_seconds() - machine_cpu
    label = "billing" + (f" [{'+'.join(experiments)}]" if experiments else "")
    result = _result(label, timeline, cpu, machine_cpu)
    for name, waits in exp.RELAY_WAITS.items():
        print(
            f"        relay {name}: {len(waits)} writes, median {statistics.median(waits) * 1000:.0f} ms, "
            f"max {max(waits) * 1000:.0f} ms, {sum(waits):.1f}s in all",
            flush=True,
        )
    exp.RELAY_WAITS.clear()
    if verify:
        result.verified = await workload.read_types(
            bench.bootstrap, output, start_offsets, await bench.offsets.end(output)
        )
    return result


# --- sections -----------------------------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


async def throughput_section(
    bench: Bench, events: int, repeats: int, variants: Sequence[tuple[str, ...]]
) -> dict[str, Any]:
    prefix = bench.prefix("tp")
    await bench.topics_for(prefix)
    prefill = await workload.prefill(bench.bootstrap, prefix + topics.ENROLMENT_EVENTS, bench.seed, events)
    print(f"prefilled {events} events in {prefill:.1f}s ({events / prefill:.0f}/s)", flush=True)
    limit = max(120.0, events / 50)
    runs: dict[str, list[RunResult]] = {}
    for repeat in range(repeats):
        # Interleaved, so a neighbour's load on the shared machine hits both systems alike.
        raw = await run_raw(bench, prefix, events, limit)
        runs.setdefault("raw", []).append(raw)
        print(f"[{repeat + 1}/{repeats}] {raw.line()}", flush=True)
        for variant in variants:
            result = await run_billing(bench, prefix, events, limit, variant, verify=repeat == 0)
            runs.setdefault("+".join(variant) or "billing", []).append(result)
            print(f"[{repeat + 1}/{repeats}] {result.line()}", flush=True)
            if result.verified:
                print(f"        verified output: {result.verified}", flush=True)
    raws = runs["raw"]
    summary: dict[str, Any] = {
        "events": events,
        "prefill_seconds": prefill,
        "runs": {},
        "ratios": {},
        "ratios_after_first_output": {},
    }
    for name, results in runs.items():
        summary["runs"][name] = {
            "wall_rate": spread([r.wall_rate for r in results]),
            "steady_rate": spread([r.steady_rate for r in results]),
            "wall_seconds": spread([r.wall_seconds for r in results]),
            "first_output_seconds": spread([r.first_output_seconds for r in results]),
            "cpu_us_per_event": spread([r.cpu_us_per_event for r in results]),
            "machine_cpu_us_per_event": spread([r.machine_cpu_us_per_event for r in results]),
            "detail": [asdict(r) for r in results],
        }
        if name != "raw":
            # Per repeat against the raw run of the same repeat, then their spread. The headline uses wall rates
            # (all N events from start to the last output): the rate after the first output flatters a run whose
            # relay starved, publishing everything in a few late bursts.
            summary["ratios_after_first_output"][name] = spread(
                [r.steady_rate / b.steady_rate for r, b in zip(results, raws, strict=True)]
            )
            ratios = [r.wall_rate / b.wall_rate for r, b in zip(results, raws, strict=True)]
            summary["ratios"][name] = spread(ratios)
    return summary


async def service_section(bench: Bench, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """billing and the raw loop as processes: idle RSS, latency at a steady rate, peak RSS; enrolment's RSS."""
    from benchmarks import service_process as sp

    out: dict[str, Any] = {}
    experiments = tuple(args.service_experiment.split("+")) if args.service_experiment else ()
    prefix = bench.prefix("svc")
    await bench.topics_for(prefix)
    billing = sp.billing_process(bench.bootstrap, bench.databases.new("svc"), prefix, workdir, PARTITIONS, experiments)
    billing.start()
    sampler = asyncio.create_task(billing.sample_memory())
    try:
        healthy = await billing.wait_healthy()
        await asyncio.sleep(5)
        idle = billing.memory()
        latency = await sp.measure_latency(
            bench.bootstrap,
            prefix + topics.ENROLMENT_EVENTS,
            prefix + topics.BILLING_EVENTS,
            bench.run_id,
            args.rate,
            args.latency_seconds,
            PARTITIONS,
        )
        after = billing.memory()
    finally:
        code = billing.stop()
        await sampler
    out["billing"] = {
        "command": " ".join(billing.argv[1:]),
        "healthy_after_seconds": healthy,
        "idle_rss_mib": idle["VmRSS"],
        "peak_rss_mib_after_latency_run": after["VmHWM"],
        "latency": latency,
        "exit_code": code,
    }
    print(
        f"billing process: healthy {healthy:.1f}s, idle RSS {idle['VmRSS']:.0f} MiB, peak {after['VmHWM']:.0f} MiB",
        flush=True,
    )
    print(f"billing latency at {args.rate:.0f}/s: {_latency_line(latency)}", flush=True)

    skip = set(args.skip.split(","))
    if "raw-latency" not in skip:
        out["raw"] = await _raw_latency(bench, args, workdir)
    await _rss_of_the_other_services(out, bench, args, workdir, skip)
    return out


async def _raw_latency(bench: Bench, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from benchmarks import service_process as sp

    raw_prefix = bench.prefix("svcraw")
    await bench.topics_for(raw_prefix)
    raw = sp.raw_process(bench.bootstrap, raw_prefix + topics.ENROLMENT_EVENTS, raw_prefix + RAW_OUTPUT, workdir)
    raw.start()
    try:
        latency = await sp.measure_latency(
            bench.bootstrap,
            raw_prefix + topics.ENROLMENT_EVENTS,
            raw_prefix + RAW_OUTPUT,
            bench.run_id,
            args.rate,
            args.latency_seconds,
            PARTITIONS,
        )
        memory = raw.memory()
    finally:
        raw.stop()
    print(
        f"raw loop latency at {args.rate:.0f}/s: {_latency_line(latency)}; peak RSS {memory['VmHWM']:.0f} MiB",
        flush=True,
    )
    return {"latency": latency, "peak_rss_mib": memory["VmHWM"]}


async def _rss_of_the_other_services(
    out: dict[str, Any], bench: Bench, args: argparse.Namespace, workdir: Path, skip: set[str]
) -> None:
    from benchmarks import service_process as sp

    if "enrolment" in skip:
        out["enrolment"] = {"runnable": True, "note": "skipped"}
    elif sp.runnable("enrolment"):
        out["enrolment"] = await _enrolment_rss(bench, workdir, args.enrolment_requests)
    else:
        out["enrolment"] = {"runnable": False}
    if "certification" in skip:
        out["certification"] = {"runnable": False, "note": "skipped"}
    elif sp.runnable("certification"):
        out["certification"] = await _certification_rss(bench, workdir, args.certification_events)
    else:
        out["certification"] = {"runnable": False, "note": "no `python -m certification` entry point in this tree"}


async def _certification_rss(bench: Bench, workdir: Path, events: int) -> dict[str, Any]:
    """certification idle, then consuming `events` enrolment events (it records enrolments and cancellations)."""
    from benchmarks import service_process as sp

    prefix = bench.prefix("cert")
    await bench.topics_for(prefix)
    port = sp.free_port()
    env = sp.service_environment(bench.bootstrap, bench.databases.new("certification"), prefix, port, PARTITIONS)
    # DEV_MODE: a throwaway signing key for this process instead of a configured secret.
    env.update({"DEV_MODE": "true", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    process = sp.Process([sp.service_python(), "-m", "certification"], env, workdir / "certification.log", port=port)
    process.start()
    try:
        healthy = await process.wait_healthy()
        await asyncio.sleep(5)
        idle = process.memory()
        started = time.perf_counter()
        await workload.prefill(bench.bootstrap, prefix + topics.ENROLMENT_EVENTS, bench.run_id, events)
        group, topic = prefix + "certification", prefix + topics.ENROLMENT_EVENTS
        while await bench.offsets.committed(group, topic) < events:
            if time.perf_counter() - started > max(300.0, events / 10):
                raise TimeoutError(f"certification consumed {await bench.offsets.committed(group, topic)} of {events}")
            await asyncio.sleep(0.5)
        seconds = time.perf_counter() - started
        after = process.memory()
    finally:
        code = process.stop()
    print(
        f"certification process: idle RSS {idle['VmRSS']:.0f} MiB, peak {after['VmHWM']:.0f} MiB after consuming "
        f"{events} enrolment events in {seconds:.1f}s",
        flush=True,
    )
    return {
        "runnable": True,
        "healthy_after_seconds": healthy,
        "idle_rss_mib": idle["VmRSS"],
        "peak_rss_mib": after["VmHWM"],
        "load": {"events": events, "seconds": seconds},
        "exit_code": code,
    }


async def _enrolment_rss(bench: Bench, workdir: Path, enrolments: int) -> dict[str, Any]:
    from benchmarks import service_process as sp

    prefix = bench.prefix("enr")
    await bench.topics_for(prefix)
    port = sp.free_port()
    env = sp.service_environment(bench.bootstrap, bench.databases.new("enrolment"), prefix, port, PARTITIONS)
    process = sp.Process([sp.service_python(), "-m", "enrolment"], env, workdir / "enrolment.log", port=port)
    process.start()
    try:
        healthy = await process.wait_healthy()
        await asyncio.sleep(5)
        idle = process.memory()
        load = await sp.enrolment_load(port, enrolments)
        await asyncio.sleep(2)  # let its consumer read back its own events
        after = process.memory()
    finally:
        code = process.stop()
    print(
        f"enrolment process: idle RSS {idle['VmRSS']:.0f} MiB, peak {after['VmHWM']:.0f} MiB after "
        f"{load['requests']} requests ({load['requests_per_second']:.0f}/s, {load['statuses']})",
        flush=True,
    )
    return {
        "healthy_after_seconds": healthy,
        "idle_rss_mib": idle["VmRSS"],
        "peak_rss_mib": after["VmHWM"],
        "load": load,
        "exit_code": code,
    }


def _latency_line(latency: dict[str, Any]) -> str:
    return (
        f"p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms, max {latency['max_ms']:.0f} ms "
        f"(p50 first/last quarter {latency['p50_first_quarter_ms']:.0f}/{latency['p50_last_quarter_ms']:.0f} ms, "
        f"sent {latency['sent']} at {latency['achieved_send_rate']:.0f}/s, missing {latency['missing']})"
    )


async def rebuild_one(bench: Bench, events: int, workdir: Path, experiments: Sequence[str]) -> dict[str, Any]:
    """Prefill `events`, then start `python -m billing` on an empty database; time until every output is out."""
    from benchmarks import service_process as sp

    prefix = bench.prefix(f"rb{events}")
    await bench.topics_for(prefix)
    prefill = await workload.prefill(bench.bootstrap, prefix + topics.ENROLMENT_EVENTS, bench.run_id, events)
    process = sp.billing_process(
        bench.bootstrap, bench.databases.new("rebuild"), prefix, workdir, PARTITIONS, experiments
    )
    timeline = workload.Timeline(expected=events)
    machine_cpu = workload.machine_cpu_seconds()
    process.start()
    timeline.started = process.started
    sampler = asyncio.create_task(process.sample_memory(every=1.0))
    limit = max(600.0, events / 20)
    try:
        if exp.RELAY_OFF in exp.expand(experiments):
            # Nothing is published: the consumer's commits are the progress (the group is the runtime's default).
            await workload.watch_committed(
                bench.offsets, prefix + "billing", prefix + topics.ENROLMENT_EVENTS, timeline, limit
            )
        else:
            await workload.watch_output(
                bench.offsets, prefix + topics.BILLING_EVENTS, 0, timeline, limit, interval=0.25
            )
        memory = process.memory()
        machine_cpu = workload.machine_cpu_seconds() - machine_cpu
        # The service's own CPU: on a VM whose neighbours take cycles, wall times move far more than this.
        service_cpu = workload.process_cpu_seconds(process.pid)
        children = [(sp.memory_of(pid)["VmHWM"], workload.process_cpu_seconds(pid)) for pid in process.child_pids()]
    finally:
        process.stop()
        await sampler
    result = {
        "events": events,
        "prefill_seconds": prefill,
        "seconds": timeline.wall,
        "first_output_seconds": timeline.first_output,
        "rate": events / timeline.wall,
        "steady_rate": timeline.steady_rate(),
        "peak_rss_mib": memory["VmHWM"],
        "rss_mib_samples": process.rss_samples,
        "machine_cpu_us_per_event": machine_cpu / events * 1e6,
        "service_cpu_us_per_event": service_cpu / events * 1e6,
        "experiments": list(experiments),
        # OUTBOX_RELAY=process: the relay's own process, besides the service's figures above.
        "child_peak_rss_mib": [peak for peak, _ in children],
        "child_cpu_us_per_event": [cpu / events * 1e6 for _, cpu in children],
    }
    print(
        f"rebuild of {events} events: {result['seconds']:.1f}s ({result['rate']:.0f}/s, after first output {result['steady_rate']:.0f}/s), "
        f"peak RSS {memory['VmHWM']:.0f} MiB, machine CPU {result['machine_cpu_us_per_event']:.0f} µs/event, "
        f"service CPU {result['service_cpu_us_per_event']:.0f} µs/event "
        f"(prefill {prefill:.1f}s)"
        + "".join(
            f"; child process: peak RSS {peak:.0f} MiB, CPU {cpu / events * 1e6:.0f} µs/event" for peak, cpu in children
        ),
        flush=True,
    )
    return result


async def rebuild_section(
    bench: Bench, args: argparse.Namespace, workdir: Path, known_rate: float | None
) -> dict[str, Any]:
    experiments = tuple(args.service_experiment.split("+")) if args.service_experiment else ()
    out: dict[str, Any] = {"runs": []}
    if args.rebuild:
        sizes = [int(size) for size in args.rebuild.split(",")]
    else:
        # Estimate first: a 100 k rebuild is run only when it fits the budget at the rate seen so far.
        if known_rate is None:
            probe = await rebuild_one(bench, 4000, workdir, experiments)
            out["runs"].append(probe)
            known_rate = probe["rate"]
        estimate = 100_000 / known_rate
        out["estimate_basis_rate"] = known_rate
        if estimate <= args.rebuild_budget:
            sizes = [100_000]
        else:
            fitting = int(known_rate * args.rebuild_budget / 1000) * 1000
            sizes = [max(4000, fitting)]
            print(
                f"rebuild of 100k would take ~{estimate:.0f}s at {known_rate:.0f}/s (budget {args.rebuild_budget:.0f}s): "
                f"running {sizes[0]} events and extrapolating; pass --rebuild 100000 to run it",
                flush=True,
            )
    for size in sizes:
        out["runs"].append(await rebuild_one(bench, size, workdir, experiments))
    measured = {run["events"] for run in out["runs"]}
    rate = out["runs"][-1]["rate"]
    out["estimates_seconds"] = {str(size): size / rate for size in (100_000, 1_000_000) if size not in measured}
    return out


def _write_profile(profiler: Any, name: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / name
    Path(f"{stem}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    Path(f"{stem}.html").write_text(profiler.output_html())
    return stem


async def profile_section(bench: Bench, events: int, experiments: Sequence[str]) -> dict[str, Any]:
    """One billing run under pyinstrument, with the worker-thread calls inlined so one profile sees them.

    The kit runs database work in `asyncio.to_thread`; pyinstrument samples one thread, so the profile run
    calls those functions directly on the event loop. On a 2-core machine with the GIL this moves little: the
    CPU work is the same, only the overlap with Kafka I/O is lost (the run is a little slower than unprofiled).
    """
    from pyinstrument import Profiler

    prefix = bench.prefix("prof")
    await bench.topics_for(prefix)
    await workload.prefill(bench.bootstrap, prefix + topics.ENROLMENT_EVENTS, bench.run_id, events)

    async def inline(function: Any, /, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    with exp.patched(asyncio, "to_thread", inline):
        profiler.start()
        result = await run_billing(bench, prefix, events, max(120.0, events / 20), experiments)
        profiler.stop()
    stem = _write_profile(profiler, f"profile-{bench.run_id}-{'+'.join(experiments) or 'kit'}")
    print(f"profile of {result.line()}: {stem}.txt / .html", flush=True)
    return {"result": asdict(result), "text": f"{stem}.txt", "html": f"{stem}.html"}


# --- main ---------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.billing_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=10_000, help="input events of the throughput runs (half of them enrolments)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="throughput repeats (raw and billing interleaved)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--experiment",
        default="",
        help=f"comma-separated variants to run besides the kit as it is; '+' combines. Known: {exp.known()}",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to skip: throughput,enrolment-throughput,certification-throughput,service,"
        "rebuild, or within service: enrolment,certification (their RSS)",
    )
    parser.add_argument(
        "--learners",
        type=int,
        default=400,
        help="learners of certification-throughput (each an enrolment and a pass per course in, a credential out)",
    )
    parser.add_argument(
        "--http-enrolments",
        type=int,
        default=500,
        help="students of enrolment-throughput (each enrols and cancels over HTTP: two requests, two events out)",
    )
    parser.add_argument(
        "--http-concurrency", type=int, default=8, help="concurrent HTTP clients of enrolment-throughput"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=50.0,
        help="events/s of the latency runs (50: well below what billing sustained before the batch path on a 2-core machine, so "
        "the figure is the latency of a service keeping up, not of a growing backlog)",
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument(
        "--rebuild",
        default="",
        help="comma-separated rebuild sizes to run, e.g. 100000,1000000; default: 100000 if the estimate fits "
        "--rebuild-budget, else a smaller run and an extrapolation",
    )
    parser.add_argument("--rebuild-budget", type=float, default=60.0, help="seconds a default rebuild may take")
    parser.add_argument(
        "--enrolment-requests", type=int, default=300, help="enrolments (+ cancellations) of the enrolment load"
    )
    parser.add_argument(
        "--certification-events", type=int, default=2000, help="enrolment events fed to certification for its RSS"
    )
    parser.add_argument(
        "--service-experiment",
        default="",
        help="experiments (a+b) applied to the billing *process* of the latency, RSS and rebuild sections",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one billing run per variant (pyinstrument)"
    )
    parser.add_argument("--profile-events", type=int, default=4000)
    parser.add_argument("--seed", default="", help="fixed input (enrolment and event ids) for comparing runs")
    parser.add_argument(
        "--scale-out",
        type=int,
        default=0,
        help="also rebuild this many events with each of --replicas billing processes in one group (use PostgreSQL)",
    )
    parser.add_argument("--replicas", default="1,2", help="replica counts of the scale-out runs")
    parser.add_argument(
        "--only-experiments", action="store_true", help="do not run billing as it is (no experiment) in throughput"
    )
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    variants: list[tuple[str, ...]] = [] if args.only_experiments else [()]
    variants += [tuple(v.split("+")) for v in args.experiment.split(",") if v]
    for variant in variants:
        exp.check(variant)
    report: dict[str, Any] = {"run": run_id, "args": vars(args), "machine": machine()}
    report["service_environment"] = service_environment_name()
    with kafka() as (bootstrap, broker), tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        report["broker"] = broker
        databases = Databases(args.database, Path(workdir))
        report["database"] = databases.describe()
        offsets = workload.Offsets(bootstrap, PARTITIONS)
        await offsets.start()
        bench = Bench(bootstrap, offsets, databases, run_id, seed=args.seed)
        try:
            if "throughput" not in skip:
                report["throughput"] = await throughput_section(bench, args.events, args.repeats, variants)
            await _service_throughput(bench, args, skip, Path(workdir), report)
            if "service" not in skip:
                report["service"] = await service_section(bench, args, Path(workdir))
            if "rebuild" not in skip:
                report["rebuild"] = await rebuild_section(bench, args, Path(workdir), _billing_rate(report))
            if args.scale_out:
                counts = [int(count) for count in args.replicas.split(",")]
                report["scale_out"] = await scale_out.scale_out_section(bench, args.scale_out, counts, Path(workdir))
            if args.profile:
                report["profiles"] = {
                    "+".join(v) or "kit": await profile_section(bench, args.profile_events, v) for v in variants
                }
        finally:
            await offsets.stop()
            databases.drop_all()
    return report


async def _service_throughput(
    bench: Bench, args: argparse.Namespace, skip: set[str], workdir: Path, report: dict[str, Any]
) -> None:
    """Enrolment and certification against raw loops of their own (benchmarks.service_throughput)."""
    from benchmarks import enrolment_throughput, service_throughput

    if "enrolment-throughput" not in skip:
        report["enrolment_throughput"] = await enrolment_throughput.enrolment_throughput_section(bench, args, workdir)
    if "certification-throughput" not in skip:
        report["certification_throughput"] = await service_throughput.certification_throughput_section(bench, args)


def _billing_rate(report: dict[str, Any]) -> float | None:
    """Median rate of the billing variant the process sections run (the kit, or --service-experiment)."""
    args = report["args"]
    name = "+".join(args["service_experiment"].split("+")) if args["service_experiment"] else "billing"
    runs = report.get("throughput", {}).get("runs", {})
    return runs[name]["wall_rate"]["median"] if name in runs else None


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    memory = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as info:
        memory = f"{int(info.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_at_start": os.getloadavg(),
    }


def _spread_text(values: dict[str, float], unit: str = "", digits: int = 0) -> str:
    return f"{values['median']:.{digits}f}{unit} [{values['min']:.{digits}f}–{values['max']:.{digits}f}]"


def summary(report: dict[str, Any]) -> str:
    """The figures of one run as Markdown (medians with [min–max] over the repeats)."""
    m = report["machine"]
    lines = [
        f"# billing pipeline benchmark, run {report['run']}",
        "",
        f"- machine: {m['cpus']} × {m['cpu']}, {m['memory']}, Python {m['python']}, load at start {m['load_at_start'][0]:.1f}",
        f"- broker: {report['broker']}",
        f"- database: {report['database']}",
        f"- services run from: {report.get('service_environment', 'dev environment')}",
        f"- total time: {report.get('seconds', 0):.0f}s",
    ]
    tp = report.get("throughput")
    if tp:
        lines += [
            "",
            f"## Throughput ({tp['events']} input events = {tp['events'] // 2} enrolments, {len(tp['runs']['raw']['detail'])} repeats)",
            "",
            "| system | events/s | wall s | first output s | CPU µs/event | machine CPU µs/event | ratio to raw "
            "| events/s after first output (ratio) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, run in tp["runs"].items():
            ratio = _spread_text(tp["ratios"][name], digits=3) if name in tp["ratios"] else "1"
            after = f"{run['steady_rate']['median']:.0f}"
            if name in tp.get("ratios_after_first_output", {}):
                after += f" ({tp['ratios_after_first_output'][name]['median']:.3f})"
            lines.append(
                f"| {name} | {_spread_text(run['wall_rate'])} | {_spread_text(run['wall_seconds'], digits=1)} | "
                f"{_spread_text(run['first_output_seconds'], digits=1)} | {run['cpu_us_per_event']['median']:.0f} | "
                f"{run['machine_cpu_us_per_event']['median']:.0f} | {ratio} | {after} |"
            )
        lines.append(
            "\nevents/s = all events / time from start to the last output; ratio = billing's ÷ the raw loop's of "
            "the same repeat; median [min–max]."
        )
    from benchmarks.service_throughput import summary_lines

    lines += summary_lines(report)
    svc = report.get("service")
    if svc:
        b, r = svc["billing"], svc.get("raw")
        lat = b["latency"]
        lines += [
            "",
            f"## Processes (`{b['command']}`), latency at {lat['rate']:.0f} events/s for {lat['seconds']:.0f}s",
            "",
            "| process | p50 ms | p90 ms | p99 ms | max ms | idle RSS MiB | peak RSS MiB |",
            "|---|---|---|---|---|---|---|",
            f"| billing | {lat['p50_ms']:.0f} | {lat['p90_ms']:.0f} | {lat['p99_ms']:.0f} | {lat['max_ms']:.0f} | "
            f"{b['idle_rss_mib']:.0f} | {b['peak_rss_mib_after_latency_run']:.0f} |",
        ]
        if r:
            lines.append(
                f"| raw loop | {r['latency']['p50_ms']:.0f} | {r['latency']['p90_ms']:.0f} | "
                f"{r['latency']['p99_ms']:.0f} | {r['latency']['max_ms']:.0f} | – | {r['peak_rss_mib']:.0f} |"
            )
        e = svc.get("enrolment", {})
        if e.get("runnable", True) and "idle_rss_mib" in e:
            lines.append(
                f"| enrolment ({e['load']['requests']} HTTP requests) | – | – | – | – | {e['idle_rss_mib']:.0f} | {e['peak_rss_mib']:.0f} |"
            )
        c = svc.get("certification", {})
        if c.get("runnable"):
            lines.append(
                f"| certification ({c['load']['events']} enrolment events) | – | – | – | – | {c['idle_rss_mib']:.0f} | {c['peak_rss_mib']:.0f} |"
            )
        else:
            lines.append(f"| certification | {c.get('note', 'not measured')} |")
        lines.append(
            f"\nbilling latency p50 first/last quarter: {lat['p50_first_quarter_ms']:.0f}/{lat['p50_last_quarter_ms']:.0f} ms "
            "(a growing figure means the service did not keep up)"
        )
    rb = report.get("rebuild")
    if rb:
        lines += ["", "## Rebuild from offset 0 (`python -m billing`, empty database)", ""]
        for run in rb["runs"]:
            lines.append(
                f"- {run['events']} events: {run['seconds']:.1f}s ({run['rate']:.0f}/s, after first output {run['steady_rate']:.0f}/s), "
                f"peak RSS {run['peak_rss_mib']:.0f} MiB, machine CPU {run.get('machine_cpu_us_per_event', 0):.0f} µs/event, "
                f"service CPU {run.get('service_cpu_us_per_event', 0):.0f} µs/event"
            )
        for size, seconds in rb["estimates_seconds"].items():
            lines.append(
                f"- {int(size)} events: estimated {seconds:.0f}s ({seconds / 60:.1f} min) at the rate of the last rebuild (not run)"
            )
    if report.get("scale_out"):
        lines += scale_out.summary_lines(report["scale_out"])
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    started = time.perf_counter()
    report = asyncio.run(amain(args))
    report["seconds"] = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"billing-{time.strftime('%Y%m%d-%H%M%S')}-{report['run']}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    text = summary(report)
    path.with_suffix(".md").write_text(text)
    print("\n" + text)
    print(f"results: {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
