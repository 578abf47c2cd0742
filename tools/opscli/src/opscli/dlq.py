"""Dead-letter topics: list, show one message, replay to the original topic after a fix."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka.structs import ConsumerRecord, TopicPartition

from contracts import EVENT_TYPES, InvalidEvent, decode_event
from contracts import topics as contract
from opscli.kafka import CommandError, Topology, log_bounds, producer, read_range, reader, topology
from opscli.output import decode_text, dump_json, kafka_timestamp, parse_json, table, truncate

DLQ_HEADER_PREFIX = "dlq-"
REPLAY_GROUP_PREFIX = "opscli-replay-"
REASON_WIDTH = 60


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter topic, with the kit's dlq-* headers picked out."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
            key=record.key,
            value=record.value,
            headers=tuple((name, value or b"") for name, value in (record.headers or ())),
        )

    def header(self, name: str) -> str | None:
        # The last one wins: it is the one the kit added most recently.
        found = None
        for key, value in self.headers:
            if key == name:
                found = decode_text(value)
        return found

    @property
    def original_topic(self) -> str:
        # Fall back to the naming rule for a message dead-lettered by something other than the kit.
        return self.header(contract.DLQ_ORIGINAL_TOPIC) or self.topic.removesuffix(contract.DLQ_SUFFIX)

    @property
    def consumer(self) -> str | None:
        return self.header(contract.DLQ_CONSUMER)

    @property
    def reason(self) -> str | None:
        return self.header(contract.DLQ_REASON)

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The message's own headers: the dlq-* ones describe the failure, not the event."""
        return [(name, value) for name, value in self.headers if not name.startswith(DLQ_HEADER_PREFIX)]

    def event(self) -> dict[str, Any] | None:
        parsed = parse_json(self.value)
        return parsed if isinstance(parsed, dict) else None

    def summary(self) -> dict[str, Any]:
        event = self.event() or {}
        return {
            "dlq_topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": kafka_timestamp(self.timestamp),
            "key": decode_text(self.key),
            "original_topic": self.original_topic,
            "original_partition": _int_or_none(self.header(contract.DLQ_ORIGINAL_PARTITION)),
            "original_offset": _int_or_none(self.header(contract.DLQ_ORIGINAL_OFFSET)),
            "consumer": self.consumer,
            "dead_lettered_at": self.header(contract.DLQ_AT),
            "reason": self.reason,
            "event_type": _str_or_none(event.get("type")),
            "event_id": _str_or_none(event.get("id")),
            "event_source": _str_or_none(event.get("source")),
        }


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def dlq_topic_names(prefix: str, logical: Sequence[str] | None) -> list[str]:
    """`--topic enrolment.events` (or `enrolment.events.dlq`) → `<prefix>enrolment.events.dlq`; all by default."""
    names = logical or contract.ALL
    return [prefix + contract.dead_letter_topic(name.removesuffix(contract.DLQ_SUFFIX)) for name in names]


def replay_group(dlq_topic: str, consumer: str | None) -> str:
    """Replay progress is per DLQ topic, and per --consumer filter when one is given: a filtered replay skips the
    other consumers' messages, so it must not mark them as done for an unfiltered one."""
    group = REPLAY_GROUP_PREFIX + dlq_topic
    return group if consumer is None else f"{group}.{consumer}"


async def _select_topics(bootstrap: str, prefix: str, logical: Sequence[str] | None) -> tuple[list[str], Topology]:
    wanted = dlq_topic_names(prefix, logical)
    cluster = await topology(bootstrap)
    missing = [name for name in wanted if name not in cluster]
    if logical and missing:
        raise CommandError(f"no such dead-letter topic: {', '.join(missing)}")
    return [name for name in wanted if name in cluster], cluster


async def read_dead_letters(bootstrap: str, cluster: Topology, dlq_topics: Sequence[str]) -> list[DeadLetter]:
    """Every message now in these topics, read without a consumer group (nothing is committed)."""
    async with reader(bootstrap) as consumer:
        tps = [tp for topic in dlq_topics for tp in cluster[topic]]
        beginnings, ends = await log_bounds(consumer, tps)
        return [DeadLetter.of(record) async for record in read_range(consumer, beginnings, ends)]


def _original_partition(letter: DeadLetter, cluster: Topology) -> int | None:
    """Back to the partition it came from, next to the other events of its key: a producer with another
    partitioner (librdkafka's default) may have put the key elsewhere than ours would. The key decides only
    when the header is missing or the topic has fewer partitions now."""
    partition = _int_or_none(letter.header(contract.DLQ_ORIGINAL_PARTITION))
    if partition is None or partition >= len(cluster.get(letter.original_topic, ())):
        return None
    return partition


