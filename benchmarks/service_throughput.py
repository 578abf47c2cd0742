"""Enrolment and certification measured as billing is: throughput against a raw loop, interleaved rounds.

Two sections of `python -m benchmarks.billing_pipeline` (skip them with `--skip enrolment-throughput` and
`--skip certification-throughput`). Each round runs the raw loop and then the service over the same input; the
ratio of a round is the service's wall rate / the raw loop's of that round, and the section reports their spread.

- **certification-throughput**: events in -> credentials signed out. `--learners` learners' input is prefilled
  once (`benchmarks.credential_input`: the catalogue entry, then per learner an EnrolmentCreated and a pass per
  course). Each service run is certification's runtime (consumer + outbox relay, from its bootstrap's `migrate`
  and `create_runtime` as `build` wires them, without the HTTP app, whose verification worker processes the
  Kafka path never uses) in this process, on a fresh database, with a consumer group of its own and a signing key
  generated for the run; it is timed until every CredentialIssued is on certification.events. The raw loop is
  `benchmarks.raw_certification` on the same topics. Events/s = input events (learners × 3 + the catalogue
  entry) / wall time; credentials/s = learners / wall time. CPU is this process's, per input event.
- **enrolment-throughput**: enrolment's Kafka input (other campus systems' enrolments on enrolment.events) is
  recorded but produces no output, so what is measured is its HTTP path: `--http-enrolments` students enrol and
  cancel through `python -m enrolment` (a process, as deployed, on a fresh database and topics of its own), timed
  from the first request to the last EnrolmentCreated/EnrolmentCancelled its outbox relay put on
  enrolment.events. The raw loop is `benchmarks.raw_http`, a bare HTTP endpoint producing one record per request.
  The load (`--http-concurrency` clients, each enrolling then cancelling a student) runs in this process, the
  server in its own; events/s = requests (= output events) / wall time, CPU is the server process's per request.

The first round of each reads the service's output back once (counts by type, distinct ids, distinct
enrolments), so a run that issues or publishes the wrong number of events shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from reliability.topics import ensure_topics

from benchmarks import credential_input, workload
from benchmarks import service_process as sp
from benchmarks.billing_pipeline import PARTITIONS, Bench, RunResult, cpu_seconds, spread
from benchmarks.raw_certification import RAW_CREDENTIALS, RAW_NOTIFICATIONS, raw_certification_loop
from contracts import topics


@dataclass
class ServiceRun(RunResult):
    """A run whose outputs are not one per input: `events` counts the input, `outputs` what the rate is of."""

    outputs: int = 0
    output_rate: float = 0.0
    unit: str = "outputs"
    load: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"{self.system:<28} {self.events:>7} events {self.wall_rate:>6.0f}/s  {self.outputs:>6} {self.unit} "
            f"{self.output_rate:>6.1f}/s  wall {self.wall_seconds:>6.1f}s  first output {self.first_output_seconds:.2f}s  "
            f"CPU {self.cpu_us_per_event:.0f} µs/event (machine {self.machine_cpu_us_per_event:.0f})  "
            f"load {self.load_average:.1f}"
        )


def service_run(
    system: str, inputs: int, timeline: workload.Timeline, cpu: float, unit: str, machine_cpu: float
) -> ServiceRun:
    wall = timeline.wall
    return ServiceRun(
        system=system,
        events=inputs,
        wall_seconds=wall,
        first_output_seconds=timeline.first_output,
        # In input events/s like the wall rate, so the two ratios compare alike.
        steady_rate=timeline.steady_rate() * inputs / timeline.expected,
        wall_rate=inputs / wall,
        samples=timeline.samples,
        cpu_us_per_event=cpu / inputs * 1e6,
        machine_cpu_us_per_event=machine_cpu / inputs * 1e6,
        load_average=os.getloadavg()[0],
        outputs=timeline.expected,
        output_rate=timeline.expected / wall,
        unit=unit,
    )


async def read_back(
    bootstrap: str, topic: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> dict[str, int]:
    """Counts by CloudEvents type between two offset maps, with the distinct event ids and keys (enrolments)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="bench-read-back")
    await consumer.start()
    counts: dict[str, int] = {}
    ids: set[str] = set()
    keys: set[bytes] = set()
    try:
        consumer.assign(list(end))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        remaining = {p for p in end if end[p] > start.get(p, 0)}
        while remaining:
            for partition, records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).items():
                for record in (r for r in records if r.offset < end[partition]):
                    document = json.loads(record.value)
                    counts[document["type"]] = counts.get(document["type"], 0) + 1
                    ids.add(document["id"])
                    keys.add(record.key or b"")
                if records and records[-1].offset + 1 >= end[partition]:
                    remaining.discard(partition)
    finally:
        await consumer.stop()
    return {**counts, "distinct ids": len(ids), "distinct enrolments": len(keys)}


