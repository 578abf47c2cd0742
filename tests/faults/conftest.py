"""One stack of the three service processes shared by the fault tests on the session broker.

Starting three Python services takes half a minute on a small machine; the tests that share this stack keep
apart by using enrolment ids and poison markers of their own, and the kill -9 test leaves every service
restarted and healthy. The broker-restart test needs a broker of its own and starts its own stack.

Both run on secured brokers (SASL_SSL, ACLs): each service as its own principal, the tests' own clients as the
super user through the environment (`harness_identity`).
"""

from __future__ import annotations

import secrets
import uuid

import pytest
from stack.processes import SERVICES, Stack, free_port

from tests.kafka_fixtures import SecuredKafka


@pytest.fixture(scope="session")
def kafka_bootstrap(secured_kafka: SecuredKafka) -> str:
    """Here the session's *secured* broker."""
    return secured_kafka.bootstrap


@pytest.fixture
def harness_identity(secured_kafka: SecuredKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own Kafka clients (producers, mc-ops readers) authenticate through the environment."""
    for name, value in secured_kafka.harness_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def shared_stack(kafka_bootstrap, secured_kafka, tmp_path_factory):
    prefix = f"flt{uuid.uuid4().hex[:8]}."
    secured_kafka.provision_now(prefix)
    stack = Stack(
        workdir=tmp_path_factory.mktemp("faults-stack"),
        bootstrap=kafka_bootstrap,
        api_token=secrets.token_urlsafe(32),
        topic_prefix=prefix,
        ports={name: free_port() for name in SERVICES},
        kafka_env=secured_kafka.service_envs(),
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()
