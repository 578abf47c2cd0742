#!/usr/bin/env bash
# kafka-broker-api-versions.sh --bootstrap-server HOST:PORT [--command-config FILE]: the healthcheck's probe.
exec kafka-run-class.sh org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
