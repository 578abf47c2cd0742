"""The Kafka producer every service uses: idempotent, acks=all, so a retried send is never written twice."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from reliability.kafka_security import KafkaSecuritySettings, client_kwargs
from reliability.partitioner import KeyHashPartitioner


def create_producer(
    bootstrap_servers: str, client_id: str, security: KafkaSecuritySettings | None = None
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        # No linger: the relay queues a whole batch before it awaits the acknowledgements, so the batches fill
        # without waiting, and a linger only delayed every publication (p50 at 200 events/s: 27 -> 21 ms on
        # SQLite, 59 -> 50 ms on PostgreSQL; the throughput unchanged; docs/benchmark.md).
        linger_ms=0,
        request_timeout_ms=30000,
        partitioner=KeyHashPartitioner(),
        **client_kwargs(security),
    )
