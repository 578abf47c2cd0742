"""Running the campaign: publish the bad inputs as the principals allowed to write each topic, interleaved with
the demo scenario; re-publish the scenario's own events with other bodies; try writes the broker must refuse;
wait (bounded) until every consumer group has committed everything; read what came out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from opscli.kafka import admin_client
from reliability.tables import ParkedRecord, ProcessedEvent
from sqlalchemy import create_engine, select
from sqlmodel import Session
from stack import scenario
from stack.processes import SERVICES, Stack

from contracts import topics as contract
from tests.faults.fault_support import consumer_group, read_records, total_lag
from tests.fuzz.inputs import CONSUMERS, MARKER, SKIPPED, WRITER, BadInput, Generator
from tests.kafka_fixtures import INTRUDER, SecuredKafka

SEND_TIMEOUT = 60.0
PRODUCER_LIMIT = 2_000_000
"""The test's producers send what the broker may take; the broker, not the client, decides what is too big."""


@dataclass
class Refusal:
    what: str
    error: str | None
    """The broker's error; None if the write went through (a hole in the ACLs or the size limit)."""


@dataclass
class Observed:
    """What came out, read once the platform went quiet (or the settle time ran out)."""

    dead_letters: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    outputs: dict[str, list[ConsumerRecord[bytes, bytes]]] = field(default_factory=dict)
    processed: dict[str, list[tuple[str, int, int, str, str]]] = field(default_factory=dict)
    """Per service, its processed_event rows: (topic, partition, offset, source, event id)."""
    parked: dict[str, list[tuple[str, str, int, int]]] = field(default_factory=dict)
    """Per service, its parked_record rows: (consumer, topic, partition, offset)."""
    committed: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)
    """Per service, its group's committed offset per (contract topic, partition): what it has consumed."""


class Publisher:
    """One producer per campus principal (and the enrolment service's, the catalogue's only writer)."""

    def __init__(self, secured: SecuredKafka, prefix: str, seed: int) -> None:
        self.secured, self.prefix, self.seed = secured, prefix, seed
        self.producers: dict[str, AIOKafkaProducer] = {}

    async def __aenter__(self) -> Publisher:
        for principal in sorted(set(WRITER.values())):
            producer = _producer(self.secured, principal)
            await asyncio.wait_for(producer.start(), SEND_TIMEOUT)
            self.producers[principal] = producer
        return self

    async def __aexit__(self, *_: object) -> None:
        for producer in self.producers.values():
            await asyncio.wait_for(producer.stop(), SEND_TIMEOUT)

    async def publish(self, inputs: Sequence[BadInput]) -> None:
        """Send a wave and note where each landed: its coordinates find it in every DLQ (see ledger)."""
        pending = []
        for item in inputs:
            headers = [] if item.kind == "~1 MiB value" else [(MARKER, f"{self.seed}:{item.n}".encode())]
            if item.kind == "random bytes" and item.n % 3 == 0:
                headers.append(("x-binary", bytes(range(256))[item.n % 200 :][:32]))  # not UTF-8: kept byte for byte
            future = await self.producers[item.principal].send(
                self.prefix + item.topic, key=item.key, value=item.value, headers=headers
            )
            pending.append((item, future))
        for item, future in pending:
            try:
                metadata = await asyncio.wait_for(future, SEND_TIMEOUT)
                item.partition, item.offset = metadata.partition, metadata.offset
            except (KafkaError, TimeoutError) as error:
                item.refused = type(error).__name__


def _producer(secured: SecuredKafka, principal: str, *, idempotent: bool = True, password: str | None = None) -> Any:
    return AIOKafkaProducer(
        bootstrap_servers=secured.bootstrap,
        enable_idempotence=idempotent,
        acks="all",
        linger_ms=5,
        max_request_size=PRODUCER_LIMIT,
        request_timeout_ms=30000,
        **secured.client_kwargs(principal, password),
    )


async def play(
    stack: Stack,
    campus: Mapping[str, Mapping[str, Any]],
    publisher: Publisher,
    waves: Sequence[Sequence[BadInput]],
    patience: float,
) -> tuple[scenario.Outcome | None, str | None]:
    """The scenario and the waves of bad inputs at once. A scenario that fails (a service died) is reported, not
    raised, so the campaign still accounts for every input."""
    urls = {name: stack[name].base_url for name in SERVICES}

    async def flood() -> None:
        for wave in waves:
            await publisher.publish(wave)
            await asyncio.sleep(0.2)

    flooding = asyncio.create_task(flood())
    try:
        outcome = await scenario.run_scenario(
            urls, stack.api_token, stack.bootstrap, stack.topic_prefix, lambda _: None, campus, patience
        )
        failure = None
    except (TimeoutError, OSError, KeyError, ValueError) as error:
        outcome, failure = None, f"the scenario did not complete: {type(error).__name__}: {error}"
    await flooding
    return outcome, failure


