#!/usr/bin/env bash
# kafka-server-start.sh CONFIG: the broker in the foreground.
set -euo pipefail
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
export KAFKA_LOG4J_OPTS="${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}"
exec kafka-run-class.sh kafka.Kafka "$@"
