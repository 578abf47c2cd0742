"""`topics create` / `topics list`, connection errors, and the entry points as a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts import topics as contract
from tests.opscli.opscli_support import cli, unique_prefix


async def test_topics_create_makes_every_contract_topic_and_dlq(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    code, output = await cli(kafka_bootstrap, prefix, "topics", "create", "--partitions", "2")
    assert code == 0, output
    expected = [prefix + name for name in contract.ALL] + [prefix + name + ".dlq" for name in contract.ALL]
    for name in expected:
        assert any(line.split() == [name, *line.split()[1:2], "created"] for line in output.splitlines()), name

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {item["topic"]: item for item in await admin.describe_topics(expected)}
        assert all(len(described[name]["partitions"]) == 2 for name in expected)
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, prefix + contract.CATALOGUE, {"cleanup.policy": None})]
        )
        policy = {entry[0]: entry[1] for r in responses for res in r.resources for entry in res[4]}
        assert policy["cleanup.policy"] == "compact", "the catalogue is compacted, also under a prefix"
    finally:
        await admin.close()

    code, output = await cli(kafka_bootstrap, prefix, "topics", "create")
    assert code == 0
    assert output.count("existed") == len(expected) and "created" not in output

    code, output = await cli(kafka_bootstrap, prefix, "topics", "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in output.splitlines()[1:] if line.strip()}
    assert rows[prefix + contract.CATALOGUE][1:] == ["contract", "2", "compact"]
    assert rows[prefix + contract.CATALOGUE + ".dlq"][1:] == ["dead-letter", "2", "delete"]
    assert "MISSING" not in output


async def test_topics_list_shows_missing_topics(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    code, output = await cli(kafka_bootstrap, prefix, "topics", "list")
    assert code == 0
    assert output.count("MISSING") == 2 * len(contract.ALL)
    assert "`topics create` makes them" in output


async def test_unreachable_broker_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = await cli("127.0.0.1:1", "", "topics", "list")
    assert code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: cannot reach Kafka at 127.0.0.1:1")
    assert "Traceback" not in error


def test_module_help_runs_as_a_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opscli", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in ("dlq", "lag", "publish-sample", "topics", "replay-topic"):
        assert command in result.stdout
    replay = subprocess.run(
        [sys.executable, "-m", "opscli", "dlq", "replay", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert replay.returncode == 0
    assert "opscli-replay-<dlq topic>" in replay.stdout and "harmless" in replay.stdout
