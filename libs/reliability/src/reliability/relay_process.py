"""The outbox relay in a process of its own (`OUTBOX_RELAY=process`), started and watched by the service's.

In one process the relay's Python (reading, sending, marking) shares one core with the consumer's: a rebuild from
offset 0 kept billing's process busy 93 % of the time while the machine's second core was half idle. Here the
service starts `python -m reliability.relay_process` as its child, which runs the same `OutboxRelay` (the same
lease, so several replicas still publish one at a time), and the parent keeps what the relay needs from it:

- wake-ups: every commit's `notify()` writes a byte to a pipe the child waits on, so a row is read as soon as it
  is committed, as in one process (the idle poll stays the fallback for rows of other processes);
- health and metrics: the child reports its published and refused counts and its last failure on its stdout,
  one JSON line a second, which the parent adds to its own `/metrics` and health check;
- lifetime: the parent's stop ends the child (SIGTERM, then the relay releases its lease); a child that exits by
  itself fails the parent's background task, so the service stops as it would for a relay task that died; a
  parent that dies closes the pipe, and the child stops.

Settings go to the child on its stdin (the SASL password among them), never in its arguments or environment.
On SQLite the two processes' transactions take turns through the database's file turn
(`database.TurnTakingConnection`); docs/operations.md says when to choose this mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from reliability import metrics
from reliability.database import create_database_engine
from reliability.kafka_security import KafkaSecuritySettings
from reliability.outbox import OutboxRelay, refresh_parked_gauge, service_relay_settings
from reliability.producer import create_producer

if TYPE_CHECKING:  # the child never builds ServiceSettings: its HTTP side (auth, FastAPI) is not the relay's
    from reliability.settings import ServiceSettings

log = logging.getLogger(__name__)

REPORT_EVERY_SECONDS = 1.0


class RelaySettingsGiven(KafkaSecuritySettings):
    """What the child is given on its stdin: where the database and the broker are, how to log."""

    kafka_bootstrap_servers: str
    database_url: str
    topic_prefix: str = ""
    log_level: str = "INFO"
    log_format: str = "json"


_CHILD_FIELDS = tuple(set(RelaySettingsGiven.model_fields) - set(KafkaSecuritySettings.model_fields))


class RelayProcess:
    """The service's handle on its relay child: what `ServiceRuntime` calls on an in-process `OutboxRelay`."""

    def __init__(
        self,
        service: str,
        owner: str,
        settings: ServiceSettings,
        engine: Engine,
        idle_poll_seconds: float | None = None,
    ) -> None:
        """`idle_poll_seconds`: the child relay's poll when no wake-up comes (RelaySettings' default if None)."""
        self._service = service
        self._idle_poll_seconds = idle_poll_seconds
        self.owner = owner
        self._settings = settings
        self._engine = engine
        self._child: asyncio.subprocess.Process | None = None
        self._wake_fd: int | None = None
        self._stopping = False
        self._reported: dict[str, float] = {}
        self.last_failure: str | None = None
        self.reports = 0
        """How many reports the child sent: one as its relay starts, then one a second."""

    async def start(self) -> None:
        wake_read, self._wake_fd = os.pipe()
        os.set_blocking(self._wake_fd, False)
        try:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "reliability.relay_process",
                str(wake_read),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                pass_fds=(wake_read,),
            )
        finally:
            os.close(wake_read)
        assert self._child.stdin is not None
        given = child_settings(self._service, self.owner, self._settings)
        given["idle_poll_seconds"] = self._idle_poll_seconds
        self._child.stdin.write(json.dumps(given).encode())
        await self._child.stdin.drain()
        self._child.stdin.close()
        log.info("outbox relay started in its own process", extra={"service": self._service, "pid": self._child.pid})

    def notify(self) -> None:
        if self._wake_fd is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._wake_fd, b"\0")  # a full pipe already holds a wake-up; a dead child is run()'s to report

    def stop(self) -> None:
        self._stopping = True
        if self._child is not None and self._child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._child.send_signal(signal.SIGTERM)

    async def run(self) -> None:
        """Reads the child's reports until it exits; raises if it exits without having been stopped."""
        assert self._child is not None and self._child.stdout is not None
        async for line in self._child.stdout:
            with contextlib.suppress(ValueError):
                self._take_report(json.loads(line))
        code = await self._child.wait()
        self._close_pipe()
        if not self._stopping:
            raise RuntimeError(f"the outbox relay's process exited by itself (code {code})")

    async def close(self) -> None:
        """Stops the child if `run` was never awaited (a start that failed half-way)."""
        self.stop()
        if self._child is not None and self._child.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._child.wait(), 15)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd = None

    def _take_report(self, report: dict[str, Any]) -> None:
        self.reports += 1
        self.last_failure = report.get("last_failure")
        counts = report.get("counts", {})
        for name, total in counts.items():
            delta = float(total) - self._reported.get(name, 0.0)
            self._reported[name] = float(total)
            if delta <= 0:
                continue
            if name == "published":
                metrics.EVENTS_PUBLISHED.labels(self._service).inc(delta)
            else:
                metrics.OUTBOX_ROWS_REFUSED.labels(self._service, name.removeprefix("refused:")).inc(delta)

    def refresh_parked_gauge(self) -> int:
        return refresh_parked_gauge(self._engine, self._service)


