"""`lag` and `replay-topic` against consumer groups on the real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from tests.opscli.opscli_support import cli, cli_json, create_topics, unique_prefix


async def _fill(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, count in counts.items():
            for index in range(count):
                await producer.send_and_wait(topic, key=f"k{index}".encode(), value=b"{}", partition=partition)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


async def test_lag_reports_committed_end_and_lag_per_partition(kafka_bootstrap: str) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    topic = prefix + "enrolment.events"
    group = prefix + "billing"
    await _fill(kafka_bootstrap, topic, {0: 5, 1: 3, 2: 4})
    await _commit(kafka_bootstrap, group, {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 3})

    rows = await cli_json(kafka_bootstrap, prefix, "lag", "--group", group)
    by_partition = {row["partition"]: row for row in rows}
    assert set(by_partition) == {0, 1, 2}
    assert {row["topic"] for row in rows} == {topic}
    assert (by_partition[0]["committed"], by_partition[0]["end"], by_partition[0]["lag"]) == (2, 5, 3)
    assert (by_partition[1]["committed"], by_partition[1]["end"], by_partition[1]["lag"]) == (3, 3, 0)
    # Never committed: the services start a new group at the earliest offset, so all 4 are still to do.
    assert (by_partition[2]["committed"], by_partition[2]["end"], by_partition[2]["lag"]) == (None, 4, 4)
    assert all(row["state"] == "Empty" and row["members"] == 0 for row in rows)

    code, output = await cli(kafka_bootstrap, prefix, "lag", "--group", group)
    assert code == 0
    assert output.splitlines()[0].split() == ["GROUP", "STATE", "MEMBERS", "TOPIC", "P", "COMMITTED", "END", "LAG"]
    assert f"{group}: total lag 7" in output

    # Without --group every group is listed; the prefix keeps other tenants' topics out.
    all_rows = await cli_json(kafka_bootstrap, prefix, "lag")
    assert {row["group"] for row in all_rows} >= {group}
    assert all(row["topic"].startswith(prefix) for row in all_rows)

    code, output = await cli(kafka_bootstrap, prefix, "lag", "--group", prefix + "nobody")
    assert code == 0
    assert "has no committed offsets" in output


async def test_replay_topic_refuses_while_a_member_is_active_and_resets_when_none(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    topic = prefix + "assessment.events"
    group = prefix + "certification"
    await _fill(kafka_bootstrap, topic, {0: 4, 1: 2})
    committed = {TopicPartition(topic, 0): 4, TopicPartition(topic, 1): 1}
    await _commit(kafka_bootstrap, group, committed)

    member = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False, session_timeout_ms=10000
    )
    await member.start()
    try:
        async with asyncio.timeout(60):
            while not member.assignment():
                await member.getmany(timeout_ms=200)
        code, _ = await cli(kafka_bootstrap, prefix, "replay-topic", "--group", group, "--to-earliest")
        assert code == 3
        message = capsys.readouterr().err
        assert "active member" in message and "stop every replica" in message
        assert await _committed(kafka_bootstrap, group) == committed, "nothing changed"
    finally:
        await member.stop()  # leaves the group

    code, output = await cli(kafka_bootstrap, prefix, "replay-topic", "--group", group, "--to-earliest", "--dry-run")
    assert code == 0, capsys.readouterr().err
    assert "dry run" in output
    assert await _committed(kafka_bootstrap, group) == committed

    code, output = await cli(kafka_bootstrap, prefix, "replay-topic", "--group", group, "--to-earliest")
    assert code == 0, capsys.readouterr().err
    lines = [line.split() for line in output.splitlines()]
    assert [topic, "0", "4", "→", "0"] in lines
    assert [topic, "1", "1", "→", "0"] in lines
    assert [topic, "2", "-", "→", "0"] in lines
    after = await _committed(kafka_bootstrap, group)
    assert {tp: after[tp] for tp in committed} == {tp: 0 for tp in committed}
    rows = await cli_json(kafka_bootstrap, prefix, "lag", "--group", group)
    assert sum(row["lag"] for row in rows) == 6, "everything is to be read again"


async def test_replay_topic_needs_offsets_or_topics(kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    group = prefix + "fresh"
    code, _ = await cli(kafka_bootstrap, prefix, "replay-topic", "--group", group, "--to-earliest")
    assert code == 1
    assert "no committed offsets" in capsys.readouterr().err

    code, output = await cli(
        kafka_bootstrap, prefix, "replay-topic", "--group", group, "--to-earliest", "--topic", "billing.events"
    )
    assert code == 0, capsys.readouterr().err
    assert output.count("→") == 3

    code, _ = await cli(kafka_bootstrap, prefix, "replay-topic", "--group", group)
    assert code == 2, "--to-earliest is required: the intent must be explicit"


async def test_rebuild_progress_follows_a_group_until_it_has_caught_up(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = unique_prefix()
    await create_topics(kafka_bootstrap, prefix)
    topic = prefix + "enrolment.events"
    group = prefix + "billing"
    await _fill(kafka_bootstrap, topic, {0: 4, 1: 4, 2: 2})
    await _commit(kafka_bootstrap, group, {TopicPartition(topic, p): 0 for p in range(3)})

    async def service_catching_up() -> None:
        # What a rebuilding service does: commit its way to the end, here in two steps.
        await asyncio.sleep(1.5)
        await _commit(kafka_bootstrap, group, {TopicPartition(topic, 0): 4, TopicPartition(topic, 1): 2})
        await asyncio.sleep(1.5)
        await _commit(kafka_bootstrap, group, {TopicPartition(topic, 1): 4, TopicPartition(topic, 2): 2})

    catching_up = asyncio.create_task(service_catching_up())
    code, output = await cli(kafka_bootstrap, prefix, "rebuild-progress", "--group", group, "--interval", "0.5")
    await catching_up
    assert code == 0
    assert "0/10 events (0%)" in output
    assert "6/10 events (60%)" in output
    assert "10/10 events (100%), lag 0" in output and output.rstrip().endswith("caught up")

    code, _ = await cli(kafka_bootstrap, prefix, "rebuild-progress", "--group", prefix + "nobody")
    assert code == 1
    assert "run `replay-topic` first" in capsys.readouterr().err
