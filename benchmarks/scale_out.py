"""Scale-out: one rebuild each with 1, 2, ... billing replicas (`python -m billing` processes) in one group.

Every replica gets the same database and topic prefix, so they form one consumer group and share the partitions,
as replicas in production do (on PostgreSQL; SQLite runs too, its writers take turns on one file). The topics get
`SCALE_OUT_PARTITIONS` partitions so that 1, 2, 3 and 6 replicas all get equal shares under the range assignor.
For each run: the wall time from the replicas' start to the last output, the rate together, and per replica the
events it applied (its `/metrics`), its CPU time (/proc) and its rate over the same wall time; the whole machine's
CPU per event (the broker and the database included), which says where a 2-core machine stops scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from reliability.topics import ensure_topics

from benchmarks import service_process as sp
from benchmarks import workload
from contracts import topics

if TYPE_CHECKING:
    from benchmarks.billing_pipeline import Bench  # which imports this module

SCALE_OUT_PARTITIONS = 6


async def applied_events(port: int) -> int:
    """events_consumed_total{outcome="applied"} of one replica's /metrics, all its consumers together."""
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    lines = (line for line in body.splitlines() if line.startswith("events_consumed_total{"))
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'outcome="applied"' in line))


async def scale_out_run(bench: Bench, events: int, replicas: int, workdir: Path) -> dict[str, Any]:
    prefix = bench.prefix(f"so{replicas}x{events}")
    names = [*topics.ALL, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(bench.bootstrap, [prefix + name for name in names], SCALE_OUT_PARTITIONS)
    prefill = await workload.prefill(bench.bootstrap, prefix + topics.ENROLMENT_EVENTS, bench.run_id, events)
    database = bench.databases.new(f"scaleout{replicas}")
    offsets = workload.Offsets(bench.bootstrap, SCALE_OUT_PARTITIONS)
    await offsets.start()
    processes = [
        sp.billing_process(bench.bootstrap, database, prefix, workdir, SCALE_OUT_PARTITIONS) for _ in range(replicas)
    ]
    for index, process in enumerate(processes):
        process.log_path = workdir / f"billing-{prefix.rstrip('-')}-{index}.log"
    timeline = workload.Timeline(expected=events)
    machine_before = workload.machine_cpu_seconds()
    try:
        for process in processes:
            process.start()
        timeline.started = processes[0].started
        limit = max(600.0, events / 20)
        await workload.watch_output(offsets, prefix + topics.BILLING_EVENTS, 0, timeline, limit, interval=0.25)
        machine_used = workload.machine_cpu_seconds() - machine_before
        per_replica = [await _replica_figures(process, timeline.wall) for process in processes]
    finally:
        for process in processes:
            process.stop()
        await offsets.stop()
    result = {
        "events": events,
        "replicas": replicas,
        "partitions": SCALE_OUT_PARTITIONS,
        "prefill_seconds": prefill,
        "seconds": timeline.wall,
        "first_output_seconds": timeline.first_output,
        "rate": events / timeline.wall,
        "steady_rate": timeline.steady_rate(),
        "machine_cpu_us_per_event": machine_used / events * 1e6,
        "machine_cores_busy": machine_used / timeline.wall,
        "per_replica": per_replica,
    }
    shares = ", ".join(f"{r['applied']} at {r['rate']:.0f}/s, {r['cpu_seconds']:.0f}s CPU" for r in per_replica)
    print(
        f"scale-out, {replicas} replica(s), {events} events: {timeline.wall:.1f}s ({result['rate']:.0f}/s), "
        f"machine {result['machine_cores_busy']:.2f} cores busy, {result['machine_cpu_us_per_event']:.0f} µs/event; "
        f"each: {shares}",
        flush=True,
    )
    return result


async def _replica_figures(process: sp.Process, wall: float) -> dict[str, Any]:
    assert process.port is not None
    applied = await applied_events(process.port)
    return {
        "applied": applied,
        "rate": applied / wall,
        "cpu_seconds": workload.process_cpu_seconds(process.pid),
        "peak_rss_mib": process.memory()["VmHWM"],
    }


async def scale_out_section(bench: Bench, events: int, replica_counts: list[int], workdir: Path) -> dict[str, Any]:
    runs = [await scale_out_run(bench, events, replicas, workdir) for replicas in replica_counts]
    single = next((run for run in runs if run["replicas"] == 1), None)
    for run in runs:
        run["speed_up"] = run["rate"] / single["rate"] if single else None
    return {"runs": runs}


def summary_lines(section: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Scale-out (billing replicas in one group)",
        "",
        "| replicas | events | seconds | events/s together | speed-up | machine cores busy | machine CPU µs/event "
        "| each replica: applied, events/s, CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in section["runs"]:
        each = "; ".join(f"{r['applied']}, {r['rate']:.0f}/s, {r['cpu_seconds']:.0f} s" for r in run["per_replica"])
        speed_up = f"{run['speed_up']:.2f}" if run["speed_up"] else "–"
        lines.append(
            f"| {run['replicas']} | {run['events']} | {run['seconds']:.1f} | {run['rate']:.0f} | {speed_up} | "
            f"{run['machine_cores_busy']:.2f} | {run['machine_cpu_us_per_event']:.0f} | {each} |"
        )
    return lines
