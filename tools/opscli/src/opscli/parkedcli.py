"""The `outbox` and `parked` command groups of `mc-ops`: their options and their dispatch (see opscli.parked)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TextIO

from opscli import parked

Command = Callable[..., argparse.ArgumentParser]

DATABASE_HELP = """\
These commands use the service's database, not Kafka: --database-url URL, else $<SERVICE>_DATABASE_URL for
--service NAME (e.g. BILLING_DATABASE_URL), else $DATABASE_URL (the service's own setting). They never print a
value: ids, topics, keys, sizes and reasons only.
"""


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", help="the service whose database to use (picks $<SERVICE>_DATABASE_URL)")
    parser.add_argument("--database-url", help="SQLAlchemy URL of the service's database (default $DATABASE_URL)")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], command: Command) -> None:
    outbox = commands.add_parser("outbox", help="outbox rows the relay parked: list, release, discard")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    listing = command(
        outbox_commands, "parked", "list parked outbox rows (refused by the broker, or waiting)", DATABASE_HELP
    )
    listing.add_argument("--all", action="store_true", help="also the discarded rows")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    release = command(outbox_commands, "release", "let the relay try a parked row again, with its key's rows behind it")
    release.add_argument("id", type=int)
    discard = command(outbox_commands, "discard", "never send a parked row (kept for audit); its key flows on")
    discard.add_argument("id", type=int)
    discard.add_argument("--reason", required=True, help="why (kept with the row)")
    for sub, name in ((listing, "outbox parked"), (release, "outbox release"), (discard, "outbox discard")):
        _database_options(sub)
        sub.set_defaults(handler=name)

    records = commands.add_parser("parked", help="consumed records the consumer parked: list, resend, discard")
    record_commands = records.add_subparsers(dest="parked_command", required=True, metavar="COMMAND")
    listing = command(
        record_commands, "list", "list parked consumed records (open ones; --all for every one)", DATABASE_HELP
    )
    listing.add_argument("--consumer", help="only this consumer's records (e.g. billing)")
    listing.add_argument("--all", action="store_true", help="also records already resent or discarded")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    resend = command(record_commands, "resend", "send a parked record to its dead-letter topic (bounded) and close it")
    resend.add_argument("id", type=int)
    discard = command(record_commands, "discard", "close a parked record without sending it (kept for audit)")
    discard.add_argument("id", type=int)
    discard.add_argument("--reason", required=True, help="why (kept with the record)")
    for sub, name in ((listing, "parked list"), (resend, "parked resend"), (discard, "parked discard")):
        _database_options(sub)
        sub.set_defaults(handler=name)


async def run(args: argparse.Namespace, bootstrap: str, prefix: str, out: TextIO) -> int:
    engine = parked.engine_for(args.database_url, args.service)
    try:
        handler = args.handler
        if handler == "outbox parked":
            return parked.outbox_parked_command(engine, args.all, args.json, out)
        if handler == "outbox release":
            return parked.outbox_release_command(engine, args.id, out)
        if handler == "outbox discard":
            return parked.outbox_discard_command(engine, args.id, args.reason, out)
        if handler == "parked list":
            return parked.parked_list_command(engine, args.consumer, args.all, args.json, out)
        if handler == "parked resend":
            return await parked.parked_resend_command(engine, bootstrap, prefix, args.id, out)
        if handler == "parked discard":
            return parked.parked_discard_command(engine, args.id, args.reason, out)
        raise AssertionError(f"no handler for {handler}")
    finally:
        engine.dispose()
