"""Broker configuration files: server.properties and the log4j2 config."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

NODE_ID = 1
HOST = "127.0.0.1"


def random_cluster_id() -> str:
    """Like `kafka-storage random-uuid`: a v4 UUID as unpadded base64url, never starting with '-'
    (Kafka rejects such ids because they look like command-line flags)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def server_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    host: str = HOST,
    partitions: int = 3,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The properties of a single-node KRaft cluster (combined broker+controller) on loopback."""
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # Dynamic quorum (KIP-853): the storage is formatted with --standalone, so no static voters list.
        "controller.quorum.bootstrap.servers": f"{host}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": str(partitions),
        "auto.create.topics.enable": "false",
        # One node: internal topics cannot be replicated more than once.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # The defaults (50 partitions each) make the first consumer group / transaction noticeably slow
        # to start on a laptop, and a single node gains nothing from them.
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        # Tests start consumers and expect assignment at once, not after the 3 s default delay.
        "group.initial.rebalance.delay.ms": "0",
    }
    if extra:
        props.update(extra)
    return props


ADMIN_USER = "admin"
"""The secured broker's super user: inter-broker and controller traffic, and provisioning (ACLs, topics). Never a
service's principal."""
CLIENT_LISTENER = "CLIENT"


def secured_properties(
    *, port: int, controller_port: int, host: str, ca_file: Path, keystore_file: Path, admin_password: str
) -> dict[str, str]:
    """What turns `server_properties` into a secured broker: one SASL_SSL client listener (SCRAM-SHA-512),
    the controller listener on SASL_SSL with PLAIN (KRaft controllers do not support SCRAM), StandardAuthorizer
    denying whatever no ACL allows, and `ADMIN_USER` as the only super user. No plaintext listener at all."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    admin = f'username="{ADMIN_USER}" password="{admin_password}"'
    return {
        "listeners": f"{CLIENT_LISTENER}://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"{CLIENT_LISTENER}://{host}:{port}",
        "inter.broker.listener.name": CLIENT_LISTENER,
        "listener.security.protocol.map": f"{CLIENT_LISTENER}:SASL_SSL,CONTROLLER:SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        f"listener.name.{CLIENT_LISTENER.lower()}.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        # The broker's own login for inter-broker connections; the users it accepts are SCRAM credentials in the
        # cluster metadata (created at format time, or later by an admin), not in this file.
        f"listener.name.{CLIENT_LISTENER.lower()}.scram-sha-512.sasl.jaas.config": f"{scram} required {admin};",
        # Controller listener: PLAIN with exactly one user, the admin (user_admin is the only accepted login),
        # over TLS. SCRAM credentials live in the metadata the controller itself serves, so it cannot use them.
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            f'{plain} required {admin} user_{ADMIN_USER}="{admin_password}";'
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore_file),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(ca_file),
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.client.auth": "none",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER}",
    }


def _escape(value: str) -> str:
    # java.util.Properties treats backslashes as escapes (Windows paths) and leading spaces as separators.
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def render_properties(props: Mapping[str, str], header: str | None = None) -> str:
    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines += [f"{key}={_escape(value)}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def parse_properties(text: str) -> dict[str, str]:
    """Enough of java.util.Properties to read back what render_properties wrote."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, _, value = line.partition("=")
        result[key.strip()] = value.strip().replace("\\n", "\n").replace("\\\\", "\\")
    return result


def write_server_properties(
    path: Path,
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    host: str = HOST,
    partitions: int = 3,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    props = server_properties(
        port=port, controller_port=controller_port, log_dir=log_dir, host=host, partitions=partitions, extra=extra
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0600: a secured broker's file holds the admin password.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(render_properties(props, "Generated by localkafka; rewritten on every start."))
    path.chmod(0o600)
    return props


def log4j2_properties(log_file: Path, level: str = "INFO") -> str:
    return f"""# Generated by localkafka: all broker logging goes to one file in the data dir.
status = warn
name = localkafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {_escape(str(log_file))}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = FILE
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