async def verify_output(bench: Bench, topic: str, start: dict[TopicPartition, int], expected: int) -> dict[str, int]:
    """Wait (not timed) until `expected` records are on `topic` after `start`, then read them back."""
    timeline = workload.Timeline(expected=expected)
    await workload.watch_output(bench.offsets, topic, sum(start.values()), timeline, limit_seconds=60)
    return await read_back(bench.bootstrap, topic, start, await bench.offsets.end(topic))


def summarise(runs: dict[str, list[ServiceRun]], **extra: Any) -> dict[str, Any]:
    """The spread of each system's figures, and the per-round ratios of the service to the raw loop."""
    raws = runs["raw"]
    out: dict[str, Any] = {**extra, "runs": {}, "ratios": {}, "ratios_after_first_output": {}}
    for name, results in runs.items():
        out["runs"][name] = {
            metric: spread([getattr(r, metric) for r in results])
            for metric in (
                "wall_rate",
                "output_rate",
                "steady_rate",
                "wall_seconds",
                "first_output_seconds",
                "cpu_us_per_event",
                "machine_cpu_us_per_event",
            )
        } | {"detail": [asdict(r) for r in results]}
        if name != "raw":
            out["ratios"][name] = spread([r.wall_rate / b.wall_rate for r, b in zip(results, raws, strict=True)])
            out["ratios_after_first_output"][name] = spread(
                [r.steady_rate / b.steady_rate for r, b in zip(results, raws, strict=True)]
            )
    return out


# --- certification: events in -> credentials signed out ----------------------------------------------------------


@contextlib.asynccontextmanager
async def certification_runtime(bench: Bench, prefix: str, database_url: str, group: str) -> AsyncIterator[Any]:
    """Certification's consumer and relay in this process, wired by its bootstrap, with a group of its own."""
    from certification.adapters import generate_secret_key
    from certification.bootstrap import create_issuer, create_runtime, migrate
    from certification.config import CertificationSettings
    from certification.store import Database
    from pydantic import SecretStr

    settings = CertificationSettings(
        kafka_bootstrap_servers=bench.bootstrap,
        database_url=database_url,
        topic_prefix=prefix,
        topic_partitions=PARTITIONS,
        api_tokens=sp.API_TOKENS,
        consumer_group=group,
        instance_id=f"bench-{uuid.uuid4().hex[:6]}",
        public_base_url="http://127.0.0.1:8003",
        # Made for this run, never stored: the credentials it signs are thrown away with the database.
        credential_signing_key=SecretStr(generate_secret_key()),
    )
    migrate(database_url)
    runtime = create_runtime(settings, Database.connect(database_url), create_issuer(settings))
    try:
        with workload.collector_as_served():
            async with runtime.background():
                yield runtime
    finally:
        runtime.engine.dispose()


async def run_certification(bench: Bench, prefix: str, learners: int, limit: float, verify: bool) -> ServiceRun:
    output, offers = prefix + topics.CERTIFICATION_EVENTS, prefix + topics.CERTIFICATION_NOTIFICATIONS
    start, offers_start = await bench.offsets.end(output), await bench.offsets.end(offers)
    timeline = workload.Timeline(expected=learners)
    verified: dict[str, int] = {}
    database_url = bench.databases.new("certification")
    async with certification_runtime(bench, prefix, database_url, f"certification-{uuid.uuid4().hex[:8]}") as runtime:
        timeline.started = time.perf_counter()  # migrations are not part of the figure; Kafka start-up is
        cpu, machine_cpu = cpu_seconds(), workload.machine_cpu_seconds()
        await workload.watch_output(bench.offsets, output, sum(start.values()), timeline, limit)
        cpu, machine_cpu = cpu_seconds() - cpu, workload.machine_cpu_seconds() - machine_cpu
        if verify:
            # Each credential's offer was queued in the same transaction: it follows on the notifications topic.
            verified = await verify_output(bench, output, start, learners)
            offered = await verify_output(bench, offers, offers_start, learners)
            verified |= {"CredentialOfferCreated": offered.get("CredentialOfferCreated", 0)}
        if runtime.failed_task() is not None:
            raise RuntimeError("certification: a background task failed") from runtime.failed_task()
    result = service_run(
        "certification", learners * credential_input.EVENTS_PER_LEARNER + 1, timeline, cpu, "credentials", machine_cpu
    )
    result.verified = dict(verified)
    return result


