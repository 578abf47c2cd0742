"""The testcontainers route, kept working: a Kafka test suite run against an Apache Kafka 4.4 container made from
the same image as compose (KAFKA_TEST_ROUTE=testcontainers), with the route printed in the header, the tests
passing, and no container left behind — plus the fallback when the image is not there."""

from __future__ import annotations

import os
import subprocess
import sys

import docker
import pytest

from tests import kafka_container
from tests.containers.compose import ROOT

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]
SUITE = "tests/opscli/test_opscli_topics.py"  # real broker work: creates and checks topics


def run_suite(tmp_path, image: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "KAFKA_BOOTSTRAP_SERVERS"}
    env |= {"KAFKA_TEST_ROUTE": "testcontainers", "KAFKA_TEST_IMAGE": image}
    env.pop("CI", None)  # the fallback case must be allowed to fall back
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}", SUITE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=800,
    )  # fmt: skip


def our_containers() -> list[str]:
    client = docker.from_env()
    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": kafka_container.SESSION_LABEL})]
    finally:
        client.close()


def test_a_kafka_suite_passes_on_the_container_route_and_leaves_no_container(stand_in_images, tmp_path):
    image = stand_in_images["KAFKA_IMAGE"]
    ran = run_suite(tmp_path, image)
    output = ran.stdout + ran.stderr
    assert f"kafka route: testcontainers Apache Kafka container ({image})" in output, output[-3000:]
    assert ran.returncode == 0, output[-3000:]
    summary = output.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary
    assert our_containers() == [], "the fixture must remove its container"


def test_without_the_image_it_falls_back_to_localkafka_and_says_why(stand_in_images, tmp_path):
    ran = run_suite(tmp_path, "local/no-such-kafka:0")
    output = ran.stdout + ran.stderr
    assert "via localkafka (testcontainers asked, but image local/no-such-kafka:0 is not on this engine" in output
    assert ran.returncode == 0, output[-3000:]
