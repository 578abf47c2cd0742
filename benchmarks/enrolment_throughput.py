"""The enrolment-throughput section: HTTP enrolments and cancellations in -> events out, against a bare endpoint.

Enrolment's Kafka input (other campus systems' EnrolmentCreated/EnrolmentCancelled on enrolment.events) is
recorded and publishes nothing, so the path with output is HTTP (see `benchmarks.service_throughput`). Each
run has topics and a database of its own: the service's consumer reads enrolment.events from offset 0, and a
second run on the same topics would find the first run's enrolments of the very same students there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from reliability.topics import ensure_topics

from benchmarks import service_process as sp
from benchmarks import workload
from benchmarks.billing_pipeline import PARTITIONS, Bench
from benchmarks.service_throughput import ServiceRun, play, service_run, summarise, verify_output
from contracts import topics

RAW_ENROLMENTS = "raw.enrolments"


async def http_load(
    port: int, seed: str, students: int, concurrency: int, microcredential: tuple[str, str]
) -> dict[str, Any]:
    """`concurrency` clients, each enrolling a student and then cancelling that enrolment, until `students` are done."""
    headers = {"Authorization": f"Bearer {sp.TOKEN}"}
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(students):
        queue.put_nowait(index)
    mc_id, year = microcredential
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:

        async def client_loop() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                student = {
                    "id": f"S-{seed[:16]}-{index:07d}",
                    "given_name": "Ada",
                    "family_name": "Peeters",
                    "email": f"learner.{index}@example.org",
                }
                body = {"student": student, "microcredential_id": mc_id, "academic_year": year}
                await sp.enrol_then_cancel(client, body, statuses)

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"requests": sum(statuses.values()), "seconds": seconds, "statuses": statuses}


async def _timed(
    bench: Bench, system: str, server: sp.Process, output: str, args: argparse.Namespace, mc: tuple[str, str]
) -> ServiceRun:
    """The load against a healthy `server`, timed until every request's event is on `output`."""
    requests = 2 * args.http_enrolments
    timeline = workload.Timeline(expected=requests)
    baseline = await bench.offsets.total(output)
    cpu, machine_cpu = workload.process_cpu_seconds(server.pid), workload.machine_cpu_seconds()
    timeline.started = time.perf_counter()
    load_task = asyncio.create_task(
        http_load(server.port or 0, bench.seed, args.http_enrolments, args.http_concurrency, mc)
    )
    watch = asyncio.create_task(
        workload.watch_output(bench.offsets, output, baseline, timeline, max(180.0, requests / 5))
    )
    load = await load_task
    if load["statuses"].keys() - {201, 202}:
        watch.cancel()
        raise RuntimeError(f"{system}: some requests failed: {load['statuses']} (see {server.log_path})")
    await watch
    machine_cpu = workload.machine_cpu_seconds() - machine_cpu
    result = service_run(
        system, requests, timeline, workload.process_cpu_seconds(server.pid) - cpu, "events", machine_cpu
    )
    result.load = load
    return result


async def run_enrolment(bench: Bench, args: argparse.Namespace, workdir: Path, label: str, verify: bool) -> ServiceRun:
    prefix = bench.prefix(f"enrtp{label}")
    await bench.topics_for(prefix)
    port = sp.free_port()
    env = sp.service_environment(bench.bootstrap, bench.databases.new("enrolment"), prefix, port, PARTITIONS)
    server = sp.Process([sp.service_python(), "-m", "enrolment"], env, workdir / f"enrolment-tp{label}.log", port=port)
    output = prefix + topics.ENROLMENT_EVENTS
    start = await bench.offsets.end(output)
    server.start()
    try:
        await server.wait_healthy()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            entry = (await client.get("/microcredentials", headers={"Authorization": f"Bearer {sp.TOKEN}"})).json()[0]
        result = await _timed(bench, "enrolment", server, output, args, (entry["id"], entry["academic_year"]))
        if verify:
            result.verified = dict(await verify_output(bench, output, start, 2 * args.http_enrolments))
    finally:
        server.stop()
    return result


async def run_raw(bench: Bench, args: argparse.Namespace, workdir: Path, label: str) -> ServiceRun:
    output = bench.prefix(f"rawhttp{label}") + RAW_ENROLMENTS
    await ensure_topics(bench.bootstrap, [output], PARTITIONS)
    port = sp.free_port()
    argv = [sys.executable, "-m", "benchmarks.raw_http", bench.bootstrap, output, str(port)]
    server = sp.Process(argv, dict(os.environ), workdir / f"raw-http{label}.log", port=port)
    server.start()
    try:
        await server.wait_healthy()
        return await _timed(bench, "raw HTTP endpoint", server, output, args, ("mc-raw-endpoint", "2026-2027"))
    finally:
        server.stop()


async def enrolment_throughput_section(bench: Bench, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    runs: dict[str, list[ServiceRun]] = {"raw": [], "enrolment": []}
    for repeat in range(args.repeats):
        label = f"[{repeat + 1}/{args.repeats}]"
        await play(runs["raw"], label, run_raw(bench, args, workdir, str(repeat)))
        await play(runs["enrolment"], label, run_enrolment(bench, args, workdir, str(repeat), verify=repeat == 0))
    return summarise(
        runs,
        input_events=2 * args.http_enrolments,
        outputs=2 * args.http_enrolments,
        unit="events",
        concurrency=args.http_concurrency,
        note=f"events/s = HTTP requests ({args.http_enrolments} enrolments, each then cancelled, by "
        f"{args.http_concurrency} concurrent clients) / time from the first request to the last event on the topic; "
        "CPU of the server process per request; ratio = enrolment's ÷ the raw endpoint's of the same round.",
    )