async def run_raw_certification(bench: Bench, prefix: str, learners: int, limit: float) -> ServiceRun:
    output = prefix + RAW_CREDENTIALS
    baseline = await bench.offsets.total(output)
    stop = asyncio.Event()
    timeline = workload.Timeline(expected=learners)
    cpu, machine_cpu = cpu_seconds(), workload.machine_cpu_seconds()
    task = asyncio.create_task(raw_certification_loop(bench.bootstrap, prefix, f"raw-{uuid.uuid4().hex[:8]}", stop))
    try:
        await workload.watch_output(bench.offsets, output, baseline, timeline, limit)
    finally:
        stop.set()
        await task
    inputs = learners * credential_input.EVENTS_PER_LEARNER + 1
    machine_cpu = workload.machine_cpu_seconds() - machine_cpu
    return service_run("raw certification loop", inputs, timeline, cpu_seconds() - cpu, "credentials", machine_cpu)


async def certification_throughput_section(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    learners, repeats = args.learners, args.repeats
    prefix = bench.prefix("certtp")
    await bench.topics_for(prefix)
    await ensure_topics(bench.bootstrap, [prefix + RAW_CREDENTIALS, prefix + RAW_NOTIFICATIONS], PARTITIONS)
    prefill = await credential_input.prefill(bench.bootstrap, prefix, bench.seed, learners)
    print(f"prefilled certification's input for {learners} learners in {prefill:.1f}s", flush=True)
    limit = max(180.0, learners / 2)
    runs: dict[str, list[ServiceRun]] = {"raw": [], "certification": []}
    for repeat in range(repeats):
        await play(runs["raw"], f"[{repeat + 1}/{repeats}]", run_raw_certification(bench, prefix, learners, limit))
        await play(
            runs["certification"],
            f"[{repeat + 1}/{repeats}]",
            run_certification(bench, prefix, learners, limit, verify=repeat == 0),
        )
    return summarise(
        runs,
        input_events=learners * credential_input.EVENTS_PER_LEARNER + 1,
        outputs=learners,
        unit="credentials",
        prefill_seconds=prefill,
        note="events/s = input events (per learner an enrolment and a pass per course, and one catalogue entry) "
        "/ time from start to the last CredentialIssued; CPU of this process (the watcher included) per input event; "
        "ratio = certification's ÷ the raw loop's of the same round. The rate after the first output says little "
        "here: certification commits a whole batch of credentials at once, so most of them appear together.",
    )


async def play(results: list[ServiceRun], label: str, run: Awaitable[ServiceRun]) -> None:
    """One run of a round: awaited, kept and printed."""
    result = await run
    results.append(result)
    print(f"{label} {result.line()}", flush=True)
    if result.verified:
        print(f"        verified output: {result.verified}", flush=True)


# --- the summary ------------------------------------------------------------------------------------------------

SECTIONS = {
    "enrolment_throughput": "Enrolment throughput (HTTP enrolments and cancellations in -> events out)",
    "certification_throughput": "Certification throughput (events in -> credentials signed out)",
}


def _text(values: dict[str, float], digits: int = 0) -> str:
    return f"{values['median']:.{digits}f} [{values['min']:.{digits}f}–{values['max']:.{digits}f}]"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The two sections as Markdown, like billing's throughput table (medians with [min–max] over the rounds)."""
    lines: list[str] = []
    for key, title in SECTIONS.items():
        section = report.get(key)
        if not section:
            continue
        unit = section["unit"]
        rounds = len(section["runs"]["raw"]["detail"])
        lines += [
            "",
            f"## {title}: {section['input_events']} input events, {section['outputs']} {unit}, {rounds} rounds",
            "",
            f"| system | input events/s | {unit} out/s | wall s | first output s | CPU µs/event "
            "| machine CPU µs/event | ratio to raw | after first output (ratio) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, run in section["runs"].items():
            ratio = _text(section["ratios"][name], digits=3) if name in section["ratios"] else "1"
            after = f"{run['steady_rate']['median']:.0f}"
            if name in section["ratios_after_first_output"]:
                after += f" ({section['ratios_after_first_output'][name]['median']:.3f})"
            lines.append(
                f"| {name} | {_text(run['wall_rate'])} | {_text(run['output_rate'], digits=1)} | "
                f"{_text(run['wall_seconds'], digits=1)} | {_text(run['first_output_seconds'], digits=1)} | "
                f"{run['cpu_us_per_event']['median']:.0f} | {run['machine_cpu_us_per_event']['median']:.0f} | "
                f"{ratio} | {after} |"
            )
        verified = section["runs"][next(n for n in section["runs"] if n != "raw")]["detail"][0]["verified"]
        lines.append(f"\nread back after the first round: {verified}; {section['note']}")
    return lines