async def scenario_duplicates(bootstrap: str, prefix: str, generator: Generator) -> list[BadInput]:
    """The scenario's own events again, same source and id, another body: a cancellation on another day, a
    result turned round, a dearer enrolment. Applied, each would change a figure the oracle checks."""
    made = []
    for topic in (contract.ENROLMENT_EVENTS, contract.ASSESSMENT_EVENTS):
        for record in await read_records(bootstrap, prefix + topic):
            if any(name == MARKER for name, _ in record.headers or ()) or not record.value:
                continue
            try:
                document = json.loads(record.value)
                data = document["data"]
            except (ValueError, KeyError, TypeError):
                continue
            if "passed" in data:
                data["passed"] = not data["passed"]
            elif "cancelled_at" in data:
                data["cancelled_at"] = "2026-09-20T10:00:00+02:00"  # the full-refund window
            elif "tuition" in data:
                data["tuition"]["fixed_fee"] = "999.00"
            generator.count += 1
            value = json.dumps(document).encode()
            made.append(BadInput(generator.count, "duplicate id, other body", topic, record.key, value, SKIPPED))
    return made


async def refused_writes(secured: SecuredKafka, prefix: str) -> list[Refusal]:
    """Writes the broker must refuse before any service sees them: principals without WRITE, and a record over
    the broker's message size."""
    attempts = [
        ("exam-administration", contract.ENROLMENT_EVENTS, b"{}"),
        ("student-administration", contract.ASSESSMENT_EVENTS, b"{}"),
        ("student-administration", contract.CATALOGUE, b"{}"),
        ("exam-administration", contract.CATALOGUE, b"{}"),
        (INTRUDER, contract.ENROLMENT_EVENTS, b"{}"),
        ("student-administration", contract.ENROLMENT_EVENTS, b"\xff" * (1_048_588 + 1)),
    ]
    refusals = []
    for principal, topic, value in attempts:
        what = f"{principal} -> {topic} ({len(value):,} bytes)"
        producer = _producer(secured, principal, idempotent=False)
        try:
            await asyncio.wait_for(producer.start(), SEND_TIMEOUT)
            await asyncio.wait_for(producer.send_and_wait(prefix + topic, value, key=b"refused"), 20)
            refusals.append(Refusal(what, None))
        except (KafkaError, TimeoutError) as error:
            refusals.append(Refusal(what, type(error).__name__))
        finally:
            await asyncio.wait_for(producer.stop(), SEND_TIMEOUT)
    return refusals


async def settle(stack: Stack, bootstrap: str, seconds: float) -> tuple[float, dict[str, int]]:
    """Until no consumer group lags (every record applied, dead-lettered or parked, and committed), or `seconds`
    have passed. Returns the time it took and the lag left."""
    started = time.monotonic()
    lag: dict[str, int] = {}
    while time.monotonic() - started < seconds:
        try:
            lag = await asyncio.wait_for(total_lag(stack, bootstrap), 30)
        except (KafkaError, TimeoutError) as error:
            lag = {"(lag unreadable)": 1}
            print(f"lag unreadable: {error!r}")
        if not any(lag.values()):
            break
        if any(stack[service].exit_report() for service in SERVICES):
            break  # a dead consumer never catches up: no use waiting for it
        await asyncio.sleep(1.0)
    return time.monotonic() - started, lag


async def observe(stack: Stack, bootstrap: str) -> Observed:
    prefix = stack.topic_prefix
    observed = Observed()
    for topic in CONSUMERS:
        observed.dead_letters += await read_records(bootstrap, prefix + contract.dead_letter_topic(topic))
    for topic in (contract.ENROLMENT_EVENTS, contract.BILLING_EVENTS, contract.CERTIFICATION_EVENTS):
        observed.outputs[topic] = await read_records(bootstrap, prefix + topic)
    for service in SERVICES:
        observed.processed[service], observed.parked[service] = kit_rows(stack.workdir / f"{service}.db")
    async with admin_client(bootstrap) as admin:
        for service in SERVICES:
            offsets = await admin.list_consumer_group_offsets(consumer_group(stack, service))
            observed.committed[service] = {
                (tp.topic.removeprefix(prefix), tp.partition): meta.offset for tp, meta in offsets.items()
            }
    return observed


def kit_rows(database: Path) -> tuple[list[tuple[str, int, int, str, str]], list[tuple[str, str, int, int]]]:
    """The kit's own record of what a consumer applied and parked, read from the service's SQLite file."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            processed = session.execute(
                select(
                    ProcessedEvent.topic,  # type: ignore[arg-type]
                    ProcessedEvent.partition,  # type: ignore[arg-type]
                    ProcessedEvent.offset,  # type: ignore[arg-type]
                    ProcessedEvent.source,  # type: ignore[arg-type]
                    ProcessedEvent.event_id,  # type: ignore[arg-type]
                )
            ).all()
            parked = session.execute(
                select(ParkedRecord.consumer, ParkedRecord.topic, ParkedRecord.partition, ParkedRecord.offset)  # type: ignore[arg-type]
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in processed], [tuple(row) for row in parked]  # type: ignore[misc]
