"""One stack of the three service processes shared by the fault tests on the session broker.

Starting three Python services takes half a minute on a small machine; the tests that share this stack keep
apart by using enrolment ids and poison markers of their own, and the kill -9 test leaves every service
restarted and healthy. The broker-restart test needs a broker of its own and starts its own stack.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
from stack.processes import SERVICES, Stack, free_port


@pytest.fixture(scope="module")
def shared_stack(kafka_bootstrap, tmp_path_factory):
    stack = Stack(
        workdir=tmp_path_factory.mktemp("faults-stack"),
        bootstrap=kafka_bootstrap,
        api_token=secrets.token_urlsafe(32),
        topic_prefix=f"flt{uuid.uuid4().hex[:8]}.",
        ports={name: free_port() for name in SERVICES},
    )
    try:
        stack.start(timeout=120)
        yield stack
    finally:
        stack.stop()
