"""`mc-ops topics check`: every contract topic and DLQ against the platform's settings, on the real broker."""

from __future__ import annotations

from localkafka import ensure_topics

from contracts import topics as contract
from tests.opscli.opscli_support import cli, unique_prefix

WEEK_MS = str(7 * 24 * 60 * 60 * 1000)


async def test_topics_created_by_mc_ops_have_the_platforms_settings(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    code, output = await cli(kafka_bootstrap, prefix, "topics", "create")
    assert code == 0, output
    code, output = await cli(kafka_bootstrap, prefix, "topics", "check")
    assert code == 0, output
    assert output.strip() == f"{2 * len(contract.ALL)} topic(s) have the platform's settings"


async def test_a_topic_with_the_brokers_default_retention_is_reported(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    events = prefix + contract.ENROLMENT_EVENTS
    await ensure_topics(kafka_bootstrap, [events], 3)  # as before this change: the broker's defaults
    code, output = await cli(kafka_bootstrap, prefix, "topics", "create")  # keeps the existing topic as it is
    assert code == 0, output

    code, output = await cli(kafka_bootstrap, prefix, "topics", "check")
    assert code == 1, output
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in output.splitlines()[1:] if line.startswith(prefix)}
    assert rows[(events, "retention.ms")] == ["-1", WEEK_MS]
    assert rows[(events, "max.message.bytes")] == ["1048576", "1048588"]
    assert {topic for topic, _ in rows} == {events}  # the others were created with the platform's settings
    assert "1 topic(s) differ" in output


async def test_a_missing_topic_is_reported(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    code, output = await cli(kafka_bootstrap, prefix, "topics", "check")
    assert code == 1
    missing = [line.split()[0] for line in output.splitlines() if line.endswith("MISSING")]
    assert len(missing) == 2 * len(contract.ALL)


async def test_the_test_fixtures_create_topics_with_the_same_settings(kafka_bootstrap: str, contract_topics) -> None:
    prefix = contract_topics[contract.ENROLMENT_EVENTS].removesuffix(contract.ENROLMENT_EVENTS)
    code, output = await cli(kafka_bootstrap, prefix, "topics", "check")
    assert code == 0, output
