#!/usr/bin/env bash
# kafka-broker-api-versions.sh --bootstrap-server HOST:PORT [--command-config FILE]: the healthcheck's probe.
# A small, quickly started JVM: the probe runs every few seconds next to the broker.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto}"
exec kafka-run-class.sh org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
