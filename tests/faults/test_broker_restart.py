"""The broker goes away and comes back while the services keep running: they must reconnect, not be restarted.

A dedicated named broker (not the session one) is stopped and started again with the same name, so the same
data and port; the three service processes stay up throughout. Afterwards the platform must settle to the
oracle's figures, and every service must still be the process that was started at the beginning. The broker is a
secured one (SASL_SSL, ACLs), as in production: the services re-authenticate when they reconnect.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
import uuid
from dataclasses import dataclass

import pytest
from localkafka import LocalKafka
from stack.processes import SERVICES, Stack, free_port

from tests.faults.fault_support import (
    PatientHttp,
    compare_with_oracle,
    enrol_over_http,
    fetch_catalogue,
    http_plans,
    interleaved_events,
    new_producer,
    plan_stream,
    report,
    send,
    summary,
    wait_until_quiet,
)
from tests.kafka_fixtures import SecuredKafka, secured_users

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("restart_harness_identity")]

PRODUCER_REQUEST_TIMEOUT_S = 30
"""reliability.producer.create_producer: request_timeout_ms=30000, also how long a send waits for metadata."""


@dataclass
class Restartable:
    name: str
    bootstrap: str
    stack: Stack
    secured: SecuredKafka

    def stop_broker(self) -> None:
        LocalKafka(name=self.name).stop()

    def start_broker(self) -> str:
        return LocalKafka(name=self.name, tie_to_parent=True, secured=True).start()

    def exited(self) -> dict[str, int | None]:
        return {
            name: self.stack[name].process.poll() for name in SERVICES if self.stack[name].process.poll() is not None
        }


@pytest.fixture(scope="module")
def restartable(tmp_path_factory):
    name = f"faults-restart-{os.getpid()}"
    broker = LocalKafka(name=name, fresh=True, tie_to_parent=True, secured=True, users=secured_users())
    bootstrap = broker.start()
    secured = SecuredKafka.of(broker, bootstrap)
    prefix = f"rst{uuid.uuid4().hex[:6]}."
    secured.provision_now(prefix)
    stack = Stack(
        workdir=tmp_path_factory.mktemp("broker-restart"),
        bootstrap=bootstrap,
        api_token=secrets.token_urlsafe(32),
        topic_prefix=prefix,
        ports={service: free_port() for service in SERVICES},
        kafka_env=secured.service_envs(),
    )
    try:
        stack.start(timeout=120)
        yield Restartable(name, bootstrap, stack, secured)
    finally:
        stack.stop()
        LocalKafka(name=name, remove_on_stop=True).stop()


@pytest.fixture
def restart_harness_identity(restartable, monkeypatch):
    for variable, value in restartable.secured.harness_env().items():
        monkeypatch.setenv(variable, value)


async def _restart_broker(restartable: Restartable) -> None:
    # On the main thread on purpose: localkafka ties the broker to its parent (so a crashed session leaves none
    # behind) only when started from the main thread. Nothing else runs on the loop meanwhile.
    again = restartable.start_broker()
    assert again == restartable.bootstrap, f"the broker came back at {again}, not {restartable.bootstrap}"


@pytest.mark.timeout(200)
async def test_services_reconnect_when_the_broker_restarts_mid_stream(restartable):
    stack, bootstrap = restartable.stack, restartable.bootstrap
    catalogue = await fetch_catalogue(stack)
    rng = random.Random(2)
    run = f"rst{uuid.uuid4().hex[:6]}"
    plans = plan_stream(catalogue, run, 30, rng)
    over_http = http_plans(catalogue, run, 6)
    http = PatientHttp(stack.api_token, deadline_s=90)
    events = interleaved_events(plans, rng)
    half = len(events) // 2
    async with asyncio.timeout(180):
        producer = new_producer(bootstrap)
        await producer.start()
        try:
            for event in events[:half]:
                await send(producer, stack.topic_prefix, event)
        finally:
            await producer.stop()
        for plan in over_http[:3]:
            await enrol_over_http(http, stack["enrolment"].base_url, plan)

        # Mid-stream: the services are still applying the first half when the broker goes.
        stopped_at = time.monotonic()
        await asyncio.to_thread(restartable.stop_broker)
        # The enrolment API keeps taking writes (database and outbox only); its relay must deliver them later.
        for plan in over_http[3:]:
            await enrol_over_http(http, stack["enrolment"].base_url, plan)
        await asyncio.sleep(3)
        await _restart_broker(restartable)
        outage = time.monotonic() - stopped_at

        producer = new_producer(bootstrap)
        await producer.start()
        try:
            for event in events[half:]:
                await send(producer, stack.topic_prefix, event)
        finally:
            await producer.stop()
        everything = plans + over_http
        settled = await wait_until_quiet(stack, bootstrap, everything, timeout=120)
        problems = await compare_with_oracle(stack, bootstrap, everything)
    report(f"broker restart: outage {outage:.1f}s, settled {settled:.1f}s after; {summary(everything)}")
    assert not problems, "\n".join(problems[:40])
    assert not restartable.exited(), f"services died instead of reconnecting\n{stack.log_tails()}"
    assert all(stack[name].starts == 1 for name in SERVICES), "a service was restarted; it had to reconnect"


@pytest.mark.timeout(200)
async def test_a_broker_outage_longer_than_the_producer_timeout_does_not_kill_a_service_with_pending_events(
    restartable,
):
    """The broker stays away longer than the producer's request timeout while the enrolment service has outbox
    rows to publish (enrolments taken over HTTP during the outage), right after that service was restarted
    (a deployment): its producer has not published to enrolment.events yet, so it has no metadata for it.

    This first found that such a send raises UnknownTopicOrPartitionError after request_timeout_ms and that the
    relay task let it escape, which took the whole enrolment process down (fixed in edb8ad7: the relay backs off
    and retries)."""
    stack, bootstrap = restartable.stack, restartable.bootstrap
    assert not restartable.exited(), "a service had already died"
    assert stack["enrolment"].stop() == 0
    stack["enrolment"].start()
    await asyncio.to_thread(stack["enrolment"].wait_healthy, 90)
    catalogue = await fetch_catalogue(stack)
    run = f"out{uuid.uuid4().hex[:6]}"
    over_http = http_plans(catalogue, run, 4)
    http = PatientHttp(stack.api_token, deadline_s=60)
    async with asyncio.timeout(180):
        await asyncio.to_thread(restartable.stop_broker)
        for plan in over_http:
            await enrol_over_http(http, stack["enrolment"].base_url, plan)
        pending_since = time.monotonic()
        # Long enough for a send waiting on metadata to give up; stop waiting early if a service already died.
        while time.monotonic() - pending_since < PRODUCER_REQUEST_TIMEOUT_S + 6 and not restartable.exited():
            await asyncio.sleep(0.5)
        await _restart_broker(restartable)
        died = restartable.exited()
        assert not died, f"services exited during a {time.monotonic() - pending_since:.0f}s outage: {died}"
        settled = await wait_until_quiet(stack, bootstrap, over_http, timeout=90)
        problems = await compare_with_oracle(stack, bootstrap, over_http)
    report(f"long broker outage: settled {settled:.1f}s after; {summary(over_http)}")
    assert not problems, "\n".join(problems[:40])
