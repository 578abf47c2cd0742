"""`mc-ops` / `python -m opscli`: the operator's view of the platform's Kafka topics and consumer groups."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from opscli import acls, dlq, groups, kafka, parkedcli, samples, topicscmd
from opscli.kafka import CommandError, Refused

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"  # the services' default too (reliability.settings)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

DESCRIPTION = """\
Operator commands for the Kafka side of the micro-credentials platform, and for what a service parked in its
database (`outbox ...`, `parked ...`: --database-url, default $DATABASE_URL).

Every command takes --bootstrap (default $KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092) and --topic-prefix
(default $TOPIC_PREFIX, else empty); give the same prefix as the services. Topic names in options are the
contract's (enrolment.events); the prefix is added for you.

exit status: 0 done, 1 error, 2 bad usage, 3 refused because it would be unsafe now (nothing was changed).
"""

REPLAY_HELP = """\
Republish dead-lettered messages to their original topic (the dlq-original-topic header), with their original
key, value and headers minus the dlq-* ones, after the cause has been fixed.

Progress is committed to the consumer group opscli-replay-<dlq topic> (opscli-replay-<dlq topic>.<consumer>
with --consumer), so running the command again replays only messages dead-lettered since: a replay is not
repeated by accident. Offsets are committed only after the broker acknowledged every republished message.
--offset-from N starts at offset N of every partition instead, ignoring that progress (to replay again on
purpose). Replaying an event that was already applied is harmless: consumers drop duplicates by the CloudEvents
identity (source, id). Every consumer of the original topic receives the replayed message, not only the one
that dead-lettered it; they skip it if they had applied it.
"""

RESET_HELP = """\
Rewind a consumer group to the earliest offsets, so its service re-reads its topics from the beginning on next
start. Refused while the group has active members: stop every replica of the service first. Without --topic it
rewinds every topic the group has committed offsets on.

