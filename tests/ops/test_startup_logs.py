"""A service that cannot start says why in its JSON log (what `docker compose logs` and a log shipper read).

Once logging is configured, an exception that ends the process used to print Python's plain traceback on stderr,
the one thing in the container's log that was not JSON (seen as the `ModuleNotFoundError: No module named
'psycopg'` crash loop of the first `docker compose up`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVICES = ["enrolment", "billing", "certification"]


@pytest.mark.parametrize("name", SERVICES)
def test_a_start_up_failure_is_one_json_record_with_the_traceback(name, tmp_path):
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "LOG_FORMAT": "json",
        # A driver no image has: the engine is made after logging is configured, so this fails at start-up.
        "DATABASE_URL": "postgresql+nosuchdriver://user:secret@127.0.0.1:1/db",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DEV_MODE": "true",
    }
    ran = subprocess.run(
        [sys.executable, "-m", name], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode != 0
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines, "nothing logged"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{name}: a line of its log is not JSON: {line!r}\n{ran.stderr[-2000:]}")
    fatal = [record for record in records if record["level"] == "CRITICAL"]
    assert len(fatal) == 1, records
    assert fatal[0]["service"] == name
    assert "nosuchdriver" in fatal[0]["exception"] and "Traceback" in fatal[0]["exception"]
    assert "secret" not in ran.stderr, "the database password must not reach the log"
