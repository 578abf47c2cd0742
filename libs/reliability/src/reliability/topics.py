"""Explicit topic creation: services never rely on broker auto-creation, so partition counts are ours."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code
from contracts.limits import BROKER_MAX_MESSAGE_BYTES

from contracts import topics as contract_topics
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3

FOREVER = "-1"
DEAD_LETTER_RETENTION_MS = str(90 * 24 * 60 * 60 * 1000)
"""90 days: long enough for an operator back from holiday to replay, short of keeping rejected personal data for
ever (a dead letter is a work queue, not a source of truth)."""


NOTIFICATION_RETENTION_MS = str(31 * 24 * 60 * 60 * 1000)


def topic_config(topic: str, topic_prefix: str = "") -> dict[str, str]:
    """The platform's settings of a topic, the one definition every topic creator uses (services at start,
    `mc-ops topics create` and `acls apply`, the test fixtures) and `mc-ops topics check` compares with.

    - an event topic keeps everything (`retention.ms=-1`): its log is the source of truth, services rebuild their
      state from offset 0, and a consumer may be down longer than the broker's default week;
    - the catalogue is compacted: the latest entry per key (academic year / micro-credential) is the intent, and
      its consumers keep the latest entry per key by event time, ignoring older ones;
    - a dead-letter topic keeps 90 days (`DEAD_LETTER_RETENTION_MS`);
    - the learner's notifications keep 31 days (`NOTIFICATION_RETENTION_MS`): they carry a wallet offer's PIN,
      of no use once the offer (30 days by default) has expired;
    - every topic takes records up to `BROKER_MAX_MESSAGE_BYTES`, the producers' request limit.
    """
    name = topic.removeprefix(topic_prefix)
    config = {"max.message.bytes": str(BROKER_MAX_MESSAGE_BYTES)}
    if name in contract_topics.COMPACTED:
        config["cleanup.policy"] = "compact"
    elif name in contract_topics.SHORT_LIVED:
        config |= {"cleanup.policy": "delete", "retention.ms": NOTIFICATION_RETENTION_MS}
    elif name in contract_topics.ALL:
        config |= {"cleanup.policy": "delete", "retention.ms": FOREVER, "retention.bytes": FOREVER}
    elif name.endswith(contract_topics.DLQ_SUFFIX):
        config |= {"cleanup.policy": "delete", "retention.ms": DEAD_LETTER_RETENTION_MS}
    return config


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
