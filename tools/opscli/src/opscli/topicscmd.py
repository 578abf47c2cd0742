"""The contract's topics and their dead-letter topics: create them, list what is there, check their settings."""

from __future__ import annotations

from typing import TextIO

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code
from reliability.topics import ensure_topics, topic_config

from contracts import topics as contract
from opscli.kafka import CommandError, admin_client, security, topology, wait_for_topics
from opscli.output import table


def contract_topic_names(prefix: str) -> dict[str, str]:
    """{actual name: kind} of every contract topic and its dead-letter topic under the prefix."""
    names = {prefix + name: "contract" for name in contract.ALL}
    names.update({prefix + contract.dead_letter_topic(name): "dead-letter" for name in contract.ALL})
    return names


async def create_command(bootstrap: str, prefix: str, partitions: int, replication_factor: int, out: TextIO) -> int:
    """Create the missing contract topics and DLQs with the platform's settings (`reliability.topics.topic_config`,
    the one definition the services use too); existing topics are left as they are (`topics check` says if they
    differ)."""
    wanted = contract_topic_names(prefix)
    async with admin_client(bootstrap) as admin:
        before = set(await admin.list_topics())
    await ensure_topics(
        bootstrap,
        list(wanted),
        partitions,
        replication_factor=replication_factor,
        attempts=3,
        topic_prefix=prefix,
        security=security(),
    )
    # Return only once the next command (dlq list, a service start) will see them.
    await wait_for_topics(bootstrap, wanted)
    table(
        ["TOPIC", "KIND", "STATUS"],
        [[name, kind, "existed" if name in before else "created"] for name, kind in wanted.items()],
        out,
    )
    return 0


async def check_command(bootstrap: str, prefix: str, out: TextIO) -> int:
    """Every contract topic and DLQ against `topic_config`: 0 when all match, 1 (and a table) when any differs."""
    wanted = contract_topic_names(prefix)
    existing = await topology(bootstrap)
    present = [name for name in wanted if name in existing]
    actual = await _configs(bootstrap, {name: list(topic_config(name, prefix)) for name in present})
    rows: list[list[object]] = [[name, "(topic)", "present", "MISSING"] for name in wanted if name not in existing]
    for name in present:
        for setting, value in topic_config(name, prefix).items():
            found = actual.get(name, {}).get(setting)
            if found != value:
                rows.append([name, setting, value, found])
    if rows:
        table(["TOPIC", "SETTING", "WANTED", "ACTUAL"], rows, out)
        topics = len({row[0] for row in rows})
        print(f"\n{topics} topic(s) differ from the platform's settings (reliability.topics.topic_config)", file=out)
        return 1
    print(f"{len(wanted)} topic(s) have the platform's settings", file=out)
    return 0


async def _configs(bootstrap: str, wanted: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    if not wanted:
        return {}
    async with admin_client(bootstrap) as admin:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, dict.fromkeys(keys)) for name, keys in wanted.items()]
        )
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            error_code, name, entries = resource[0], resource[3], resource[4]
            if error_code:
                raise CommandError(f"describing {name}: {for_code(error_code).__name__}")
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


async def list_command(bootstrap: str, prefix: str, show_all: bool, out: TextIO) -> int:
    wanted = contract_topic_names(prefix)
    existing = await topology(bootstrap)
    names = sorted(set(wanted) | {t for t in existing if show_all and t.startswith(prefix)})
    counts = {name: len(existing[name]) for name in names if name in existing}
    policies = await _cleanup_policies(bootstrap, [name for name in names if name in existing])
    rows = [
        [name, wanted.get(name, ""), counts.get(name), policies.get(name), "" if name in existing else "MISSING"]
        for name in names
    ]
    table(["TOPIC", "KIND", "PARTITIONS", "CLEANUP", "STATUS"], rows, out)
    missing = [name for name in wanted if name not in existing]
    if missing:
        print(f"\n{len(missing)} contract topic(s) missing: `topics create` makes them", file=out)
    return 0


async def _cleanup_policies(bootstrap: str, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    async with admin_client(bootstrap) as admin:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {"cleanup.policy": None}) for name in names]
        )
    policies: dict[str, str] = {}
    for response in responses:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            for entry in entries:
                if entry[0] == "cleanup.policy":
                    policies[name] = entry[1]
    return policies
