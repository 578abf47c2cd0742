"""The relay's wake-up: a commit's notify() during a round starts the next round at once; a round short of a
batch waits for one (or the poll), a full batch is followed by the next round.

Before, the relay cleared its wake-up event after an empty round: a notify that landed while that round ran
(its rows committed just after the round's query) was wiped, and the rows waited for the next poll. At 200
events/s that put a poll interval into billing's latency (docs/benchmark.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from reliability.outbox import OutboxRelay, RelaySettings

from tests.kit.kit_support import make_engine

POLL_SECONDS = 30.0  # far longer than the test waits: only a kept wake-up can start the second round in time


def idle_relay(engine: Any) -> OutboxRelay:
    """A relay whose rounds the test replaces; only its wake-up and its lease (on `engine`) are real."""
    return OutboxRelay(engine, producer=None, service="svc", settings=RelaySettings(idle_poll_seconds=POLL_SECONDS))  # type: ignore[arg-type]


async def test_a_notify_during_an_empty_round_starts_the_next_round_at_once(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    relay = idle_relay(engine)
    rounds = 0

    async def publish_pending() -> int:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            relay.notify()  # the consumer commits (and notifies) after this round's query found nothing
        else:
            relay.stop()
        return 0

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(relay.run(), timeout=5)
    finally:
        engine.dispose()
    assert rounds == 2


async def test_with_nothing_committed_the_relay_waits_for_its_poll(tmp_path: Any) -> None:
    # The other side: no notify, so the second round only comes with the poll (here a short one).
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    relay = idle_relay(engine)
    rounds = 0

    async def publish_pending() -> int:
        nonlocal rounds
        rounds += 1
        return 0

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)
        assert rounds == 1
        relay.notify()
        await asyncio.sleep(0.5)
        assert rounds == 2
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=5)
        engine.dispose()


async def test_a_round_short_of_a_batch_waits_for_a_wake_up_or_the_poll(tmp_path: Any) -> None:
    # Nothing is left behind a round that published less than a batch: a second round at once would find
    # nothing (it did, every other round, at 200 events/s).
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    relay = idle_relay(engine)
    rounds = 0

    async def publish_pending() -> int:
        nonlocal rounds
        rounds += 1
        return 3 if rounds == 1 else 0

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)
        assert rounds == 1
        relay.notify()
        await asyncio.sleep(0.5)
        assert rounds == 2
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=5)
        engine.dispose()


async def test_a_full_batch_is_followed_by_the_next_round_at_once(tmp_path: Any) -> None:
    # A backlog drains batch after batch without waiting for a notify or the poll.
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    settings = RelaySettings(idle_poll_seconds=POLL_SECONDS, batch_size=2)
    relay = OutboxRelay(engine, producer=None, service="svc", settings=settings)  # type: ignore[arg-type]
    published = [2, 2, 1]
    rounds = 0

    async def publish_pending() -> int:
        nonlocal rounds
        rounds += 1
        return published[rounds - 1] if rounds <= len(published) else 0

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)
        assert rounds == 3
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=5)
        engine.dispose()


async def test_a_notify_during_a_round_that_published_starts_the_next_round_at_once(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    relay = idle_relay(engine)
    rounds = 0

    async def publish_pending() -> int:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            relay.notify()  # the consumer's next commit lands while this round sends
            return 3
        relay.stop()
        return 0

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(relay.run(), timeout=5)
    finally:
        engine.dispose()
    assert rounds == 2
