"""Sizes the contract guarantees, so one message can never be too big for the platform to carry on.

The broker takes records up to about 1 MiB (``message.max.bytes``, 1,048,588 by default) and a producer sends up
to ``max.request.size`` (1,048,576). A dead letter is the original record plus headers; to be sure it still fits,
an event's value is bounded well below the broker's limit, and what is bigger is dead-lettered as a bounded
envelope (the first `DEAD_LETTER_EXCERPT_BYTES` and a SHA-256 of the whole value) rather than copied.
"""

MAX_EVENT_BYTES = 256 * 1024
"""The largest CloudEvent value (the JSON bytes on the wire) a producer may send and a consumer accepts."""

MAX_HEADER_BYTES = 16 * 1024
"""The largest total size of a record's headers (names and values) that is copied into a dead letter."""

BROKER_MAX_MESSAGE_BYTES = 1_048_576
"""What the platform's topics are configured to take (``max.message.bytes``), and a producer's request limit."""

DEAD_LETTER_EXCERPT_BYTES = 64 * 1024
"""How much of an oversized value its dead letter carries; the full bytes stay at the original offset."""

MAX_COURSES = 40
"""Courses in one micro-credential. Micro-credentials here are 3 to 19 ECTS; 40 courses would make each of a
19-ECTS programme less than half a credit (about 12 hours of study), far below the smallest course offered (1.5)."""

MAX_LEARNING_OUTCOMES = 20
"""Learning outcomes of one micro-credential: the EU template lists a handful (our catalogue has 2 to 4)."""

MAX_LEARNING_OUTCOME_LENGTH = 300
"""Characters of one learning outcome: a sentence or two (the longest in our catalogue has 115)."""
