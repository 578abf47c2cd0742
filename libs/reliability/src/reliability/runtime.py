"""Runs one service process: HTTP API, outbox relay and idempotent consumer on one event loop.

Every replica runs all three; the relay's lease and the consumer group make two replicas safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from faststream.specification import AsyncAPI
from sqlalchemy.engine import Engine

from contracts import topics as contract_topics
from reliability import garbage
from reliability.consumer import BatchHandler, ConsumerSettings, Handler, IdempotentConsumer
from reliability.http import Degraded, HealthCheck, database_check
from reliability.outbox import OutboxRelay, service_relay_settings
from reliability.producer import create_producer
from reliability.provenance import EventSources, event_sources_path, load_event_sources
from reliability.relay_process import RelayProcess
from reliability.settings import ServiceSettings
from reliability.subscribers import KafkaKit, Subscribers, declared_topics, handler_table
from reliability.topics import ensure_topics
from reliability.tracing import configure_tracing, trace_requests

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """Owns the Kafka clients and background tasks of one service replica."""

    service: str
    settings: ServiceSettings
    engine: Engine
    consumes: Sequence[str] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None
    """Optional fast path over whole batches; the per-event `handlers` stay the reference and the fallback."""
    subscribers: Subscribers | None = None
    """The service's FastStream subscribers, declared the way `reliability.subscribers` shows; their topics are
    consumed besides `consumes` (today's `handlers`/`batch_handler` become the same declarations)."""
    producer: AIOKafkaProducer | None = None
    relay: OutboxRelay | RelayProcess | None = None
    consumer: IdempotentConsumer | None = None

    def consumed_topics(self) -> list[str]:
        return list(dict.fromkeys([*self.consumes, *declared_topics(self.subscribers)]))

    def declared(self) -> KafkaKit:
        """Everything the consumer will apply: `consumes`/`handlers`/`batch_handler` and the `subscribers`."""
        kit = KafkaKit.declared(handler_table(self.consumes, self.handlers, self.batch_handler))
        if self.subscribers is not None:
            self.subscribers(kit)
        return kit

    def all_topics(self) -> list[str]:
        """Every topic the service touches, with its dead-letter topic; created at start if missing."""
        consumed = self.consumed_topics()
        names = [*contract_topics.ALL, *(contract_topics.dead_letter_topic(t) for t in consumed)]
        return [self.settings.topic_prefix + name for name in names]

    def _consumer(
        self,
        producer: AIOKafkaProducer | None,
        after_commit: Callable[[], None] | None,
        sources: EventSources | None = None,
    ) -> IdempotentConsumer:
        settings = self.settings
        return IdempotentConsumer(
            ConsumerSettings(
                name=self.service,
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=settings.consumer_group or settings.topic_prefix + self.service,
                topics=list(self.consumes),
                topic_prefix=settings.topic_prefix,
                sources=sources,
                security=settings,
            ),
            self.engine,
            self.handlers,
            producer,  # None only for the specification, which never consumes
            after_commit=after_commit,
            batch_handler=self.batch_handler,
            subscribers=self.subscribers,
        )

    def asyncapi(self) -> AsyncAPI:
        """FastStream's AsyncAPI document of the service's subscribers (tests hold it to the contract's)."""
        broker = self.consumer.broker if self.consumer is not None else self._consumer(None, None).broker
        return AsyncAPI(broker, title=f"{self.service} subscribers", schema_version="3.0.0")

    def event_sources(self) -> EventSources:
        """The source allow-list the consumer checks; a missing or malformed file stops the start here."""
        sources = load_event_sources(event_sources_path(self.settings.event_sources_file))
        log.info("event-source allow-list loaded", extra={"service": self.service, "allow_list": sources.origin})
        return sources

    async def start(self) -> None:
        settings = self.settings
        sources = self.event_sources() if self.consumed_topics() else None
        configure_tracing(self.service, settings.otel_exporter_otlp_endpoint)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            self.all_topics(),
            settings.topic_partitions,
            topic_prefix=settings.topic_prefix,
            security=settings,
        )
        self.producer = create_producer(
            settings.kafka_bootstrap_servers, f"{self.service}-{settings.instance_id}", settings
        )
        await self.producer.start()
        self.relay = await self._start_relay()
        if self.consumed_topics():
            self.consumer = self._consumer(self.producer, self.relay.notify, sources)

    async def _start_relay(self) -> OutboxRelay | RelayProcess:
        settings = self.settings
        owner = f"{self.service}-{settings.instance_id}"
        if settings.outbox_relay == "process":
            child = RelayProcess(self.service, owner, settings, self.engine)
            await child.start()
            return child
        return OutboxRelay(
            self.engine,
            await self._relay_producer(),
            self.service,
            service_relay_settings(self.service, settings.topic_prefix),
            owner=owner,
            renew_producer=self._relay_producer,
        )

    async def _relay_producer(self) -> AIOKafkaProducer:
        # The relay's own producer: a batch the broker refuses breaks an idempotent producer's numbering for its
        # partition (reliability.outbox_delivery), which must never reach the consumer's dead letters; the relay
        # renews it then.
        settings = self.settings
        producer = create_producer(
            settings.kafka_bootstrap_servers, f"{self.service}-{settings.instance_id}-relay", settings
        )
        await producer.start()
        return producer

    def health_checks(self) -> dict[str, HealthCheck]:
        checks = {"database": database_check(self.engine), "kafka": self._check_kafka, "outbox": self._check_outbox}
        if self.consumed_topics():
            checks["consumer"] = self._check_consumer
        return checks

    async def _check_consumer(self) -> str | None:
        """Paused partitions: 503; parked records: `Degraded` (200); see `IdempotentConsumer.health`."""
        if self.consumer is None:
            return "consumer not started"
        try:
            return await asyncio.wait_for(self.consumer.health(), 3)
        except Exception as error:
            return f"consumer health unknown: {type(error).__name__}"

    # -- the relay's health: parked rows and a relay that keeps failing are `Degraded`, not down ---------------
    async def _check_outbox(self) -> str | None:
        if self.relay is None:
            return None
        try:
            parked = await asyncio.wait_for(asyncio.to_thread(self.relay.refresh_parked_gauge), 3)
        except Exception as error:
            return f"outbox unreadable: {type(error).__name__}"
        problems = []
        if parked:
            problems.append(f"{parked} outbox row(s) parked; see `mc-ops outbox parked`")
        if self.relay.last_failure is not None:
            problems.append(f"relay failing: {self.relay.last_failure}")
        return Degraded("degraded: " + "; ".join(problems)) if problems else None

    async def _check_kafka(self) -> str | None:
        if self.producer is None:
            return "kafka producer not started"
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
        except Exception as error:
            return f"kafka unreachable: {type(error).__name__}"
        return None

    @contextlib.asynccontextmanager
    async def background(self) -> AsyncIterator[ServiceRuntime]:
        """Run relay and consumer in the background for the block (tests use this without HTTP)."""
        await self.start()
        assert self.relay is not None and self.producer is not None
        tasks = [asyncio.create_task(self.relay.run(), name=f"{self.service}-outbox-relay")]
        if self.consumer is not None:
            tasks.append(asyncio.create_task(self.consumer.run(), name=f"{self.service}-consumer"))
        self._tasks = tasks
        try:
            yield self
        finally:
            if self.consumer is not None:
                self.consumer.stop()
            self.relay.stop()
            for task in tasks:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 15)
            await self.relay.close()
            await self.producer.stop()

    def failed_task(self) -> BaseException | None:
        """The error of a background task that died, if any (it should run until stopped)."""
        for task in getattr(self, "_tasks", []):
            if task.done() and not task.cancelled():
                error: BaseException | None = task.exception()
                if error is not None:
                    return error
        return None

    async def serve(self, app: FastAPI, port: int) -> None:
        """Serve HTTP with relay and consumer until SIGTERM/SIGINT, then stop in order: HTTP, consumer, relay."""
        trace_requests(app)
        garbage.settle_after_start()
        async with self.background():
            config = uvicorn.Config(app, host=self.settings.http_host, port=port, log_config=None)
            server = uvicorn.Server(config)
            # uvicorn captures SIGINT/SIGTERM and re-raises them after its shutdown, which would skip stopping
            # the consumer and relay in order; we own the signals and stop uvicorn ourselves.
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            server_task = asyncio.create_task(server.serve(), name=f"{self.service}-http")
            while not stop.is_set() and not server_task.done() and self.failed_task() is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            log.info("stopping", extra={"service": self.service})
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(server_task, 15)
            failure = self.failed_task()
            if failure is not None:
                raise RuntimeError(f"{self.service}: a background task failed") from failure


def notify_relay(runtime: ServiceRuntime | None) -> None:
    """Wake the outbox relay right after a commit rather than at its next poll (no-op without a runtime)."""
    if runtime is not None and runtime.relay is not None:
        runtime.relay.notify()
