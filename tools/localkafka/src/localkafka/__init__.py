"""A real single-node Apache Kafka (KRaft) for development and tests, run as a plain Java process."""

from localkafka.broker import BrokerStatus, LocalKafka, StartError, list_brokers
from localkafka.config import random_cluster_id, server_properties, write_server_properties
from localkafka.fetch import KAFKA_VERSION, FetchError, fetch, is_fetched
from localkafka.paths import kafka_home
from localkafka.topics import ensure_topics

__all__ = [
    "KAFKA_VERSION",
    "BrokerStatus",
    "FetchError",
    "LocalKafka",
    "StartError",
    "ensure_topics",
    "fetch",
    "is_fetched",
    "kafka_home",
    "list_brokers",
    "random_cluster_id",
    "server_properties",
    "write_server_properties",
]
