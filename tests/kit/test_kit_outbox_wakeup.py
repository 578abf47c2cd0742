"""The relay's wake-up: a commit's notify() during a round starts the next round at once; a round short of a
batch waits for one (or the poll), a full batch is followed by the next round.

Before, the relay cleared its wake-up event after an empty round: a notify that landed while that round ran
(its rows committed just after the round's query) was wiped, and the rows waited for the next poll. At 200
events/s that put a poll interval into billing's latency (docs/benchmark.md). And after any round that published
something it read the outbox again at once, which at 200 events/s found nothing every other round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from reliability.outbox import OutboxRelay, RelaySettings

from tests.kit.kit_support import make_engine

POLL_SECONDS = 30.0  # far longer than the test waits: only a kept wake-up can start the second round in time


class Rounds:
    """A relay whose rounds `result(relay, round_number)` replaces (what a round published); only its wake-up
    and its lease (on a SQLite file) are real."""

    def __init__(self, tmp_path: Path, result: Callable[[OutboxRelay, int], int], batch_size: int = 500) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
        settings = RelaySettings(idle_poll_seconds=POLL_SECONDS, batch_size=batch_size)
        self.relay = OutboxRelay(self.engine, producer=None, service="svc", settings=settings)
        self.count = 0

        async def publish_pending() -> int:
            self.count += 1
            return result(self.relay, self.count)

        self.relay.publish_pending = publish_pending  # type: ignore[method-assign]

    async def run_until_stopped(self) -> None:
        try:
            await asyncio.wait_for(self.relay.run(), timeout=5)
        finally:
            self.engine.dispose()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.relay.run())
        try:
            yield
        finally:
            self.relay.stop()
            await asyncio.wait_for(task, timeout=5)
            self.engine.dispose()


def notify_then_stop(published: int) -> Callable[[OutboxRelay, int], int]:
    """Round 1 publishes `published` and the consumer commits (and notifies) meanwhile; round 2 stops the relay."""

    def result(relay: OutboxRelay, number: int) -> int:
        if number == 1:
            relay.notify()
            return published
        relay.stop()
        return 0

    return result


async def test_a_notify_during_an_empty_round_starts_the_next_round_at_once(tmp_path: Path) -> None:
    rounds = Rounds(tmp_path, notify_then_stop(published=0))
    await rounds.run_until_stopped()
    assert rounds.count == 2


async def test_a_notify_during_a_round_that_published_starts_the_next_round_at_once(tmp_path: Path) -> None:
    rounds = Rounds(tmp_path, notify_then_stop(published=3))
    await rounds.run_until_stopped()
    assert rounds.count == 2


@pytest.mark.parametrize(
    "first_round",
    [0, 3],
    ids=["nothing committed: the next round comes with the poll", "a round short of a batch left nothing behind"],
)
async def test_without_a_wake_up_the_relay_waits_for_its_poll(tmp_path: Path, first_round: int) -> None:
    # No notify, so the second round only comes with the poll (or, here, a notify); after a short round a second
    # round at once would only find nothing.
    rounds = Rounds(tmp_path, lambda relay, number: first_round if number == 1 else 0)
    async with rounds.running():
        await asyncio.sleep(1.0)
        assert rounds.count == 1
        rounds.relay.notify()
        await asyncio.sleep(0.5)
        assert rounds.count == 2


async def test_a_full_batch_is_followed_by_the_next_round_at_once(tmp_path: Path) -> None:
    # A backlog drains batch after batch (2, 2, then 1 of a batch of 2) without waiting for a notify or the poll.
    published = [2, 2, 1]
    rounds = Rounds(tmp_path, lambda relay, number: published[number - 1] if number <= 3 else 0, batch_size=2)
    async with rounds.running():
        await asyncio.sleep(1.0)
        assert rounds.count == 3
