"""The generated broker configuration, without starting anything."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from localkafka.config import (
    log4j2_properties,
    parse_properties,
    random_cluster_id,
    server_properties,
    write_server_properties,
)
from localkafka.fetch import KAFKA_VERSION, render_pom

REQUIRED = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.bootstrap.servers": "127.0.0.1:19093",
    "controller.listener.names": "CONTROLLER",
    "listeners": "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
    "advertised.listeners": "PLAINTEXT://127.0.0.1:19092",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "false",
    "num.partitions": "3",
}


def test_server_properties_have_everything_a_single_node_kraft_cluster_needs(tmp_path: Path) -> None:
    props = server_properties(port=19092, controller_port=19093, log_dir=tmp_path / "logs")
    for key, value in REQUIRED.items():
        assert props.get(key) == value, key
    assert props["log.dirs"] == str(tmp_path / "logs")
    # A static voter list would contradict the --standalone (dynamic quorum) format.
    assert "controller.quorum.voters" not in props


def test_written_file_reads_back_as_the_same_properties(tmp_path: Path) -> None:
    path = tmp_path / "run" / "server.properties"
    written = write_server_properties(path, port=19092, controller_port=19093, log_dir=tmp_path / "data")
    assert parse_properties(path.read_text()) == written
    assert parse_properties(path.read_text())["log.dirs"] == str(tmp_path / "data")


def test_extra_properties_override_defaults(tmp_path: Path) -> None:
    props = server_properties(
        port=1, controller_port=2, log_dir=tmp_path, extra={"num.partitions": "6", "log.retention.ms": "1000"}
    )
    assert props["num.partitions"] == "6"
    assert props["log.retention.ms"] == "1000"


def test_cluster_id_is_a_base64url_uuid() -> None:
    ids = {random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_log4j_config_writes_to_the_given_file(tmp_path: Path) -> None:
    text = log4j2_properties(tmp_path / "server.log")
    assert f"appender.file.fileName = {tmp_path / 'server.log'}" in text
    assert "rootLogger.appenderRef.file.ref = FILE" in text


def test_pom_pins_kafka_and_log4j2() -> None:
    pom = render_pom()
    assert KAFKA_VERSION == "4.4.0"
    assert f"<artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version>" in pom
    assert "<artifactId>slf4j-api</artifactId><version>1.7.36</version>" in pom
    for artifact in ("log4j-slf4j-impl", "log4j-api", "log4j-core"):
        assert re.search(rf"<artifactId>{artifact}</artifactId><version>2\.\d+\.\d+</version>", pom), artifact
