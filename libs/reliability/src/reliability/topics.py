"""Explicit topic creation: services never rely on broker auto-creation, so partition counts are ours."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

from contracts import topics as contract_topics
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3


def topic_config(topic: str, topic_prefix: str = "") -> dict[str, str]:
    if topic.removeprefix(topic_prefix) in contract_topics.COMPACTED:
        return {"cleanup.policy": "compact"}
    return {}


async def ensure_topics(
    bootstrap_servers: str,
    topics: list[str] | tuple[str, ...],
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    attempts: int = 30,
    topic_prefix: str = "",
    security: KafkaSecuritySettings | None = None,
) -> None:
    """Create the topics that do not exist yet; waits (bounded) for a broker that is still starting."""
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_kwargs(security))
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
            if missing:
                new_topics = [
                    NewTopic(t, partitions, replication_factor, topic_configs=topic_config(t, topic_prefix))
                    for t in missing
                ]
                response = await admin.create_topics(new_topics)
                _raise_topic_errors(response.to_object())
                log.info("created topics", extra={"topics": missing, "partitions": partitions})
            return
        except KafkaConnectionError:
            if attempt == attempts:
                raise
            await asyncio.sleep(min(0.2 * attempt, 2.0))
        finally:
            await admin.close()


def _raise_topic_errors(response: dict[str, object]) -> None:
    for item in response.get("topic_errors", []):  # type: ignore[attr-defined]
        code = item["error_code"]
        # Another replica may create the topic between our listing and our request: that is success.
        if code and code != TopicAlreadyExistsError.errno:
            raise for_code(code)(f"creating topic {item['topic']!r}: {item.get('error_message')}")
