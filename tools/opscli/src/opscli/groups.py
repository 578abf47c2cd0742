"""Consumer groups: lag per partition, and rewinding a stopped group so its service rebuilds from the topic."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, for_code
from aiokafka.structs import TopicPartition

from opscli.kafka import CommandError, Refused, admin_client, log_bounds, reader, topology
from opscli.output import dump_json, table


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    client_host: str


@dataclass(frozen=True)
class GroupInfo:
    group: str
    state: str
    """Stable, Empty, PreparingRebalance, ...; "Dead" for a group the coordinator does not know."""
    members: tuple[Member, ...]


async def describe_group(admin: AIOKafkaAdminClient, group: str) -> GroupInfo:
    for response in await admin.describe_consumer_groups([group]):
        for item in response.to_object()["groups"]:
            if item["group"] != group:
                continue
            if item["error_code"]:
                error = for_code(item["error_code"])
                raise CommandError(f"describing group {group!r}: {error.__name__}")
            members = tuple(
                Member(member["member_id"], member["client_id"], member["client_host"]) for member in item["members"]
            )
            return GroupInfo(group, item["state"], members)
    raise CommandError(f"the coordinator did not describe group {group!r}")


async def _committed(admin: AIOKafkaAdminClient, group: str, prefix: str) -> dict[TopicPartition, int]:
    offsets = await admin.list_consumer_group_offsets(group)
    # Under a prefix, only that tenant's topics: groups are not prefixed, but their topics are.
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0 and tp.topic.startswith(prefix)}


# --- lag -------------------------------------------------------------------------------------------------


async def lag_rows(bootstrap: str, prefix: str, groups: list[str]) -> tuple[list[dict[str, Any]], dict[str, GroupInfo]]:
    """One row per group, topic and partition the group has committed on: committed, end and lag."""
    async with admin_client(bootstrap) as admin:
        infos = {group: await describe_group(admin, group) for group in groups}
        committed = {group: await _committed(admin, group, prefix) for group in groups}
    rows: list[dict[str, Any]] = []
    cluster = await topology(bootstrap)
    partitions: dict[str, list[TopicPartition]] = {}
    for group in groups:
        topics = sorted({tp.topic for tp in committed[group]} & set(cluster))
        partitions[group] = [tp for topic in topics for tp in cluster[topic]]
    async with reader(bootstrap) as consumer:
        beginnings, ends = await log_bounds(consumer, {tp for tps in partitions.values() for tp in tps})
    for group in groups:
        for tp in partitions[group]:
            offset = committed[group].get(tp)
            # No commit yet on this partition: the services start a new group at the earliest offset,
            # so everything still in the log is lag.
            position = beginnings[tp] if offset is None else offset
            rows.append(
                {
                    "group": group,
                    "state": infos[group].state,
                    "members": len(infos[group].members),
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed": offset,
                    "end": ends[tp],
                    "lag": max(ends[tp] - position, 0),
                }
            )
    return rows, infos


async def lag_command(bootstrap: str, prefix: str, group_filter: str | None, as_json: bool, out: TextIO) -> int:
    if group_filter:
        groups = [group_filter]
    else:
        async with admin_client(bootstrap) as admin:
            groups = sorted({str(listed[0]) for listed in await admin.list_consumer_groups()})
    rows, infos = await lag_rows(bootstrap, prefix, groups)
    if as_json:
        dump_json(rows, out)
        return 0
    if not rows:
        if group_filter:
            print(f"group {group_filter} ({infos[group_filter].state}) has no committed offsets", file=out)
        else:
            print("no consumer groups with committed offsets", file=out)
        return 0
    table(
        ["GROUP", "STATE", "MEMBERS", "TOPIC", "P", "COMMITTED", "END", "LAG"],
        [
            [r["group"], r["state"], r["members"], r["topic"], r["partition"], r["committed"], r["end"], r["lag"]]
            for r in rows
        ],
        out,
    )
    print("", file=out)
    for group in groups:
        total = sum(r["lag"] for r in rows if r["group"] == group)
        if any(r["group"] == group for r in rows):
            print(f"{group}: total lag {total}", file=out)
    return 0


# --- replay-topic ----------------------------------------------------------------------------------------


async def reset_command(
    bootstrap: str, prefix: str, group: str, logical: Sequence[str] | None, dry_run: bool, out: TextIO
) -> int:
    async with admin_client(bootstrap) as admin:
        info = await describe_group(admin, group)
        if info.members:
            clients = ", ".join(sorted({f"{m.client_id}@{m.client_host}" for m in info.members}))
            raise Refused(
                f"group {group} has {len(info.members)} active member(s) ({clients}), state {info.state}: "
                "stop every replica of the service first; nothing was changed"
            )
        committed = await _committed(admin, group, prefix)
    cluster = await topology(bootstrap)
    if logical:
        topics = [prefix + name for name in logical]
        missing = [topic for topic in topics if topic not in cluster]
        if missing:
            raise CommandError(f"no such topic: {', '.join(missing)}")
    else:
        topics = sorted({tp.topic for tp in committed} & set(cluster))
    if not topics:
        raise CommandError(
            f"group {group} has no committed offsets{f' on topics under {prefix!r}' if prefix else ''}; "
            "a group without offsets starts from the earliest offset anyway (name topics with --topic)"
        )
    tps = [tp for topic in topics for tp in cluster[topic]]
    async with reader(bootstrap, group_id=group) as consumer:
        beginnings, _ = await log_bounds(consumer, tps)
        if not dry_run:
            consumer.assign(tps)  # aiokafka commits only assigned partitions; assigning fetches nothing by itself
            try:
                await consumer.commit({tp: beginnings[tp] for tp in tps})
            except CommitFailedError as error:
                # The broker refuses a commit from outside the group while it has members: someone started a
                # replica between our check and the commit.
                raise Refused(
                    f"group {group} refused the reset ({type(error).__name__}); is a replica running?"
                ) from error
    table(
        ["TOPIC", "P", "OLD", "", "NEW"],
        [[tp.topic, tp.partition, committed.get(tp), "→", beginnings[tp]] for tp in tps],
        out,
    )
    if dry_run:
        print(f"\ndry run: group {group} not changed", file=out)
    else:
        print(
            f"\ngroup {group} reset to the earliest offsets of {len(topics)} topic(s); "
            "its service re-reads them on next start",
            file=out,
        )
    return 0


# --- rebuild progress ----------------------------------------------------------------------------------------


async def rebuild_progress_command(
    bootstrap: str, prefix: str, group: str, interval: float, give_up_after: float, out: TextIO
) -> int:
    """A progress bar while `group` catches up (after `replay-topic` and a start on an empty database)."""
    rows, _ = await lag_rows(bootstrap, prefix, [group])
    if not rows:
        raise CommandError(f"group {group!r} has no committed offsets to follow; run `replay-topic` first")
    start = sum(row["lag"] for row in rows)
    deadline = asyncio.get_running_loop().time() + give_up_after
    lag = start
    while True:
        done = start - lag
        share = 1.0 if start == 0 else done / start
        bar = "#" * round(30 * share)
        print(f"\r{group}: [{bar:<30}] {done}/{start} events ({share:.0%}), lag {lag}  ", end="", file=out, flush=True)
        if lag == 0:
            print("\ncaught up", file=out)
            return 0
        if asyncio.get_running_loop().time() > deadline:
            print(f"\nstill {lag} behind after {give_up_after:.0f}s", file=out)
            return 1
        await asyncio.sleep(interval)
        rows, _ = await lag_rows(bootstrap, prefix, [group])
        # Events published meanwhile raise the end offsets; count them in so the bar never runs backwards.
        lag = sum(row["lag"] for row in rows)
        start = max(start, done + lag)
