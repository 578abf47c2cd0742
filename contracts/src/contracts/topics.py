"""Kafka topics of the contract and the dead-letter naming rule."""

ENROLMENT_EVENTS = "enrolment.events"
ASSESSMENT_EVENTS = "assessment.events"
BILLING_EVENTS = "billing.events"
CERTIFICATION_EVENTS = "certification.events"
CATALOGUE = "catalogue.microcredentials"
"""Compacted: one record per (academic year, micro-credential), the latest wins."""
CERTIFICATION_NOTIFICATIONS = "certification.notifications"
"""Messages for the learner, read only by the notification system: they carry secrets (a wallet offer's PIN)."""

ALL = (
    ENROLMENT_EVENTS,
    ASSESSMENT_EVENTS,
    BILLING_EVENTS,
    CERTIFICATION_EVENTS,
    CATALOGUE,
    CERTIFICATION_NOTIFICATIONS,
)
COMPACTED = frozenset({CATALOGUE})
SHORT_LIVED = frozenset({CERTIFICATION_NOTIFICATIONS})
"""Kept only as long as their message is of use (a PIN dies with its offer), not for ever as the event topics."""

DLQ_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """Where a consumer of `topic` puts the messages it rejects."""
    return topic + DLQ_SUFFIX


# Headers a consumer adds when it dead-letters a message; the message's own key, value and headers stay unchanged.
DLQ_REASON = "dlq-reason"
DLQ_CONSUMER = "dlq-consumer"
DLQ_ORIGINAL_TOPIC = "dlq-original-topic"
DLQ_ORIGINAL_PARTITION = "dlq-original-partition"
DLQ_ORIGINAL_OFFSET = "dlq-original-offset"
DLQ_AT = "dlq-at"
# Only on a dead letter too big to copy whole: a bounded envelope (see reliability.dead_letter).
DLQ_VALUE_BYTES = "dlq-value-bytes"
DLQ_VALUE_SHA256 = "dlq-value-sha256"
DLQ_TRUNCATED = "dlq-truncated"
