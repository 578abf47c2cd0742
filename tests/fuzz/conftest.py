"""The fuzz campaign runs the three services as real processes on the secured broker, as tests/e2e does: each
service as its own principal, the bad inputs as the principals allowed to write each topic, the harness's own
readers as the super user (through the environment)."""

from __future__ import annotations

import secrets
import uuid

import pytest
from stack.processes import SERVICES, Stack, free_port

from tests.secured_suite import campus, harness_identity, kafka_bootstrap

__all__ = ["campus", "fuzz_stack", "harness_identity", "kafka_bootstrap"]


@pytest.fixture
def fuzz_stack(kafka_bootstrap, secured_kafka, tmp_path):
    """The stack, stopped (SIGTERM, then kill) whatever happens. Unlike tests/e2e it does not assert at teardown
    that every service still runs: the campaign checks that itself and reports it with its other findings."""
    prefix = f"fuzz{uuid.uuid4().hex[:8]}."
    secured_kafka.provision_now(prefix)
    stack = Stack(
        workdir=tmp_path / "stack",
        bootstrap=kafka_bootstrap,
        api_token=secrets.token_urlsafe(32),
        topic_prefix=prefix,
        kafka_env=secured_kafka.service_envs(),
        ports={name: free_port() for name in SERVICES},
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()
