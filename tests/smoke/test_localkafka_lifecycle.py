"""localkafka itself: two named brokers started at the same time (one through the CLI), then stopped."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from localkafka import LocalKafka, ensure_topics, fetch, kafka_home

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(shutil.which("java") is None, reason="localkafka needs a JDK (java on PATH)"),
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private LOCALKAFKA_HOME sharing the downloaded jars, so run dirs never outlive the test."""
    libs = fetch()
    private = tmp_path / "home"
    private.mkdir()
    (private / "libs").symlink_to(libs, target_is_directory=True)
    assert kafka_home() != private
    return private


def _cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCALKAFKA_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "localkafka", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


async def test_two_brokers_start_concurrently_and_stop_cleanly(home: Path) -> None:
    api_name, cli_name = f"api-{uuid.uuid4().hex[:6]}", f"cli-{uuid.uuid4().hex[:6]}"
    api_broker = LocalKafka(api_name, home=home, fresh=True)
    cli_broker = LocalKafka(cli_name, home=home)
    try:
        async with asyncio.timeout(150):
            api_bootstrap, cli_result = await asyncio.gather(
                asyncio.to_thread(api_broker.start),
                asyncio.to_thread(_cli, home, "start", "--name", cli_name),
            )
        assert cli_result.returncode == 0, cli_result.stderr
        cli_bootstrap = cli_result.stdout.strip()
        assert api_bootstrap != cli_bootstrap

        for bootstrap in (api_bootstrap, cli_bootstrap):
            await ensure_topics(bootstrap, ["lifecycle"], partitions=1)

        status = _cli(home, "status", "--name", cli_name)
        assert status.returncode == 0, status.stderr
        assert f"bootstrap={cli_bootstrap}" in status.stdout
        pids = [api_broker.pid, cli_broker.pid]
        assert None not in pids
    finally:
        stop = _cli(home, "stop", "--name", cli_name)
        api_broker.stop()
        cli_broker.stop()  # no-op unless the CLI stop failed; never leave a JVM behind

    assert stop.returncode == 0, stop.stderr
    assert _cli(home, "status", "--name", cli_name).returncode == 3
    assert all(pid is not None and _gone(pid) for pid in pids)
