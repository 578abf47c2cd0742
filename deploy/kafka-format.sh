#!/usr/bin/env bash
# The compose Kafka's first start (the one-shot `kafka-format` job of docker-compose.yml, in the Kafka image itself,
# official or local stand-in): format the KRaft storage of an empty volume with the super user's SCRAM-SHA-512
# credential, so the secured broker has one user that may log in and provision the rest (kafka-setup).
# The image's own entrypoint formats without SCRAM credentials; on a volume formatted here it finds
# meta.properties and skips formatting ("already formatted"), in both images. A formatted volume is left alone,
# so the admin password only counts on the first start (rotating it: docs/operations.md).
set -euo pipefail
: "${KAFKA_LOG_DIRS:?}" "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD in .env}"
if [ -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  echo "storage already formatted: nothing to do"
  exit 0
fi
# --add-scram parses name=...,password=... itself: a comma, '=' or bracket in the password would cut it short.
case "$KAFKA_ADMIN_PASSWORD" in *[!A-Za-z0-9_-]*)
  echo "KAFKA_ADMIN_PASSWORD: only letters, digits, '-' and '_' (secrets.token_urlsafe)" >&2; exit 1 ;;
esac
# Enough of the broker's configuration for the storage tool: the same node, roles, quorum and log directory.
config="$(mktemp)"
trap 'rm -f "$config"' EXIT
cat >"$config" <<EOF
process.roles=${KAFKA_PROCESS_ROLES}
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES}
listeners=${KAFKA_LISTENERS}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME}
log.dirs=${KAFKA_LOG_DIRS}
EOF
cluster_id="$(/opt/kafka/bin/kafka-storage.sh random-uuid 2>/dev/null | tail -1)"
# The tool prints the bootstrap records, SCRAM salts and keys included: that line stays out of the log.
if ! output="$(/opt/kafka/bin/kafka-storage.sh format --cluster-id "$cluster_id" -c "$config" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]" 2>&1)"; then
  grep -v '^Bootstrap metadata' <<<"$output" >&2
  exit 1
fi
grep -v '^Bootstrap metadata' <<<"$output"
test -f "$KAFKA_LOG_DIRS/meta.properties"
echo "formatted $KAFKA_LOG_DIRS (cluster $cluster_id) with the SCRAM-SHA-512 user admin"
