"""The compose Kafka's security, checked in docker-compose.yml without Docker: SASL on every listener, the
authorizer denying what no ACL allows, one principal per service, every principal of the ACL file provisioned.
tests/containers/test_compose_stack.py proves the same on the running stack."""

from __future__ import annotations

from typing import Any

import pytest
from opscli.acls import load, password_variable

from tests.ops.test_compose import OUR_SERVICES, ROOT, environment, load_compose

ACL_FILE = ROOT / "deploy" / "kafka-acls.yaml"


def kafka() -> dict[str, Any]:
    return load_compose()["services"]["kafka"]


def server_properties(env: dict[str, str]) -> dict[str, str]:
    """The official image's rule for KAFKA_* variables (kafka.docker.KafkaDockerWrapper.getServerConfigsFromEnv in
    the Kafka jar; the stand-in runs that very class): drop KAFKA_, lower-case, `_` -> `.`, `...` -> `-`,
    `..` -> `_`."""
    excluded = {"KAFKA_VERSION", "KAFKA_HEAP_OPT", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS"}
    return {
        key.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_"): value
        for key, value in env.items()
        if key.startswith("KAFKA_") and key not in excluded
    }


def test_every_listener_authenticates_and_the_authorizer_denies_what_no_acl_allows():
    props = server_properties(environment(kafka()))
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    listeners = [item.split("://")[0] for item in props["listeners"].split(",")]
    assert set(listeners) == set(protocols) and set(protocols.values()) == {"SASL_PLAINTEXT"}, protocols
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    # The controller listener: loopback of the container only, PLAIN accepting admin alone.
    assert "CONTROLLER://localhost:9093" in props["listeners"].split(",")
    controller = props["listener.name.controller.plain.sasl.jaas.config"]
    assert controller.count("user_") == 1 and 'user_admin="' in controller
    for listener in ("internal", "host"):  # the server side of SCRAM needs a login module per listener
        assert "ScramLoginModule required" in props[f"listener.name.{listener}.scram-sha-512.sasl.jaas.config"]


def test_the_format_job_and_the_broker_agree_on_the_node_and_its_storage():
    services = load_compose()["services"]
    formatting, broker = environment(services["kafka-format"]), environment(services["kafka"])
    shared = {key: value for key, value in formatting.items() if key != "KAFKA_ADMIN_PASSWORD"}
    assert shared and all(broker[key] == value for key, value in shared.items()), shared
    assert services["kafka"]["depends_on"] == {"kafka-format": {"condition": "service_completed_successfully"}}
    volumes = {str(v).split(":")[0] for v in services["kafka-format"]["volumes"]}
    assert "kafka-data" in volumes and "./deploy/kafka-format.sh" in volumes


@pytest.mark.parametrize("name", list(OUR_SERVICES))
def test_each_service_logs_in_as_its_own_principal_with_its_own_password(name):
    env = environment(load_compose()["services"][name])
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["KAFKA_SASL_USERNAME"] == name
    raw = load_compose()["services"][name]["environment"]["KAFKA_SASL_PASSWORD"]
    assert raw.startswith(f"${{{password_variable(name)}:?"), raw
    assert name in load(ACL_FILE), f"{name} has no ACLs in {ACL_FILE.name}"


def test_kafka_setup_provisions_every_principal_of_the_acl_file_and_runs_as_admin():
    setup = load_compose()["services"]["kafka-setup"]
    expected = {password_variable(principal) for principal in load(ACL_FILE)}
    given = {key for key in setup["environment"] if key.endswith("_KAFKA_PASSWORD")}
    assert given == expected, "a principal of the ACL file without its password in kafka-setup is never created"
    assert setup["environment"]["KAFKA_SASL_USERNAME"] == "admin"
    assert setup["environment"]["KAFKA_SASL_PASSWORD"].startswith("${KAFKA_ADMIN_PASSWORD:?")
    assert setup["depends_on"] == {"kafka": {"condition": "service_healthy"}}
