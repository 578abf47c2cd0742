"""Fixtures of the suites that run the three services on the secured broker (tests/e2e, tests/fuzz): each
service as its own principal (SASL_SSL, ACLs), the campus systems as theirs, the harness's own readers as the super
user. A suite's conftest imports them: `from tests.secured_suite import campus, harness_identity, kafka_bootstrap`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kafka_fixtures import SecuredKafka


@pytest.fixture(scope="session")
def kafka_bootstrap(secured_kafka: SecuredKafka) -> str:
    """Here the session's *secured* broker: every Kafka test of this directory runs with authentication and ACLs."""
    return secured_kafka.bootstrap


@pytest.fixture(autouse=True)
def harness_identity(secured_kafka: SecuredKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own Kafka clients (scenario, readers) authenticate through the environment, as mc-ops does."""
    for name, value in secured_kafka.harness_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def campus(secured_kafka: SecuredKafka) -> dict[str, dict[str, Any]]:
    """The campus systems' own principals: the scenario publishes enrolments as the student administration and
    results as the exam administration, so the ACLs of deploy/kafka-acls.yaml are what lets them through."""
    return {system: secured_kafka.client_kwargs(system) for system in ("student-administration", "exam-administration")}
