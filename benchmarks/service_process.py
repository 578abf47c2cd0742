"""Services as real processes (`python -m billing`, as deployed): memory, end-to-end latency, rebuild time.

The benchmark process only sends and observes, so its timestamps are not delayed by the service's own work;
memory is read from /proc/<pid>/status: VmRSS now, VmHWM the kernel's record of the peak resident set.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks import workload
from contracts import topics

TOKEN = secrets.token_urlsafe(32)  # bearer token of a throwaway local process, new per run
API_TOKENS = f"bench:{TOKEN}:enrolments:read enrolments:write billing:read credentials:read"


REPOSITORY = Path(__file__).resolve().parent.parent
RUNTIME_ENVIRONMENT = REPOSITORY / ".cache" / "bench-runtime"
SERVICE_PACKAGES = ("billing-service", "enrolment-service", "certification-service", "mc-opscli")


@functools.cache
def service_python() -> str:
    """The interpreter the services run under: a venv with what the image installs, not the dev environment.

    The image runs `uv sync --no-dev` (Dockerfile); the dev group brings pygments, which mako (alembic's) then
    imports with dozens of lexers, and rich, which httpx imports: 6 MiB of every service process's memory that
    no deployed service has. BENCH_SERVICE_VENV=dev measures in the dev environment instead, as before 3 December.
    """
    if os.environ.get("BENCH_SERVICE_VENV", "runtime") == "dev":
        return sys.executable
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("the benchmark builds the services' runtime environment with uv; put uv on PATH")
    packages = [argument for package in SERVICE_PACKAGES for argument in ("--package", package)]
    subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--quiet", *packages],
        cwd=REPOSITORY,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(RUNTIME_ENVIRONMENT)},
        check=True,
    )
    return str(RUNTIME_ENVIRONMENT / "bin" / "python")


def service_environment_name() -> str:
    return (
        "dev environment"
        if service_python() == sys.executable
        else "runtime environment (uv sync --no-dev, as the image)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_environment(bootstrap: str, database_url: str, prefix: str, port: int, partitions: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KAFKA_", "DATABASE_"))}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": database_url,
            "TOPIC_PREFIX": prefix,
            "TOPIC_PARTITIONS": str(partitions),
            "API_TOKENS": API_TOKENS,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "LOG_FORMAT": "json",
            # As deployed, the per-event INFO lines are part of the cost; BENCH_LOG_LEVEL=WARNING measures without.
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        }
    )
    return env


@dataclass
class Process:
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    rss_samples: list[int] = field(default_factory=list)

    def start(self) -> None:
        # BENCH_SERVICE_WRAPPER runs the service under a tool ("strace -f -o …", "env LD_PRELOAD=…"). Unless the
        # tool execs the service (env does), the pid measured is the tool's: take memory figures from the tool.
        # heaptrack's own script does not pass SIGTERM on: preload its library with env instead (docs/benchmark.md).
        wrapper = shlex.split(os.environ.get("BENCH_SERVICE_WRAPPER", ""))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([*wrapper, *self.argv], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.started = time.perf_counter()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def memory(self) -> dict[str, float]:
        """VmRSS and VmHWM in MiB."""
        return memory_of(self.pid)

    def child_pids(self) -> list[int]:
        """The service's own children (the outbox relay's process with OUTBOX_RELAY=process)."""
        with contextlib.suppress(FileNotFoundError):
            return [int(pid) for pid in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        return []

    async def sample_memory(self, every: float = 0.5) -> None:
        """Keeps VmRSS samples (the HWM alone cannot say when the peak happened)."""
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            while self.process is not None and self.process.poll() is None:
                self.rss_samples.append(int(self.memory()["VmRSS"]))
                await asyncio.sleep(every)

    async def wait_healthy(self, limit_seconds: float = 90.0) -> float:
        assert self.port is not None
        deadline = time.perf_counter() + limit_seconds
        async with httpx.AsyncClient() as client:
            while time.perf_counter() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.argv} exited with {self.process.returncode}; see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
                    if response.status_code == 200:
                        return time.perf_counter() - self.started
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.argv} not healthy after {limit_seconds:.0f}s; see {self.log_path}")

    def stop(self, limit_seconds: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(limit_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def memory_of(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of process `pid` in MiB."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
    return values


def billing_process(
    bootstrap: str, database_url: str, prefix: str, workdir: Path, partitions: int, experiments: Sequence[str] = ()
) -> Process:
    port = free_port()
    argv = [service_python(), "-m", "billing"]
    env = service_environment(bootstrap, database_url, prefix, port, partitions)
    if experiments:
        argv = [service_python(), "-m", "benchmarks.run_service", "billing", "--experiment", "+".join(experiments)]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    return Process(argv, env, workdir / f"billing-{prefix.rstrip('-')}.log", port=port)


def raw_process(bootstrap: str, input_topic: str, output_topic: str, workdir: Path) -> Process:
    argv = [sys.executable, "-m", "benchmarks.raw_loop", bootstrap, input_topic, output_topic, f"raw-{input_topic}"]
    return Process(argv, dict(os.environ), workdir / f"raw-{input_topic}.log")


# --- latency --------------------------------------------------------------------------------------------------


_KIND = {
    "TuitionInvoiced": "created",
    "ReimbursementCalculated": "cancelled",
    "RawEnrolmentCreated": "created",
    "RawEnrolmentCancelled": "cancelled",
}


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure_latency(
    bootstrap: str, input_topic: str, output_topic: str, run: str, rate: float, seconds: float, partitions: int
) -> dict[str, Any]:
    """Send at `rate` events/s for `seconds`; latency = output record seen - input sent, per input event."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="bench-latency")
    await reader.start()
    outputs = [TopicPartition(output_topic, p) for p in range(partitions)]
    reader.assign(outputs)
    await reader.seek_to_end(*outputs)
    for partition in outputs:
        await reader.position(partition)  # resolve "end" now, before anything is sent
    producer = workload.fast_producer(bootstrap, f"bench-latency-{run}", linger_ms=0)
    await producer.start()
    # Billing prices the input's enrolments from their catalogue entry: it goes first, as the enrolment service's.
    key, value = workload.catalogue_record()
    catalogue = input_topic.removesuffix(topics.ENROLMENT_EVENTS) + topics.CATALOGUE
    await producer.send_and_wait(catalogue, key=key, value=value, headers=workload.HEADERS)
    sent: dict[tuple[bytes, str], float] = {}
    seen: dict[tuple[bytes, str], float] = {}
    done = asyncio.Event()

    async def read() -> None:
        while not done.is_set():
            batches = await reader.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    kind = _KIND.get(json.loads(record.value)["type"])
                    if kind is not None:
                        seen.setdefault((record.key, kind), now)

    async def send(index: int) -> None:
        key, created, cancelled = workload.pair(run, index // 2)
        value, kind = (created, "created") if index % 2 == 0 else (cancelled, "cancelled")
        sent[(key, kind)] = time.perf_counter()
        await producer.send(input_topic, key=key, value=value, headers=workload.HEADERS)

    async def wait_for_all(limit_seconds: float) -> None:
        deadline = time.perf_counter() + limit_seconds
        while any(k not in seen for k in sent) and time.perf_counter() < deadline:  # noqa: ASYNC110 - polls two dicts
            await asyncio.sleep(0.05)

    reader_task = asyncio.create_task(read())
    try:
        # Warm-up (group join, first batches, lazy imports): not measured.
        warm = 20
        for index in range(warm):
            await send(index)
        await wait_for_all(120)
        if any(k not in seen for k in sent):
            raise TimeoutError(f"no output on {output_topic} after the warm-up")
        sent.clear()
        total = int(rate * seconds)
        started = time.perf_counter()
        for j in range(total):
            delay = started + j / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(warm + j)
        send_seconds = time.perf_counter() - started
        await wait_for_all(seconds + 120)
    finally:
        done.set()
        await reader_task
        await producer.stop()
        await reader.stop()
    ordered = sorted(sent.items(), key=lambda item: item[1])
    latencies = [(seen[key] - at) * 1000 for key, at in ordered if key in seen]
    quarter = max(len(latencies) // 4, 1)
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": len(sent),
        "achieved_send_rate": len(sent) / send_seconds,
        "missing": len(sent) - len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p90_ms": percentile(latencies, 0.9),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        # A service that cannot keep up shows a growing latency: compare the first and last quarter.
        "p50_first_quarter_ms": statistics.median(latencies[:quarter]),
        "p50_last_quarter_ms": statistics.median(latencies[-quarter:]),
    }


# --- enrolment and certification ----------------------------------------------------------------------------------


def runnable(module: str) -> bool:
    with contextlib.suppress(ModuleNotFoundError):
        return importlib.util.find_spec(f"{module}.__main__") is not None
    return False


async def enrolment_load(port: int, enrolments: int, concurrency: int = 4) -> dict[str, Any]:
    """Enrol and cancel `enrolments` students through the HTTP API (each publishes an event via the outbox)."""
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        catalogue = (await client.get("/microcredentials")).json()
        entry = catalogue[0]
        statuses: dict[int, int] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(enrolments):
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                body = {
                    "student": {
                        "id": f"S-BENCH-{index:07d}",
                        "given_name": "Ada",
                        "family_name": "Peeters",
                        "email": f"ada.{index}@example.org",
                    },
                    "microcredential_id": entry["id"],
                    "academic_year": entry["academic_year"],
                }
                await enrol_then_cancel(client, body, statuses)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    requests = sum(statuses.values())
    return {"requests": requests, "seconds": seconds, "requests_per_second": requests / seconds, "statuses": statuses}


async def enrol_then_cancel(client: httpx.AsyncClient, body: dict[str, Any], statuses: dict[int, int]) -> None:
    """One enrolment over HTTP and, if it was accepted, its cancellation; counts the statuses."""
    response = await client.post("/enrolments", json=body)
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    if response.status_code == 201:
        cancel = await client.post(f"/enrolments/{response.json()['id']}/cancellation", json={})
        statuses[cancel.status_code] = statuses.get(cancel.status_code, 0) + 1
