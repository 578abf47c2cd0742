"""Starting the consumer's subscribers while Kafka cannot be reached: wait and start again.

A running consumer rides out a broker that goes away; one that is still starting its subscribers (one aiokafka
consumer per topic, each bootstrapping on its own) used to raise out of ``broker.start()`` and stop the service.
A broker restart during a service's start is an outage like any other, so it is waited for the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from reliability.error_classes import is_transient, safe_reason

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0


async def start_when_reachable(
    start: Callable[[], Awaitable[None]],
    reset: Callable[[], Awaitable[None]],
    stopping: asyncio.Event,
) -> bool:
    """`start()` until it succeeds (True) or `stopping` is set (False); `reset()` undoes a failed attempt.

    Only infrastructure errors are retried; anything else (a bug, a refused configuration) is raised."""
    delay = FIRST_DELAY_S
    while not stopping.is_set():
        try:
            await start()
            return True
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning(
                "Kafka cannot be reached while the consumer starts; starting again",
                extra={"error": safe_reason(error), "retry_in_s": delay},
            )
            await reset()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, MAX_DELAY_S)
    return False