The services skip events they already applied (processed-events table), so rewinding alone changes nothing
in a service's state; to rebuild, give the service an empty database first. Prints old -> new offsets.
"""


def _add_connection_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # On the subcommands too (`mc-ops dlq list --bootstrap ...`); SUPPRESS keeps a value given before the
    # subcommand from being overwritten by the subcommand's default.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--bootstrap", default=default, help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS)"
    )
    parser.add_argument("--topic-prefix", default=default, help="prefix of every topic name (default $TOPIC_PREFIX)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mc-ops", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_connection_options(parser, suppress=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="log the Kafka clients' warnings")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help_text: str,
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_connection_options(sub, suppress=True)
        return sub

    dlq_parser = commands.add_parser("dlq", help="dead-letter topics: list, show, replay")
    dlq_commands = dlq_parser.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")

    listing = command(dlq_commands, "list", "list dead-lettered messages (reads only; commits nothing)")
    listing.add_argument("--topic", action="append", help="contract topic whose DLQ to read (repeatable; default all)")
    listing.add_argument("--consumer", help="only messages dead-lettered by this consumer (dlq-consumer header)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler="dlq list")

    show = command(dlq_commands, "show", "one message in full: headers, key, value, reason")
    show.add_argument("topic", help="the topic as `dlq list` prints it (the prefix may be left out)")
    show.add_argument("partition", type=int)
    show.add_argument("offset", type=int)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler="dlq show")

    replay = command(dlq_commands, "replay", "republish dead-lettered messages to their original topic", REPLAY_HELP)
    replay.add_argument("--topic", action="append", help="contract topic whose DLQ to replay (repeatable; default all)")
    replay.add_argument("--consumer", help="only messages dead-lettered by this consumer (e.g. billing)")
    replay.add_argument("--offset-from", type=int, metavar="N", help="start at offset N in every partition")
    replay.add_argument(
        "--only-valid",
        action="store_true",
        help="leave messages that still break the contract in the DLQ (they would only come back)",
    )
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed; send and commit nothing")
    replay.add_argument("--json", action="store_true", help="machine-readable output")
    replay.set_defaults(handler="dlq replay")

    lag = command(commands, "lag", "consumer lag per group, topic and partition (committed vs end offset)")
    lag.add_argument("--group", help="only this consumer group (default: all)")
    lag.add_argument("--json", action="store_true", help="machine-readable output")
    lag.set_defaults(handler="lag")

    progress = command(
        commands,
        "rebuild-progress",
        "a progress bar while a service rebuilds its state from the topics",
        "Follow a consumer group until it has caught up with the end of its topics: the progress of a rebuild\n"
        "(stop the service, give it an empty database, `replay-topic --group G --to-earliest`, start it, then this).",
    )
    progress.add_argument("--group", required=True, help="the service's consumer group, e.g. billing")
    progress.add_argument("--interval", type=float, default=1.0, help="seconds between updates (default 1)")
    progress.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    progress.set_defaults(handler="rebuild-progress")

    publish = command(
        commands,
        "publish-sample",
        "publish one valid sample event of a contract type",
        "Publish one sample event built with the contract's models (valid by construction) and print its key and\n"
        "JSON. --set changes a data field (dotted path, list items by index: lines.0.amount=120.00); the result is\n"
        "validated, so a change that breaks the contract is refused. Source: " + samples.SOURCE + ".",
    )
    publish.add_argument("type", nargs="?", metavar="TYPE", help="event type, e.g. EnrolmentCreated")
    publish.add_argument("--list", action="store_true", help="list the types, their topics and keys")
    publish.add_argument("--enrolment-id", help="enrolment id (default: a fresh ENR-SAMPLE-...)")
    publish.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="change a data field")
    publish.add_argument("--dry-run", action="store_true", help="print the event without publishing it")
    publish.set_defaults(handler="publish-sample")

    topics_parser = commands.add_parser("topics", help="contract topics and their DLQs: create, list, check")
    topics_commands = topics_parser.add_subparsers(dest="topics_command", required=True, metavar="COMMAND")
    create = command(topics_commands, "create", "create every contract topic and its DLQ (existing ones are kept)")
    create.add_argument("--partitions", type=int, default=3, help="partitions of new topics (default 3)")
    create.add_argument("--replication-factor", type=int, default=1, help="replicas of new topics (default 1)")
    create.set_defaults(handler="topics create")
    topics_list = command(topics_commands, "list", "the contract topics and DLQs: partitions, cleanup policy")
    topics_list.add_argument("--all", action="store_true", help="also other topics under the prefix")
    topics_list.set_defaults(handler="topics list")
    check = command(
        topics_commands,
        "check",
        "compare every contract topic and DLQ with the platform's settings; exit 1 if any differs",
        "Compare the retention, cleanup policy and max.message.bytes of every contract topic and DLQ with the\n"
        "platform's (reliability.topics.topic_config: event topics retention.ms=-1, the catalogue compacted, DLQs\n"
        "90 days, max.message.bytes 1048576) and print those that differ or are missing; exit status 1 if any.\n"
        "Topics created before these settings keep theirs: change them with kafka-configs --alter.",
    )
    check.set_defaults(handler="topics check")

    acls_parser = commands.add_parser("acls", help="Kafka ACLs from deploy/kafka-acls.yaml")
    acls_commands = acls_parser.add_subparsers(dest="acls_command", required=True, metavar="COMMAND")
    apply = command(
        acls_commands,
        "apply",
        "add the ACLs of an ACL file that the cluster lacks (idempotent; removes nothing)",
        "Add every ACL the file grants that the cluster lacks, print them, and create the contract topics and\n"
        "their DLQs (as `topics create`). Topic and group names take --topic-prefix. Run it as a super user\n"
        "(KAFKA_SASL_USERNAME of a principal allowed to alter ACLs and create topics).",
    )
    apply.add_argument("file", type=Path, help="the ACL file, e.g. deploy/kafka-acls.yaml")
    apply.add_argument("--no-create-topics", action="store_true", help="only the ACLs; leave topics alone")
    apply.add_argument("--partitions", type=int, default=3, help="partitions of topics created (default 3)")
    apply.add_argument("--dry-run", action="store_true", help="print the ACLs that would be created; change nothing")
    apply.add_argument(
        "--set-passwords",
        action="store_true",
        help="first create or replace each principal's SCRAM-SHA-512 credential from $<PRINCIPAL>_KAFKA_PASSWORD "
        "(billing: BILLING_KAFKA_PASSWORD); principals without one are left as they are",
    )
    apply.set_defaults(handler="acls apply")

    reset = command(commands, "replay-topic", "rewind a stopped consumer group to the earliest offsets", RESET_HELP)
    reset.add_argument("--group", required=True, help="the consumer group (a service's group is its name)")
    reset.add_argument("--to-earliest", action="store_true", required=True, help="rewind to the earliest offsets")
    reset.add_argument("--topic", action="append", help="only this contract topic (repeatable)")
    reset.add_argument("--dry-run", action="store_true", help="print old -> new offsets; change nothing")
    reset.set_defaults(handler="replay-topic")
    parkedcli.add_parsers(commands, command)
    return parser


async def run(args: argparse.Namespace, out: TextIO) -> int:
    bootstrap = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP
    prefix = args.topic_prefix if args.topic_prefix is not None else os.environ.get("TOPIC_PREFIX", "")
    handler = args.handler
    if handler.startswith(("outbox ", "parked ")):
        return await parkedcli.run(args, bootstrap, prefix, out)
    if handler == "dlq list":
        return await dlq.list_command(bootstrap, prefix, args.topic, args.consumer, args.json, out)
    if handler == "dlq show":
        return await dlq.show_command(bootstrap, prefix, args.topic, args.partition, args.offset, args.json, out)
    if handler == "dlq replay":
        if args.offset_from is not None and args.offset_from < 0:
            raise CommandError("--offset-from must be 0 or more")
        return await dlq.replay_command(
            bootstrap,
            prefix,
            args.topic,
            args.consumer,
            args.offset_from,
            args.only_valid,
            args.dry_run,
            args.json,
            out,
        )
    if handler == "lag":
        return await groups.lag_command(bootstrap, prefix, args.group, args.json, out)
    if handler == "rebuild-progress":
        return await groups.rebuild_progress_command(bootstrap, prefix, args.group, args.interval, args.timeout, out)
    if handler == "publish-sample":
        if args.list:
            return samples.list_types(out)
        if not args.type:
            raise CommandError("name a TYPE (see `publish-sample --list`)")
        return await samples.publish_command(
            bootstrap, prefix, args.type, args.enrolment_id, args.set, args.dry_run, out
        )
    if handler == "acls apply":
        passwords = os.environ if args.set_passwords else None
        code = await acls.apply_command(bootstrap, prefix, args.file, kafka.security(), args.dry_run, out, passwords)
        if args.no_create_topics or args.dry_run:
            return code
        return await topicscmd.create_command(bootstrap, prefix, args.partitions, 1, out)
    if handler == "topics create":
        if args.partitions < 1 or args.replication_factor < 1:
            raise CommandError("--partitions and --replication-factor must be 1 or more")
        return await topicscmd.create_command(bootstrap, prefix, args.partitions, args.replication_factor, out)
    if handler == "topics check":
        return await topicscmd.check_command(bootstrap, prefix, out)
    if handler == "topics list":
        return await topicscmd.list_command(bootstrap, prefix, args.all, out)
    if handler == "replay-topic":
        return await groups.reset_command(bootstrap, prefix, args.group, args.topic, args.dry_run, out)
    raise AssertionError(f"no handler for {handler}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace | int:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already reported
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE


async def amain(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command on the caller's event loop; returns the exit status."""
    args = _parse(argv)
    if isinstance(args, int):
        return args
    if not args.verbose:
        # The clients log every failed connection attempt; the operator gets one error line instead.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    stream = out or sys.stdout
    try:
        kafka.security()
    except ValidationError as error:  # e.g. SASL without a username: say which variable, before connecting
        problems = "; ".join(str(item["msg"]).removeprefix("Value error, ") for item in error.errors())
        print(f"error: Kafka security settings: {problems}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return await run(args, stream)
    except BrokenPipeError:
        # `mc-ops dlq show ... | head`: the reader left; that is not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush doesn't complain either.
        if stream is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Refused as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KafkaConnectionError as error:
        print(f"error: cannot reach Kafka at {args.bootstrap or '$KAFKA_BOOTSTRAP_SERVERS'}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KafkaError as error:
        print(f"error: Kafka: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `mc-ops` and `python -m opscli`; tests call it in-process with an argv list."""
    return asyncio.run(amain(argv))
