"""Runs one service process: HTTP API, outbox relay and idempotent consumer on one event loop.

Every replica runs all three; the relay's lease and the consumer group make two replicas safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine

from contracts import topics as contract_topics
from reliability.consumer import ConsumerSettings, Handler, IdempotentConsumer
from reliability.http import HealthCheck
from reliability.outbox import OutboxRelay, RelaySettings
from reliability.producer import create_producer
from reliability.settings import ServiceSettings
from reliability.topics import ensure_topics

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """Owns the Kafka clients and background tasks of one service replica."""

    service: str
    settings: ServiceSettings
    engine: Engine
    consumes: Sequence[str] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    producer: AIOKafkaProducer | None = None
    relay: OutboxRelay | None = None
    consumer: IdempotentConsumer | None = None

    def all_topics(self) -> list[str]:
        """Every topic the service touches, with its dead-letter topic; created at start if missing."""
        names = [*contract_topics.ALL, *(contract_topics.dead_letter_topic(t) for t in self.consumes)]
        return [self.settings.topic_prefix + name for name in names]

    async def start(self) -> None:
        settings = self.settings
        await ensure_topics(settings.kafka_bootstrap_servers, self.all_topics(), settings.topic_partitions)
        self.producer = create_producer(settings.kafka_bootstrap_servers, f"{self.service}-{settings.instance_id}")
        await self.producer.start()
        self.relay = OutboxRelay(
            self.engine,
            self.producer,
            self.service,
            RelaySettings(lease_name=f"{self.service}-outbox-relay", topic_prefix=settings.topic_prefix),
            owner=f"{self.service}-{settings.instance_id}",
        )
        if self.consumes:
            self.consumer = IdempotentConsumer(
                ConsumerSettings(
                    name=self.service,
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    group_id=self.service,
                    topics=list(self.consumes),
                    topic_prefix=settings.topic_prefix,
                ),
                self.engine,
                self.handlers,
                self.producer,
                after_commit=self.relay.notify,
            )

    def health_checks(self) -> dict[str, HealthCheck]:
        return {"database": self._check_database, "kafka": self._check_kafka}

    async def _check_database(self) -> str | None:
        def ping() -> None:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(asyncio.to_thread(ping), 3)
        except Exception as error:
            return f"database unreachable: {type(error).__name__}"
        return None

    async def _check_kafka(self) -> str | None:
        if self.producer is None:
            return "kafka producer not started"
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
        except Exception as error:
            return f"kafka unreachable: {type(error).__name__}"
        return None

    async def serve(self, app: FastAPI, port: int) -> None:
        """Start everything, serve HTTP until SIGTERM/SIGINT, then stop in order: HTTP, consumer, relay."""
        await self.start()
        assert self.relay is not None and self.producer is not None
        config = uvicorn.Config(app, host=self.settings.http_host, port=port, log_config=None, lifespan="on")
        server = uvicorn.Server(config)
        tasks = [asyncio.create_task(self.relay.run(), name="outbox-relay")]
        if self.consumer is not None:
            tasks.append(asyncio.create_task(self.consumer.run(), name="consumer"))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        server_task = asyncio.create_task(server.serve(), name="http")
        # uvicorn installs its own signal handlers in serve(); ours must win so shutdown is ordered.
        await asyncio.sleep(0)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        watched = [server_task, *tasks]
        stop_waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stop_waiter, *watched], return_when=asyncio.FIRST_COMPLETED)
        failed = [task for task in done if task is not stop_waiter and task.exception() is not None]
        log.info("stopping", extra={"service": self.service})
        server.should_exit = True
        if self.consumer is not None:
            self.consumer.stop()
        self.relay.stop()
        for task in [server_task, *tasks]:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
        stop_waiter.cancel()
        await self.producer.stop()
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
