"""The outbox relay in a process of its own (`OUTBOX_RELAY=process`), on a real broker, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from reliability import metrics
from reliability.lease import try_acquire_lease
from reliability.outbox import count_unpublished
from reliability.relay_process import RelayProcess, child_settings
from reliability.settings import ServiceSettings
from reliability.topics import ensure_topics

from contracts import topics
from tests.kit.kit_support import cancellation, make_engine, queue_in_outbox
from tests.kit.test_kit_outbox import consume_ids

pytestmark = pytest.mark.kafka

SERVICE = "relayproc"


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> str:
    prefix = f"relayproc{uuid.uuid4().hex[:8]}."
    await ensure_topics(kafka_bootstrap, [prefix + topics.ENROLMENT_EVENTS], partitions=3)
    return prefix


def settings_for(bootstrap: str, database_url: str, prefix: str) -> ServiceSettings:
    return ServiceSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix, log_format="text"
    )


def published_total() -> float:
    return metrics.EVENTS_PUBLISHED.labels(SERVICE)._value.get()


async def until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_commit_wakes_the_child_and_its_counts_reach_the_parent(kafka_bootstrap, topic_prefix, database_url):
    """With a 60-s idle poll, only the wake-up pipe can have the rows out within the 20 s waited."""
    engine = make_engine(database_url)
    relay = RelayProcess(
        SERVICE, "relayproc-1", settings_for(kafka_bootstrap, database_url, topic_prefix), engine, idle_poll_seconds=60
    )
    before = published_total()
    await relay.start()
    running = asyncio.create_task(relay.run())
    try:
        # Its second report comes a second after its relay started: the first round found the outbox empty.
        await until(lambda: relay.reports >= 2, "the child's second report")
        events = [cancellation(f"enr-{n % 3}") for n in range(12)]
        queue_in_outbox(engine, events)
        relay.notify()
        await until(lambda: count_unpublished(engine) == 0, "the child to publish after the wake-up")
        seen = await consume_ids(kafka_bootstrap, topic_prefix + topics.ENROLMENT_EVENTS, expected=12)
        assert sorted(event_id for _, event_id in seen) == sorted(event.id for event in events)
        await until(lambda: published_total() - before == 12, "the child's report of 12 published rows")
        assert relay.last_failure is None
    finally:
        relay.stop()
        await asyncio.wait_for(running, 20)  # stopped: run() returns without raising
    # The child released the relay's lease as it stopped: another owner takes it at once.
    assert try_acquire_lease(engine, f"{SERVICE}-outbox-relay", "someone-else", timedelta(seconds=5))
    engine.dispose()


async def test_a_child_that_dies_fails_the_parents_run(kafka_bootstrap, topic_prefix, tmp_path):
    database_url = f"sqlite:///{tmp_path}/relay.db"
    engine = make_engine(database_url)
    relay = RelayProcess(SERVICE, "relayproc-2", settings_for(kafka_bootstrap, database_url, topic_prefix), engine)
    await relay.start()
    running = asyncio.create_task(relay.run())
    await asyncio.sleep(1)
    assert relay._child is not None
    os.kill(relay._child.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="exited by itself"):
        await asyncio.wait_for(running, 20)
    engine.dispose()


def test_the_child_stops_when_the_parents_end_of_the_pipe_closes(kafka_bootstrap, tmp_path):
    """A parent killed outright cannot send SIGTERM; its end of the wake-up pipe closing is what the child sees."""
    database_url = f"sqlite:///{tmp_path}/relay.db"
    make_engine(database_url).dispose()
    given = child_settings(SERVICE, "relayproc-3", settings_for(kafka_bootstrap, database_url, "orphan."))
    wake_read, wake_write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "reliability.relay_process", str(wake_read)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        pass_fds=(wake_read,),
    )
    os.close(wake_read)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(given).encode())
    child.stdin.close()
    first = json.loads(child.stdout.readline())  # its first report: the relay is running
    assert first["counts"] == {"published": 0.0} and first["last_failure"] is None
    os.close(wake_write)
    try:
        assert child.wait(20) == 0
    finally:
        child.kill()


def test_the_sasl_password_goes_to_the_child_revealed_and_nothing_else_of_the_service(tmp_path):
    settings = ServiceSettings(
        kafka_bootstrap_servers="broker:9093",
        database_url=f"sqlite:///{tmp_path}/x.db",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="billing",
        kafka_sasl_password="s3cret-from-the-environment",
        api_tokens="bench:" + "t" * 40 + ":billing:read",
    )
    given = child_settings("billing", "billing-1", settings)
    assert given["settings"]["kafka_sasl_password"] == "s3cret-from-the-environment"
    assert "api_tokens" not in given["settings"]
    rebuilt = ServiceSettings(**given["settings"])
    assert rebuilt.kafka_sasl_password is not None
    assert rebuilt.kafka_sasl_password.get_secret_value() == "s3cret-from-the-environment"
    assert (rebuilt.kafka_security_protocol, rebuilt.kafka_sasl_username) == ("SASL_SSL", "billing")


def test_the_child_imports_neither_the_http_side_nor_faststream():
    """Its start is the first output's delay in a rebuild: FastAPI, FastStream and the tracing SDK were 1.6 s of
    the child's 3.8 s of imports and 24 of its 95 MiB, for nothing it uses."""
    heavy = ("fastapi", "faststream", "opentelemetry.sdk", "uvicorn", "jwt")
    probe = f"import sys, reliability.relay_process; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
