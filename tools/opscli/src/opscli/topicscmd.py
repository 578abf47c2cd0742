"""The contract's topics and their dead-letter topics: create them, list what is there."""

from __future__ import annotations

from typing import TextIO

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code
from reliability.topics import ensure_topics

from contracts import topics as contract
from opscli.kafka import CommandError, admin_client, security, topology, wait_for_topics
from opscli.output import table


def contract_topic_names(prefix: str) -> dict[str, str]:
    """{actual name: kind} of every contract topic and its dead-letter topic under the prefix."""
    names = {prefix + name: "contract" for name in contract.ALL}
    names.update({prefix + contract.dead_letter_topic(name): "dead-letter" for name in contract.ALL})
    return names


async def create_command(bootstrap: str, prefix: str, partitions: int, replication_factor: int, out: TextIO) -> int:
    wanted = contract_topic_names(prefix)
    async with admin_client(bootstrap) as admin:
        before = set(await admin.list_topics())
        # reliability.topics compacts by the unprefixed name only, so a prefixed catalogue topic is created here
        # first, compacted like the contract says; ensure_topics then finds it and leaves it alone.
        compacted = [prefix + name for name in contract.COMPACTED if prefix and prefix + name not in before]
        if compacted:
            response = await admin.create_topics(
                [
                    NewTopic(name, partitions, replication_factor, topic_configs={"cleanup.policy": "compact"})
                    for name in compacted
                ]
            )
            for item in response.to_object()["topic_errors"]:
                if item["error_code"] and item["error_code"] != TopicAlreadyExistsError.errno:
                    error = for_code(item["error_code"])
                    raise CommandError(f"creating {item['topic']}: {error.__name__} {item.get('error_message') or ''}")
    await ensure_topics(
        bootstrap, list(wanted), partitions, replication_factor=replication_factor, attempts=3, security=security()
    )
    # Return only once the next command (dlq list, a service start) will see them.
    await wait_for_topics(bootstrap, wanted)
    table(
        ["TOPIC", "KIND", "STATUS"],
        [[name, kind, "existed" if name in before else "created"] for name, kind in wanted.items()],
        out,
    )
    return 0


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
