"""Two replicas handling events of one enrolment (or of its catalogue entry) at the same moment.

The events of an enrolment come on three topics, so two consumers may apply, say, its last pass and its
EnrolmentCreated concurrently. Each transaction alone would miss the other's uncommitted row and neither would
issue. Here the first transaction is held open while the second starts in another thread: the second must wait
(advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) and then see what the first committed.
"""

from __future__ import annotations

import threading
import time

from reliability.database import transaction

from tests.certification.certification_support import (
    AI_COURSES,
    ai_enrolment_created,
    ai_published,
    apply,
    credential_of,
    enrolment_cancelled,
    enrolment_created,
    held,
    heritage_published,
    passes,
)


def _overlap(engine, handlers, first_events, second_events) -> None:
    """Apply `first_events` in an open transaction; meanwhile apply `second_events` from another thread."""
    errors: list[BaseException] = []

    def second() -> None:
        try:
            apply(engine, handlers, *second_events)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=second)
    with transaction(engine) as session:
        for event in first_events:
            with session.begin_nested():
                handlers[event.type](session, event)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the second transaction did not wait for the first"
    thread.join(30)
    assert not thread.is_alive()
    assert not errors, errors


def test_last_pass_and_enrolment_created_at_once_still_issue(engine, handlers):
    first, last = passes("enr-1")
    apply(engine, handlers, heritage_published(), first)

    _overlap(engine, handlers, [last], [enrolment_created("enr-1")])

    assert credential_of(engine, "enr-1") is not None


def test_cancellation_and_enrolment_created_at_once_issue_nothing(engine, handlers):
    apply(engine, handlers, heritage_published(), *passes("enr-1"))

    _overlap(engine, handlers, [enrolment_cancelled("enr-1")], [enrolment_created("enr-1")])

    assert credential_of(engine, "enr-1") is None


def test_metadata_arriving_while_a_credential_is_being_held_releases_it(engine, handlers):
    apply(engine, handlers, ai_published(), ai_enrolment_created("enr-ai"))
    first, last = passes("enr-ai", AI_COURSES)
    apply(engine, handlers, first)

    _overlap(engine, handlers, [last], [ai_published(complete=True)])

    assert credential_of(engine, "enr-ai") is not None
    assert held(engine) == []