def child_settings(service: str, owner: str, settings: ServiceSettings) -> dict[str, Any]:
    """What the child needs, the SASL password revealed: it travels on the child's stdin only."""
    fields: dict[str, Any] = {}
    for name in [*_CHILD_FIELDS, *KafkaSecuritySettings.model_fields]:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        fields[name] = str(value) if isinstance(value, Path) else value
    return {"service": service, "owner": owner, "settings": fields}


def _counts(service: str) -> dict[str, float]:
    """The child's published and refused totals, as `RelayProcess._take_report` reads them."""
    counts: dict[str, float] = {"published": 0.0}
    for counter, name_of in ((metrics.EVENTS_PUBLISHED, None), (metrics.OUTBOX_ROWS_REFUSED, "error")):
        for sample in (sample for family in counter.collect() for sample in family.samples):
            if sample.name.endswith("_total") and sample.labels.get("service") == service:
                counts["published" if name_of is None else "refused:" + sample.labels[name_of]] = sample.value
    return counts


def _write_report(relay: OutboxRelay, service: str) -> None:
    sys.stdout.write(json.dumps({"counts": _counts(service), "last_failure": relay.last_failure}) + "\n")
    sys.stdout.flush()


async def _report(relay: OutboxRelay, service: str) -> None:
    while True:
        _write_report(relay, service)
        await asyncio.sleep(REPORT_EVERY_SECONDS)


async def serve_relay(
    service: str, owner: str, settings: RelaySettingsGiven, wake_fd: int, idle_poll_seconds: float | None = None
) -> None:
    """The child's life: the relay until SIGTERM or the parent's end of the wake-up pipe closing."""
    relay_settings = service_relay_settings(service, settings.topic_prefix)
    if idle_poll_seconds is not None:
        relay_settings.idle_poll_seconds = idle_poll_seconds
    engine = create_database_engine(settings.database_url)
    client_id = f"{owner}-relay"

    async def new_producer() -> Any:
        producer = create_producer(settings.kafka_bootstrap_servers, client_id, settings)
        await producer.start()
        return producer

    relay = OutboxRelay(
        engine,
        await new_producer(),
        service,
        relay_settings,
        owner=owner,
        renew_producer=new_producer,
    )
    loop = asyncio.get_running_loop()

    def woken() -> None:
        if os.read(wake_fd, 4096):
            relay.notify()
        else:  # the parent is gone
            loop.remove_reader(wake_fd)
            relay.stop()

    loop.add_reader(wake_fd, woken)
    loop.add_signal_handler(signal.SIGTERM, relay.stop)
    loop.add_signal_handler(signal.SIGINT, relay.stop)
    reporter = asyncio.create_task(_report(relay, service))
    try:
        await relay.run()
    finally:
        reporter.cancel()
        _write_report(relay, service)
        await relay.close()
        engine.dispose()


def main() -> None:
    from reliability.logs import configure_logging

    wake_fd = int(sys.argv[1])
    given = json.loads(sys.stdin.read())
    settings = RelaySettingsGiven(**given["settings"])
    configure_logging(given["service"], settings.log_level, settings.log_format)
    asyncio.run(serve_relay(given["service"], given["owner"], settings, wake_fd, given.get("idle_poll_seconds")))


if __name__ == "__main__":
    main()
