"""Where a running service's time goes, from a py-spy raw profile (`py-spy record -f raw`, docs/benchmark.md).

Each group's share is of the samples in which one of its functions is on the stack (so groups that call each other
overlap), and its µs per event that share times the service CPU per event the benchmark printed for the run. py-spy
samples every thread, including one waiting in a system call, so the shares are of thread samples, not of CPU.

    python -m benchmarks.spy_summary billing-spy.txt --cpu-us-per-event 643
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

GROUPS: dict[str, str] = {
    "decode and validate the input (the contract)": r"^decode_event ",
    "processed-event lookup": r"^EventApplier._already_processed ",
    "billing's lock statement and reads": r"^Store.load_catalogue_and_enrolments ",
    "billing's decisions in memory (pricing, outputs, outbox rows)": r"^_bill ",
    "… of which building and validating the output events": r"^new_event ",
    "… of which the outbox rows (serialising, headers)": r"^Store.publish ",
    "logging": r"^Logger\.(info|debug|warning|_log) ",
    "billing's INSERTs (every table and the outbox)": r"^Store.save ",
    "the processed-event INSERT": r"^insert_together .*applying|^EventApplier._apply_decoded .*applying.py:15[0-9]\)",
    "COMMIT": r"^TransactionalContext.__exit__ ",
    "the relay's database work (read, mark, lease)": r"^OutboxRelay\.(_load_unpublished|_record|_hold_lease|refresh_parked_gauge) ",
    "the relay's producer.send calls": r"^send_batch ",
    "aiokafka's sender (produce requests, socket writes)": r"^Sender\._send_produce_req |^Sender\._sender_routine ",
    "aiokafka's fetcher": r"^Fetcher\.",
    "the event loop waiting in epoll": r"^EpollSelector.select ",
}


def summarise(lines: Sequence[str]) -> tuple[int, Counter[str]]:
    """The number of samples, and for each group the samples with one of its functions on the stack."""
    patterns = {name: re.compile(pattern) for name, pattern in GROUPS.items()}
    total, counts = 0, Counter[str]()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples, frames = int(count), stack.split(";")
        total += samples
        for name, pattern in patterns.items():
            if any(pattern.search(frame) for frame in frames):
                counts[name] += samples
    return total, counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spy_summary", description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy's raw output (-f raw)")
    parser.add_argument("--cpu-us-per-event", type=float, required=True, help="the run's service CPU per event")
    args = parser.parse_args(argv)
    total, counts = summarise(args.profile.read_text().splitlines())
    print(f"{total} samples\n\n| group | share | µs per event |\n|---|---|---|")
    for name in GROUPS:
        share = counts[name] / total if total else 0.0
        print(f"| {name} | {100 * share:.1f} % | {share * args.cpu_us_per_event:.0f} |")


if __name__ == "__main__":
    main()