def _contract_problem(letter: DeadLetter, prefix: str) -> str | None:
    """What the kit's consumer would reject the message for before any handler runs, or None."""
    if not letter.key:
        return "message has no key; the Kafka key must be the event's subject"
    logical = letter.original_topic.removeprefix(prefix)
    # Like the consumer: a type that belongs to another topic is as wrong as an unknown one.
    known = {name: model for name, model in EVENT_TYPES.items() if model.topic == logical} or None
    try:
        decode_event(letter.value, key=letter.key, known_types=known)
    except InvalidEvent as error:
        return error.reason
    return None


def _matches(letter: DeadLetter, consumer: str | None) -> bool:
    return consumer is None or letter.consumer == consumer


# --- dlq list --------------------------------------------------------------------------------------------


async def list_command(
    bootstrap: str, prefix: str, logical: Sequence[str] | None, consumer: str | None, as_json: bool, out: TextIO
) -> int:
    dlq_topics, cluster = await _select_topics(bootstrap, prefix, logical)
    letters = [
        letter for letter in await read_dead_letters(bootstrap, cluster, dlq_topics) if _matches(letter, consumer)
    ]
    letters.sort(key=lambda letter: (letter.topic, letter.partition, letter.offset))
    if as_json:
        dump_json([letter.summary() for letter in letters], out)
        return 0
    if not letters:
        where = ", ".join(dlq_topics) if dlq_topics else f"(no dead-letter topics under prefix {prefix!r})"
        print(f"no dead-lettered messages in {where}", file=out)
        return 0
    rows = []
    for letter in letters:
        item = letter.summary()
        original = f"{item['original_topic']}[{_dash(item['original_partition'])}]@{_dash(item['original_offset'])}"
        event = f"{item['event_type']} {item['event_id']}" if item["event_type"] else "(not a CloudEvent)"
        rows.append(
            [
                letter.topic,
                letter.partition,
                letter.offset,
                original,
                letter.consumer,
                _seconds(item["dead_lettered_at"]),
                event,
                truncate(letter.reason or "", REASON_WIDTH),
            ]
        )
    table(["DLQ TOPIC", "P", "OFFSET", "ORIGINAL", "CONSUMER", "WHEN", "EVENT", "REASON"], rows, out)
    print(f"\n{len(letters)} message(s); `dlq show TOPIC PARTITION OFFSET` prints one in full", file=out)
    return 0


def _dash(value: object) -> str:
    return "?" if value is None else str(value)


def _seconds(instant: str | None) -> str | None:
    # 2026-09-01T09:30:00.123456+00:00 → 2026-09-01T09:30:00+00:00: the table has no room for microseconds.
    if instant is None or "." not in instant:
        return instant
    head, _, tail = instant.partition(".")
    offset = next((i for i, char in enumerate(tail) if char in "+-Z"), len(tail))
    return head + tail[offset:]


# --- dlq show --------------------------------------------------------------------------------------------


async def show_command(
    bootstrap: str, prefix: str, topic: str, partition: int, offset: int, as_json: bool, out: TextIO
) -> int:
    cluster = await topology(bootstrap)
    if topic not in cluster and prefix + topic in cluster:
        topic = prefix + topic  # accept the logical name too
    if topic not in cluster:
        raise CommandError(f"no such topic: {topic}")
    tp = TopicPartition(topic, partition)
    if tp not in cluster[topic]:
        raise CommandError(f"{topic} has no partition {partition}")
    async with reader(bootstrap) as consumer:
        beginnings, ends = await log_bounds(consumer, [tp])
        if not beginnings[tp] <= offset < ends[tp]:
            raise CommandError(f"{topic}[{partition}] holds offsets {beginnings[tp]}..{ends[tp] - 1}, not {offset}")
        records = [record async for record in read_range(consumer, {tp: offset}, {tp: offset + 1})]
    if not records:
        raise CommandError(f"no message at {topic}[{partition}]@{offset} (compacted away or a transaction marker)")
    letter = DeadLetter.of(records[0])
    event = letter.event()
    if as_json:
        document = letter.summary()
        document["headers"] = [[name, decode_text(value)] for name, value in letter.headers]
        document["value"] = event if event is not None else decode_text(letter.value)
        dump_json(document, out)
        return 0
    item = letter.summary()
    print(f"topic      {letter.topic}", file=out)
    print(f"partition  {letter.partition}", file=out)
    print(f"offset     {letter.offset}", file=out)
    print(f"timestamp  {_dash(item['timestamp'])}", file=out)
    print(f"key        {_dash(item['key'])}", file=out)
    print("headers", file=out)
    for name, value in letter.headers:
        print(f"  {name}: {decode_text(value)}", file=out)
    print("value", file=out)
    if event is not None:
        dump_json(event, out)
    else:
        print(decode_text(letter.value) if letter.value is not None else "(none: tombstone)", file=out)
    if letter.reason is not None:
        print("reason", file=out)
        print(letter.reason, file=out)
    return 0


