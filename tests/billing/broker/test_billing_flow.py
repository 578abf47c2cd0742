"""Billing on a real broker: enrolment.events in, billing.events out, exactly once, in any order, DLQ with reasons.

Figures are worked out by hand from the default policy, uantwerp-en version 1 (cut-offs in Brussels time:
1 December 2026 and 15 March 2027 for the academic year 2026-2027).
"""

from __future__ import annotations

import json

import pytest

from contracts import topics
from tests.billing.billing_support import brussels, enrolment_cancelled, enrolment_created
from tests.billing.broker.billing_broker_support import (
    billing_events,
    by_type,
    new_prefix,
    processed_ids,
    publish,
    publish_catalogue,
    read_at_least,
    running_billing,
)

pytestmark = pytest.mark.kafka


def heritage(enrolment_id: str, **extra):
    """The catalogue's Heritage and Adaptive Reuse: 3 + 3 credits in semester 1 at 11.90, fixed fee 245.00."""
    courses = (("2026MCHAR1", "3", 1), ("2026MCHAR2", "3", 1))
    return enrolment_created(
        enrolment_id, courses=courses, per_credit="11.90", fixed_fee="245.00", microcredential_id="mc-heritage", **extra
    )


def mixed(enrolment_id: str, **extra):
    """4 credits in semester 1 and 5 in semester 2 at 27.50, fixed fee 150.00."""
    courses = (("M1", "4", 1), ("M2", "5", 2))
    return enrolment_created(enrolment_id, courses=courses, per_credit="27.50", fixed_fee="150.00", **extra)


async def test_enrolments_are_invoiced_and_cancellations_reimbursed(kafka_bootstrap, producer, database_url):
    prefix = new_prefix()
    inputs = [
        heritage("enr-heritage"),
        enrolment_cancelled("enr-heritage", brussels(2026, 11, 15, 14)),  # before 1 December
        mixed("enr-mixed"),
        enrolment_cancelled("enr-mixed", brussels(2027, 2, 1, 9)),  # middle window
        enrolment_created(
            "enr-late", courses=[("L1", "3", 2)], per_credit="40.00", fixed_fee="0.00", microcredential_id="mc-late"
        ),
        enrolment_cancelled("enr-late", brussels(2027, 3, 20, 9)),  # after 14 March
    ]
    async with running_billing(kafka_bootstrap, prefix, database_url) as billing:
        catalogue = await publish_catalogue(
            producer, prefix, *(event for event in inputs if event.type == "EnrolmentCreated")
        )
        for event in inputs:
            await publish(producer, prefix, event)
        await billing.wait_for_processed(*catalogue, *(event.id for event in inputs))
        statement = await billing.statement("enr-mixed")

    events = await billing_events(kafka_bootstrap, prefix)
    assert all(event.source == "/services/billing" for event in events)
    invoices = by_type(events, "TuitionInvoiced")
    reimbursements = by_type(events, "ReimbursementCalculated")
    assert set(invoices) == set(reimbursements) == {"enr-heritage", "enr-mixed", "enr-late"}

    # Heritage: 6 x 11.90 = 71.40; + 245.00 = 316.40. Cancelled 15 November: everything back.
    assert invoices["enr-heritage"]["lines"] == [{"semester": 1, "credits": "6", "amount": "71.40"}]
    assert (invoices["enr-heritage"]["fixed_fee"], invoices["enr-heritage"]["total"]) == ("245.00", "316.40")
    refund = reimbursements["enr-heritage"]
    assert (refund["policy"], refund["rule"]) == ("uantwerp-en@1", "full-refund")
    assert refund["lines"] == [{"semester": 1, "credits": "6", "amount": "71.40"}]
    assert (refund["fixed_fee"], refund["total"]) == ("245.00", "316.40")

    # Mixed: 4 x 27.50 = 110.00; 5 x 27.50 = 137.50; + 150.00 = 397.50. Cancelled 1 February: semester 2 only.
    assert invoices["enr-mixed"]["lines"] == [
        {"semester": 1, "credits": "4", "amount": "110.00"},
        {"semester": 2, "credits": "5", "amount": "137.50"},
    ]
    assert invoices["enr-mixed"]["total"] == "397.50"
    refund = reimbursements["enr-mixed"]
    assert refund["rule"] == "second-semester-refund"
    assert refund["lines"] == [
        {"semester": 1, "credits": "4", "amount": "0.00"},
        {"semester": 2, "credits": "5", "amount": "137.50"},
    ]
    assert (refund["fixed_fee"], refund["total"]) == ("0.00", "137.50")

    # Late: 3 x 40.00 = 120.00, no fixed fee. Cancelled 20 March: nothing, and that is announced too.
    assert invoices["enr-late"]["total"] == "120.00"
    refund = reimbursements["enr-late"]
    assert refund["rule"] == "no-refund"
    assert refund["lines"] == [{"semester": 2, "credits": "3", "amount": "0.00"}]
    assert (refund["fixed_fee"], refund["total"]) == ("0.00", "0.00")

    assert statement["status"] == "cancelled" and statement["reimbursement"]["total"] == "137.50"
    assert statement["invoice"]["total"] == "397.50"


