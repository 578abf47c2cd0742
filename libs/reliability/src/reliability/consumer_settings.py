"""How a consumer is configured: where it reads, how it retries, when it gives up on a partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reliability.kafka_security import KafkaSecuritySettings
from reliability.provenance import EventSources


@dataclass(frozen=True)
class RetryPolicy:
    """Growing, capped delays. Infrastructure errors retry until they clear; other errors `max_attempts` times."""

    first_delay: float = 0.1
    multiplier: float = 2.0
    max_delay: float = 30.0
    max_attempts: int = 5
    """Attempts at a failing batch before it is isolated; also at a DLQ send or offset commit before giving up."""

    def delay(self, attempt: int) -> float:
        return float(min(self.first_delay * self.multiplier ** (attempt - 1), self.max_delay))


@dataclass
class ConsumerSettings:
    name: str
    """Names this consumer in the processed-event table and the dlq-consumer header; usually the group id."""
    bootstrap_servers: str
    group_id: str
    topics: Sequence[str]
    """Logical topic names of the contract, e.g. ``enrolment.events``."""
    topic_prefix: str = ""
    """Prepended to every topic name, so tests and tenants can share one cluster without sharing topics."""
    max_records: int = 500
    poll_timeout_ms: int = 500
    session_timeout_ms: int = 10000
    """How soon the group notices a replica that died without leaving; its partitions move after this."""
    heartbeat_interval_ms: int = 500
    """How soon a member hears of a rebalance, so how long every join waits for the members already in. Each
    topic is a consumer of its own in the group (FastStream's subscribers): the second one's join waited for the
    first one's next heartbeat, and at a fifth of the session timeout (2 s) that was most of billing's start
    (docs/benchmark.md). Kafka wants it under a third of the session timeout."""
    metadata_max_age_ms: int = 10000
    """How often each consumer's client refreshes its metadata even when nothing failed. The group's leader assigns
    the partitions of every topic of the group from its own client's metadata, and rejoins when a refresh shows a
    topic's partitions changed; a leader that assigned while it lacked a topic (a broker restart caught it) left
    that topic's subscriber without partitions until the next refresh, aiokafka's default five minutes
    (tests/kit/test_kit_consumer_metadata.py)."""
    max_poll_interval_ms: int = 300000
    """aiokafka's ``max_poll_interval_ms``: a batch taking longer gets the consumer out of its group."""
    pause_after: int = 5
    """Consecutive events of a partition failing with the same unexpected exception class that pause it."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sources: EventSources | None = None
    """The source allow-list checked before any handler runs; ServiceRuntime always sets it. None (the kit's own
    tests, benchmarks of one consumer) accepts every source."""
    security: KafkaSecuritySettings | None = None
    """How the consumer authenticates (`reliability.kafka_security`); None: PLAINTEXT."""

    @property
    def isolation_budget(self) -> float:
        """Seconds isolating one batch may take: a third of the poll interval, so retries before it fit too."""
        return self.max_poll_interval_ms / 3000
