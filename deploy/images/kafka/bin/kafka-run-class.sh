#!/usr/bin/env bash
# Runs a Kafka class on the image's classpath (the official script's role, reduced to what this image uses).
set -euo pipefail
log4j="${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml}"
[ -f /opt/kafka/config/tools-log4j2.yaml ] || log4j="-Dlog4j2.configurationFile=/etc/kafka/docker/tools-log4j2.yaml"
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -Djava.awt.headless=true $log4j ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' "$@"