async def test_duplicates_and_a_second_cancellation_change_nothing(kafka_bootstrap, producer, tmp_path):
    prefix = new_prefix()
    created = heritage("enr-dup")
    first = enrolment_cancelled("enr-dup", brussels(2026, 12, 10, 9))  # middle window: semester 1 only -> 0.00
    second = enrolment_cancelled("enr-dup", brussels(2026, 10, 1, 9))  # new id; would be a full refund
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/billing.db") as billing:
        catalogue = await publish_catalogue(producer, prefix, created)
        for event in (created, created, first, created, first, second, first):
            await publish(producer, prefix, event)
        await billing.wait_for_processed(*catalogue, created.id, first.id, second.id)

    events = await billing_events(kafka_bootstrap, prefix)
    assert [event.type for event in events] == ["TuitionInvoiced", "ReimbursementCalculated"]
    refund = by_type(events, "ReimbursementCalculated")["enr-dup"]
    # The first cancellation stands: 10 December, semester-1-only enrolment, nothing back (no special case).
    assert (refund["rule"], refund["total"]) == ("second-semester-refund", "0.00")
    assert refund["cancelled_at"] == "2026-12-10T08:00:00Z"


async def test_a_cancellation_that_overtakes_its_enrolment_is_settled_when_the_enrolment_arrives(
    kafka_bootstrap, producer, tmp_path
):
    prefix = new_prefix()
    created = mixed("enr-ooo")
    cancelled = enrolment_cancelled("enr-ooo", brussels(2026, 11, 20, 9))  # before 1 December: everything
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/billing.db") as billing:
        catalogue = await publish_catalogue(producer, prefix, created)
        await billing.wait_for_processed(*catalogue)
        # Same key (the contract requires key == subject), but another partition: nothing orders the two.
        await publish(producer, prefix, cancelled, partition=1)
        await billing.wait_for_processed(cancelled.id)
        pending = (await billing.get("/cancellations/pending")).json()
        assert [(c["enrolment_id"], c["event_id"]) for c in pending["cancellations"]] == [("enr-ooo", cancelled.id)]
        assert (await billing.get("/enrolments/enr-ooo/statement")).status_code == 404

        await publish(producer, prefix, created, partition=0)
        await billing.wait_for_processed(created.id)
        assert (await billing.get("/cancellations/pending")).json()["count"] == 0
        settled = (await billing.get("/cancellations/pending", status="settled")).json()["cancellations"]
        assert [c["event_id"] for c in settled] == [cancelled.id]
        statement = await billing.statement("enr-ooo")

    events = await billing_events(kafka_bootstrap, prefix)
    assert [event.type for event in events] == ["TuitionInvoiced", "ReimbursementCalculated"]
    refund = by_type(events, "ReimbursementCalculated")["enr-ooo"]
    # 110.00 + 137.50 + 150.00 = 397.50, all of it.
    assert (refund["rule"], refund["total"], refund["fixed_fee"]) == ("full-refund", "397.50", "150.00")
    assert statement["reimbursement"]["cancellation_event_id"] == cancelled.id


def with_change(event, change) -> bytes:
    document = event.to_json()
    change(document["data"])
    return json.dumps(document).encode()


async def test_invalid_events_go_to_the_dead_letter_topic_with_a_reason_naming_the_field(
    kafka_bootstrap, producer, tmp_path
):
    prefix = new_prefix()
    topic = prefix + topics.ENROLMENT_EVENTS

    def semester_3(data):
        data["microcredential"]["courses"][0]["semester"] = 3

    def negative_credits(data):
        data["microcredential"]["courses"][0]["credits"] = "-6"

    def unknown_currency(data):
        data["tuition"]["currency"] = "EUX"

    def no_offset(data):
        data["enrolled_at"] = "2026-09-01T10:00:00"

    def cancellation_without_offset(data):
        data["cancelled_at"] = "2026-12-01T10:00:00"

    poison = {
        b"enr-semester": (
            with_change(enrolment_created("enr-semester"), semester_3),
            "data.microcredential.courses.0.semester",
        ),
        b"enr-credits": (
            with_change(enrolment_created("enr-credits"), negative_credits),
            "data.microcredential.courses.0.credits",
        ),
        b"enr-currency": (with_change(enrolment_created("enr-currency"), unknown_currency), "data.tuition.currency"),
        b"enr-naive": (with_change(enrolment_created("enr-naive"), no_offset), "data.enrolled_at"),
        b"enr-naive-cancel": (
            with_change(enrolment_cancelled("enr-naive-cancel", brussels(2026, 12, 1)), cancellation_without_offset),
            "data.cancelled_at",
        ),
    }
    early = enrolment_created("enr-early", enrolled_at=brussels(2026, 9, 1, 10))
    before_enrolment = enrolment_cancelled("enr-early", brussels(2026, 8, 31, 10))
    valid = heritage("enr-valid")
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/billing.db") as billing:
        catalogue = await publish_catalogue(producer, prefix, early, valid)
        await billing.wait_for_processed(*catalogue)
        for key, (value, _) in poison.items():
            await producer.send_and_wait(topic, key=key, value=value)
        for event in (early, before_enrolment, valid):
            await publish(producer, prefix, event)
        await billing.wait_for_processed(early.id, valid.id)
        dead = await read_at_least(kafka_bootstrap, topics.dead_letter_topic(topic), len(poison) + 1)
        assert before_enrolment.id not in processed_ids(billing.engine)

    reasons = {record.key: dict(record.headers)[topics.DLQ_REASON].decode() for record in dead}
    assert len(dead) == len(poison) + 1
    for key, (value, field) in poison.items():
        assert field in reasons[key], reasons[key]
        assert next(record.value for record in dead if record.key == key) == value  # unchanged
    assert "ISO 4217" in reasons[b"enr-currency"] and "offset" in reasons[b"enr-naive"]
    assert "before the enrolment" in reasons[b"enr-early"]
    for record in dead:
        assert dict(record.headers)[topics.DLQ_CONSUMER] == b"billing"

    events = await billing_events(kafka_bootstrap, prefix)
    assert sorted(event.subject for event in events) == ["enr-early", "enr-valid"]  # two invoices, nothing else
