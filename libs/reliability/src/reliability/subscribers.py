"""A service's Kafka subscribers, declared on FastStream: one batch subscriber per consumed topic.

A service's ``entrypoints/kafka.py`` gives a `Subscribers` function; the kit calls it with a `KafkaKit`, on which
it declares what each event type does (``@kit.handler(EnrolmentCreated)``) and, where it applies whole batches,
the fast path of a topic (``@kit.batch_handler(topics.ENROLMENT_EVENTS)``)::

    def subscribers(kit: KafkaKit) -> None:
        @kit.handler(EnrolmentCancelled)
        def cancel(session: Session, event: CloudEvent[EnrolmentCancelled]) -> None:
            usecases.cancel(Store(session), event)

The kit then registers, on its `faststream.kafka.KafkaBroker`, one batch subscriber per topic those types belong
to, with the consumer group, ``auto_offset_reset="earliest"`` and ``AckPolicy.MANUAL``. The body of each is the
kit's idempotent apply (`IdempotentConsumer._consume`): FastStream fetches, the kit applies and commits. The
handler's annotation names the event types, so FastStream's AsyncAPI document lists them per channel
(tests/kit/test_kit_asyncapi.py holds it to the contract's).

What the broker is configured to do, and why (FastStream 0.7.8 source, `faststream/`):
- ``AckPolicy.MANUAL``: FastStream's default is ACK_FIRST (kafka/subscriber/config.py:49-53), which turns on
  aiokafka's auto-commit (config.py:38) and commits before the handler (middlewares/acknowledgement/
  middleware.py:78-79). MANUAL keeps auto-commit off and adds no acknowledgement middleware at all
  (_internal/endpoint/subscriber/usecase.py:452-456).
- ``apply_types=False`` and our own parser/decoder: the body gets the raw ``ConsumerRecord`` tuple. FastStream's
  batch parser decodes every header as UTF-8 (kafka/parser.py:86); a record with a binary header would fail the
  whole batch before any handler ran, and the kit must dead-letter any bytes unchanged.
- ``consumer_only=True``: no producer or admin client of FastStream's; the kit creates topics itself
  (`reliability.topics`) and dead-letters through its own producer, because ``KafkaBroker.publish`` takes headers
  as ``dict[str, str]`` (kafka/broker/broker.py:537) and adds its own (kafka/publisher/producer.py:131-134): a
  dead letter must carry the original headers byte for byte.
- ``partition_assignment_strategy=(RangePartitionAssignor,)``: aiokafka's default, which the kit always used;
  FastStream's default is round robin (kafka/broker/registrator.py:327-329), and a group whose members disagree
  on the strategy cannot form during a rolling upgrade.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from aiokafka import ConsumerRecord
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.kafka import KafkaBroker
from faststream.kafka.message import FAKE_CONSUMER, KafkaAckableMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.middlewares import AckPolicy

from contracts import EVENT_TYPES, EventPayload
from reliability.kafka_security import faststream_security

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

    from reliability.consumer import BatchHandler, ConsumerSettings, Handler, IdempotentConsumer

Subscribers = Callable[["KafkaKit"], None]
"""What a service's ``entrypoints/kafka.py`` gives the kit: declares the service's subscribers on a `KafkaKit`."""


@dataclass
class _Topic:
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None


class KafkaKit:
    """Where a service declares its Kafka subscribers; the kit keeps the guarantees (see `reliability.consumer`)."""

    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}

    @classmethod
    def declared(cls, *declarations: Subscribers) -> KafkaKit:
        """A kit holding what the declarations declare: their handlers, to apply events without a broker."""
        kit = cls()
        for declare in declarations:
            declare(kit)
        return kit

    def handler(self, *types: type[EventPayload]) -> Callable[[Handler], Handler]:
        """``@kit.handler(EnrolmentCreated, ...)``: ``fn(session, event)`` applies one event of these types in the
        kit's transaction; its topic gets a subscriber."""

        def register(handler: Handler) -> Handler:
            for event_type in types:
                self._topic(event_type.topic).handlers[event_type.event_type] = handler
            return handler

        return register

    def batch_handler(self, topic: str) -> Callable[[BatchHandler], BatchHandler]:
        """``@kit.batch_handler(topics.ENROLMENT_EVENTS)``: the fast path over that topic's partition batches; the
        per-event handlers of its types stay the reference and the fallback (see `reliability.consumer`)."""

        def register(batch_handler: BatchHandler) -> BatchHandler:
            self._topic(topic).batch_handler = batch_handler
            return batch_handler

        return register

    def subscribe(self, topic: str) -> None:
        """A subscriber on `topic` even before any handler of its types (their events are counted as skipped)."""
        self._topic(topic)

    @property
    def topics(self) -> list[str]:
        """The contract topics declared, in declaration order."""
        return list(self._topics)

    def handlers(self) -> dict[str, Handler]:
        return {name: handler for topic in self._topics.values() for name, handler in topic.handlers.items()}

    def batch_handlers(self) -> dict[str, BatchHandler]:
        return {name: topic.batch_handler for name, topic in self._topics.items() if topic.batch_handler}

    def _topic(self, topic: str) -> _Topic:
        return self._topics.setdefault(topic, _Topic())


