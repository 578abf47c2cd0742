"""`python -m enrolment` as operations run it: configured by environment variables, healthy, stops on SIGTERM,
and its logs name enrolments by id but never carry a student's name or e-mail address."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.enrolment.enrolment_support import API_TOKENS, TOKEN, enrolment_request

pytestmark = pytest.mark.kafka


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_service_process_serves_publishes_and_stops_cleanly(kafka_bootstrap, tmp_path):
    port = free_port()
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": f"sqlite:///{tmp_path}/var/enrolment.db",
        "TOPIC_PREFIX": f"enrproc{uuid.uuid4().hex[:8]}.",
        "API_TOKENS": f"other:{secrets.token_urlsafe(32)}:enrolments:read;{API_TOKENS}",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "enrolment"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become healthy"
            time.sleep(0.3)
        assert health.json() == {
            "status": "ok",
            "checks": {"database": "ok", "kafka": "ok", "outbox": "ok", "consumer": "ok"},
        }

        request = enrolment_request("s0800000", given_name="Zofia", family_name="Wiśniewska-Unique")
        request["student"]["email"] = "zofia.unique@student.example.org"
        created = httpx.post(f"{base}/enrolments", json=request, headers={"Authorization": f"Bearer {TOKEN}"})
        assert created.status_code == 201
        enrolment_id = created.json()["id"]
        assert httpx.get(f"{base}/microcredentials", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    logs = stderr.decode()
    assert process.returncode == 0, logs
    assert enrolment_id in logs  # ids are logged ...
    for personal in ("Zofia", "Wiśniewska-Unique", "zofia.unique"):  # ... personal data is not
        assert personal not in logs
