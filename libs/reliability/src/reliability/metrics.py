"""Prometheus metrics shared by every service; labels say which service and consumer they belong to."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "events_consumed_total", "Kafka messages handled (applied or skipped)", ["consumer", "outcome"]
)
EVENTS_PUBLISHED = Counter("events_published_total", "Outbox rows published to Kafka", ["service"])
EVENTS_RETRIED = Counter("events_retried_total", "Handler attempts that failed and were retried", ["consumer"])
EVENTS_DEAD_LETTERED = Counter("events_dead_lettered_total", "Messages sent to a dead-letter topic", ["consumer"])
CONSUMER_LAG = Gauge("consumer_lag_messages", "Messages behind the partition end", ["consumer", "topic", "partition"])
HANDLER_SECONDS = Histogram(
    "handler_batch_seconds",
    "Time to apply one batch of messages and commit it",
    ["consumer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# The consumer's failures after the handler (reliability.consumer, reliability.parking).
RECORDS_PARKED = Counter(
    "consumer_records_parked_total",
    "Consumed records parked in the database: their DLQ send kept failing",
    ["consumer"],
)
PARKED_RECORDS_OPEN = Gauge(
    "consumer_parked_records_open", "Parked consumed records no operator has released yet", ["consumer"]
)
PARTITIONS_PAUSED = Gauge(
    "consumer_partitions_paused", "Partitions paused because the same error failed event after event", ["consumer"]
)
AFTER_HANDLER_FAILURES = Counter(
    "consumer_after_handler_failures_total",
    "Failed attempts after the handler: DLQ send, offset commit, after-commit hooks",
    ["consumer", "stage"],
)
# The outbox relay's parked rows (reliability.outbox_parking): refused for good, or waiting behind such a row.
OUTBOX_PARKED = Gauge(
    "outbox_parked_rows", "Outbox rows parked until an operator releases or discards them", ["service"]
)
OUTBOX_ROWS_REFUSED = Counter(
    "outbox_rows_refused_total", "Outbox rows the broker refused for good (parked), by error type", ["service", "error"]
)