def handler_table(
    topics: Iterable[str], handlers: Mapping[str, Handler], batch_handler: BatchHandler | None = None
) -> Subscribers:
    """Today's arguments (`IdempotentConsumer` / `ServiceRuntime`: topics, handlers by type, one batch handler)
    as a `Subscribers` declaration."""

    def declare(kit: KafkaKit) -> None:
        for topic in topics:
            kit.subscribe(topic)
            if batch_handler is not None:
                kit.batch_handler(topic)(batch_handler)
        for name, handler in handlers.items():
            model = EVENT_TYPES.get(name)
            if model is not None and model.topic in kit._topics:  # a type of a topic not consumed is never seen
                kit.handler(model)(handler)

    return declare


def declared_topics(*declarations: Subscribers | None) -> list[str]:
    """The contract topics the declarations subscribe to (to create them and their dead-letter topics first)."""
    kit = KafkaKit()
    for declare in declarations:
        if declare is not None:
            declare(kit)
    return kit.topics


class _KitCreatesTopics(logging.Filter):
    """FastStream warns at each start that a consumer-only broker creates no topics: the kit creates them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "consumer-only mode" not in record.getMessage()


_FASTSTREAM_LOG = logging.getLogger("reliability.faststream")
_FASTSTREAM_LOG.addFilter(_KitCreatesTopics())


def build_broker(consumer: IdempotentConsumer, kit: KafkaKit) -> KafkaBroker:
    """The FastStream broker of one consumer: a batch subscriber per declared topic, its body the kit's apply."""
    settings = consumer.settings
    broker = KafkaBroker(
        settings.bootstrap_servers,
        client_id=settings.name,
        metadata_max_age_ms=settings.metadata_max_age_ms,
        security=faststream_security(settings.security),
        apply_types=False,
        consumer_only=True,
        logger=_FASTSTREAM_LOG,
        log_level=logging.DEBUG,
        graceful_timeout=None,  # the kit drains its in-flight batch itself before stopping the broker
    )
    for topic in kit.topics:
        _subscribe(broker, consumer, settings, topic, kit._topics[topic])
    return broker


def _subscribe(
    broker: KafkaBroker, consumer: IdempotentConsumer, settings: ConsumerSettings, topic: str, declared: _Topic
) -> None:
    subscriber: BatchSubscriber = broker.subscriber(
        settings.topic_prefix + topic,
        batch=True,
        group_id=settings.group_id,
        # A new group must see the whole history: state is rebuilt from the topic, never from "now on".
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        max_records=settings.max_records,
        max_poll_records=settings.max_records,
        batch_timeout_ms=settings.poll_timeout_ms,
        session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        partition_assignment_strategy=(RangePartitionAssignor,),
        parser=_raw_batch,
        decoder=_records,
        title=topic,
        description=f"{settings.name} applies {', '.join(declared.handlers) or 'nothing'} of {topic}",
    )

    subscriber.__class__ = _PollsAgainAtOnce

    async def apply(records: Sequence[ConsumerRecord]) -> None:
        await consumer._consume(subscriber, records)

    # What FastStream's AsyncAPI document shows as the channel's payload: the event types this topic's
    # subscriber applies (the annotation is documentation only: apply_types=False, nothing is validated).
    models = [EVENT_TYPES[name] for name in declared.handlers if name in EVENT_TYPES]
    payload: Any = list[Union.__getitem__(tuple(models))] if models else list[Any]  # type: ignore[misc]
    apply.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("events", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=payload)]
    )
    apply.__name__ = f"apply_{topic.replace('.', '_')}"
    subscriber(apply)


class _PollsAgainAtOnce(BatchSubscriber):
    """FastStream's batch subscriber, without its extra sleep after an empty fetch.

    `BatchSubscriber.get_msg` sleeps `batch_timeout_ms` after a ``getmany`` that found nothing, on top of the
    ``getmany``'s own wait (kafka/subscriber/usecase.py:494-496): an event arriving at an idle consumer then waits up
    to twice the poll timeout (it delayed billing's first output by ~0.5 s in the benchmark). The kit polled again
    at once; so does this. Same slots, so FastStream's own subscriber object takes this class in place.
    """

    __slots__ = ()

    async def get_msg(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
        batches = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
        return tuple(record for records in batches.values() for record in records)


async def _raw_batch(records: Sequence[ConsumerRecord]) -> KafkaAckableMessage:
    """FastStream's message around the fetched records, without decoding anything (see the module docstring).
    Coroutines, both: FastStream runs a plain function given as parser or decoder in a worker thread."""
    first = records[0]
    return KafkaAckableMessage(
        raw_message=tuple(records),
        body=b"",
        consumer=FAKE_CONSUMER,  # never acked: the kit commits explicit offsets per partition itself
        correlation_id=f"{first.topic}-{first.partition}-{first.offset}",
        message_id=f"{first.topic}-{first.partition}-{first.offset}",
    )


async def _records(message: KafkaAckableMessage) -> tuple[ConsumerRecord, ...]:
    records: tuple[ConsumerRecord, ...] = message.raw_message
    return records
