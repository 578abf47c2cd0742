"""Replaying enrolment.events from offset 0 into an empty database reproduces every figure and every event.

Run 1 consumes the topic live; then the database is thrown away and the consumer group forgotten, and run 2
rebuilds everything from the topic. Statements must be equal, and billing.events must hold each event of
run 1 exactly twice, byte for byte (same id, same figures, same time), because billing's events are
deterministic functions of what it consumed.
"""

from __future__ import annotations

from collections import Counter

import pytest
from billing.bootstrap import SERVICE

from contracts import topics
from tests.billing.billing_support import brussels, enrolment_cancelled, enrolment_created
from tests.billing.broker.billing_broker_support import (
    forget_consumer_group,
    new_prefix,
    publish,
    publish_catalogue,
    read_topic,
    running_billing,
)

pytestmark = pytest.mark.kafka

ENROLMENTS = ["enr-full", "enr-middle", "enr-none", "enr-second-only", "enr-open", "enr-overtaken"]


async def collect(billing) -> dict[str, dict]:
    return {enrolment_id: await billing.statement(enrolment_id) for enrolment_id in ENROLMENTS}


async def test_replaying_the_topic_into_an_empty_database_reproduces_every_statement_and_event(
    kafka_bootstrap, producer, tmp_path
):
    prefix = new_prefix()
    two_semesters = (("A", "6", 1), ("B", "4", 2), ("C", "1.5", 2))
    overtaken = enrolment_created("enr-overtaken", courses=two_semesters, per_credit="33.33")
    overtaking = enrolment_cancelled("enr-overtaken", brussels(2026, 12, 24, 18))
    inputs = [
        enrolment_created("enr-full", courses=two_semesters, per_credit="33.33"),
        enrolment_cancelled("enr-full", brussels(2026, 11, 30, 23, 59, 59)),
        enrolment_created("enr-middle", courses=two_semesters, per_credit="33.33"),
        enrolment_cancelled("enr-middle", brussels(2026, 12, 1)),
        enrolment_created("enr-none", courses=two_semesters, per_credit="33.33"),
        enrolment_cancelled("enr-none", brussels(2027, 3, 15)),
        enrolment_created("enr-second-only", courses=[("D", "5", 2)], fixed_fee="100.00", microcredential_id="mc-d"),
        enrolment_cancelled("enr-second-only", brussels(2027, 1, 10)),
        enrolment_cancelled("enr-second-only", brussels(2026, 9, 10)),  # a second cancellation: ignored
        enrolment_created(
            "enr-open", courses=[("E", "2.5", 1)], per_credit="19.99", fixed_fee="0.00", microcredential_id="mc-e"
        ),
    ]

    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/first.db") as billing:
        catalogue = await publish_catalogue(
            producer, prefix, *(event for event in inputs if event.type == "EnrolmentCreated"), overtaken
        )
        for event in inputs:
            await publish(producer, prefix, event)
        await publish(producer, prefix, overtaking, partition=1)
        await billing.wait_for_processed(overtaking.id)  # waits in the pending table
        await publish(producer, prefix, overtaken, partition=0)
        await billing.wait_for_processed(*catalogue, *(event.id for event in [*inputs, overtaken]))
        first_statements = await collect(billing)
    first_events = await read_topic(kafka_bootstrap, prefix + topics.BILLING_EVENTS)
    # Six invoices and five reimbursements (enr-open is not cancelled; enr-second-only's second is ignored).
    assert len(first_events) == 11

    # Spot checks by hand (uantwerp-en@1; 6 x 33.33 = 199.98, 5.5 x 33.33 = 183.315 -> 183.32, fixed 245.00):
    assert first_statements["enr-full"]["reimbursement"]["total"] == "628.30"  # 199.98 + 183.32 + 245.00
    assert first_statements["enr-middle"]["reimbursement"]["total"] == "183.32"
    assert first_statements["enr-none"]["reimbursement"]["total"] == "0.00"
    assert first_statements["enr-second-only"]["reimbursement"]["total"] == "350.00"  # 5 x 50.00 + 100.00
    assert first_statements["enr-open"]["invoice"]["total"] == "49.98"  # 2.5 x 19.99 = 49.975 -> 49.98
    assert first_statements["enr-overtaken"]["reimbursement"]["rule"] == "second-semester-refund"

    # A fresh start: new, empty database and no committed offsets, so the group reads from offset 0.
    await forget_consumer_group(kafka_bootstrap, prefix + SERVICE)
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/second.db") as billing:
        await billing.wait_for_processed(*catalogue, *(event.id for event in [*inputs, overtaking, overtaken]))
        second_statements = await collect(billing)

    assert second_statements == first_statements
    all_events = await read_topic(kafka_bootstrap, prefix + topics.BILLING_EVENTS)
    assert len(all_events) == 2 * len(first_events)
    assert Counter((record.key, record.value) for record in all_events) == {
        (record.key, record.value): 2 for record in first_events
    }