# --- dlq replay ------------------------------------------------------------------------------------------


async def replay_command(
    bootstrap: str,
    prefix: str,
    logical: Sequence[str] | None,
    consumer_filter: str | None,
    offset_from: int | None,
    only_valid: bool,
    dry_run: bool,
    as_json: bool,
    out: TextIO,
) -> int:
    dlq_topics, cluster = await _select_topics(bootstrap, prefix, logical)
    report: list[dict[str, Any]] = []
    for dlq_topic in dlq_topics:
        report.extend(
            await _replay_topic(
                bootstrap, prefix, dlq_topic, cluster, consumer_filter, offset_from, only_valid, dry_run, as_json, out
            )
        )
    if as_json:
        dump_json(report, out)
    return 0


async def _replay_topic(
    bootstrap: str,
    prefix: str,
    dlq_topic: str,
    cluster: Topology,
    consumer_filter: str | None,
    offset_from: int | None,
    only_valid: bool,
    dry_run: bool,
    as_json: bool,
    out: TextIO,
) -> list[dict[str, Any]]:
    group = replay_group(dlq_topic, consumer_filter)
    verb = "would replay" if dry_run else "replayed"
    async with reader(bootstrap, group_id=group) as consumer:
        tps = cluster[dlq_topic]
        beginnings, ends = await log_bounds(consumer, tps)
        starts: dict[TopicPartition, int] = {}
        for tp in tps:
            if offset_from is not None:
                starts[tp] = max(offset_from, beginnings[tp])
            else:
                committed = await consumer.committed(tp)
                starts[tp] = beginnings[tp] if committed is None else max(committed, beginnings[tp])
        letters = [DeadLetter.of(record) async for record in read_range(consumer, starts, ends)]
        selected = [letter for letter in letters if _matches(letter, consumer_filter)]
        invalid: list[DeadLetter] = []
        if only_valid:
            # A message that breaks the contract would only come straight back to the DLQ.
            invalid = [letter for letter in selected if _contract_problem(letter, prefix) is not None]
            selected = [letter for letter in selected if letter not in invalid]
        # Check every destination before sending anything, so a bad header can't leave a replay half done.
        unknown = sorted({letter.original_topic for letter in selected} - set(cluster))
        if unknown:
            raise CommandError(f"{dlq_topic}: original topic(s) {', '.join(unknown)} do not exist; nothing replayed")
        report = []
        if not dry_run and selected:
            async with producer(bootstrap) as client:
                sends = [
                    await client.send(
                        letter.original_topic,
                        key=letter.key,
                        value=letter.value,
                        headers=letter.replay_headers(),
                        partition=_original_partition(letter, cluster),
                    )
                    for letter in selected
                ]
                # Commit replay progress only once every record is acknowledged (acks=all): a crash before this
                # point replays again next time, which consumers absorb because they are idempotent.
                metadata = await asyncio.gather(*sends)
        else:
            metadata = [None] * len(selected)
        for letter, sent in zip(selected, metadata, strict=True):
            item = letter.summary()
            item["replayed_to"] = (
                None if sent is None else {"topic": sent.topic, "partition": sent.partition, "offset": sent.offset}
            )
            report.append(item)
            if not as_json:
                where = "" if sent is None else f"[{sent.partition}]@{sent.offset}"
                event = f"{item['event_type']} {item['event_id']}" if item["event_type"] else "(not a CloudEvent)"
                print(
                    f"{verb} {letter.topic}[{letter.partition}]@{letter.offset} → {letter.original_topic}{where}"
                    f"  key={_dash(item['key'])}  {event}",
                    file=out,
                )
        if not as_json:
            for letter in invalid:
                print(
                    f"left {letter.topic}[{letter.partition}]@{letter.offset}: still invalid: "
                    f"{truncate(_contract_problem(letter, prefix) or '', REASON_WIDTH * 2)}",
                    file=out,
                )
        advanced = {tp: ends[tp] for tp in tps if starts[tp] < ends[tp]}
        if not dry_run and advanced:
            await consumer.commit(advanced)
    if not as_json:
        skipped = len(letters) - len(selected) - len(invalid)
        note = f", skipped {skipped} of other consumers" if skipped else ""
        note += f", left {len(invalid)} still invalid" if invalid else ""
        progress = "nothing committed (dry run)" if dry_run else f"progress in consumer group {group}"
        if not letters:
            print(f"{dlq_topic}: nothing new to replay; {progress}", file=out)
        else:
            print(f"{dlq_topic}: {verb} {len(selected)}{note}; {progress}", file=out)
    return report
