"""Topic administration with aiokafka: idempotent creation and broker readiness probes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

log = logging.getLogger(__name__)

T = TypeVar("T")

_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap: str, *, request_timeout_ms: int = 10_000, client_config: Mapping[str, Any] | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    """`client_config`: aiokafka security arguments (`LocalKafka.client_config`) for a secured broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="localkafka-admin",
        request_timeout_ms=request_timeout_ms,
        **dict(client_config or {}),
    )
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()


async def broker_ids(
    bootstrap: str, *, request_timeout_ms: int = 3_000, client_config: Mapping[str, Any] | None = None
) -> list[int]:
    """Ids of the brokers the cluster reports; an unfenced (usable) broker shows up here."""
    async with admin_client(bootstrap, request_timeout_ms=request_timeout_ms, client_config=client_config) as admin:
        cluster = await admin.describe_cluster()
    return [int(b["node_id"]) for b in cluster.get("brokers", [])]


async def ensure_topics(
    bootstrap: str,
    topics: list[str],
    partitions: int = 3,
    *,
    replication_factor: int | None = None,
    topic_configs: Mapping[str, Mapping[str, str]] | None = None,
    # Services call this at start-up; a built-in bound keeps a missing broker from hanging them forever.
    timeout: float = 30.0,  # noqa: ASYNC109
    client_config: Mapping[str, Any] | None = None,
) -> None:
    """Create the missing topics and wait until every partition of every topic has a leader.

    Existing topics are left as they are (their partition count is not changed). `replication_factor`
    defaults to min(3, number of brokers), so the same call suits a single dev broker and a real cluster.
    `topic_configs` maps a topic name to its topic-level configs (e.g. {"cleanup.policy": "compact"}).
    """
    wanted = list(dict.fromkeys(topics))
    if not wanted:
        return
    async with asyncio.timeout(timeout):
        async with admin_client(bootstrap, client_config=client_config) as admin:
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                if replication_factor is None:
                    cluster = await admin.describe_cluster()
                    replication_factor = max(1, min(3, len(cluster.get("brokers", []))))
                configs = topic_configs or {}
                new_topics = [
                    NewTopic(t, partitions, replication_factor, topic_configs=dict(configs.get(t, {}))) for t in missing
                ]
                response = await admin.create_topics(new_topics)
                for topic_error in response.topic_errors:
                    topic, code = topic_error[0], topic_error[1]
                    message = topic_error[2] if len(topic_error) > 2 else None
                    # Another process may have created it between list_topics and create_topics.
                    if code not in (0, _TOPIC_ALREADY_EXISTS):
                        raise for_code(code)(f"creating topic {topic!r}: {message}")
                log.info("created topics %s on %s", missing, bootstrap)
            await _wait_for_leaders(admin, wanted)


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    # create_topics returns before the partitions have leaders; producing right away would then stall
    # on metadata retries. Poll until the metadata says every partition is led.
    while True:
        described = await admin.describe_topics(topics)
        ready = {
            t["topic"]
            for t in described
            if t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
        }
        if ready >= set(topics):
            return
        await asyncio.sleep(0.1)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, on its own thread and event loop.

    Never on the caller's thread: asyncio.run() there would fail under a running loop, and otherwise
    resets the thread's current event loop on exit, which can break a test runner's session loop.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="localkafka-sync", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
