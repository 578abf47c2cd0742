"""Billing on a real broker believes the catalogue, not the enrolment: what a forger of enrolment.events gets.

The catalogue (catalogue.microcredentials) is what the enrolment service published; an EnrolmentCreated, from
whichever producer and whatever `source` it claims, is invoiced only if its tuition and courses repeat the
current entry. Figures by hand: mc-heritage is 3 + 3 first-semester credits at 11.90 with a fixed fee of 245.00,
6 x 11.90 = 71.40, + 245.00 = 316.40.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from billing import domain
from billing.bootstrap import SERVICE
from billing.store import Store
from sqlmodel import Session

from contracts import topics
from tests.billing.billing_support import (
    brussels,
    catalogue_entry,
    catalogue_entry_for,
    enrolment_cancelled,
    enrolment_created,
)
from tests.billing.broker.billing_broker_support import (
    billing_events,
    by_type,
    forget_consumer_group,
    new_prefix,
    processed_ids,
    publish,
    read_at_least,
    read_topic,
    running_billing,
)

pytestmark = pytest.mark.kafka

HERITAGE_COURSES = (("2026MCHAR1", "3", 1), ("2026MCHAR2", "3", 1))


def heritage(enrolment_id: str, **changes):
    values = {"courses": HERITAGE_COURSES, "per_credit": "11.90", "fixed_fee": "245.00"}
    return enrolment_created(enrolment_id, microcredential_id="mc-heritage", **{**values, **changes})


def heritage_entry(**changes):
    values = {"courses": HERITAGE_COURSES, "per_credit": "11.90", "fixed_fee": "245.00"}
    return catalogue_entry("mc-heritage", **{**values, **changes})


def dead_letters_by_key(records) -> dict[bytes, str]:
    return {record.key: dict(record.headers)[topics.DLQ_REASON].decode() for record in records}


async def test_forged_tuition_goes_to_the_dead_letter_topic_with_what_disagrees_and_is_never_invoiced(
    kafka_bootstrap, producer, tmp_path
):
    prefix = new_prefix()
    entry = heritage_entry()
    honest = heritage("enr-honest")
    # Each forgery a writer of enrolment.events might try; the last one also claims the enrolment service's source.
    forgeries = {
        b"enr-cheap": (heritage("enr-cheap", per_credit="1.00"), "per_credit 1.00 (catalogue: 11.90)"),
        b"enr-no-fee": (heritage("enr-no-fee", fixed_fee="0.00"), "fixed_fee 0.00 (catalogue: 245.00)"),
        b"enr-currency": (heritage("enr-currency", currency="USD"), "currency USD (catalogue: EUR)"),
        b"enr-credits": (
            heritage("enr-credits", courses=(("2026MCHAR1", "1", 1), ("2026MCHAR2", "1", 1))),
            "course 2026MCHAR1 credits 1 (catalogue: 3)",
        ),
        b"enr-subset": (
            heritage("enr-subset", courses=HERITAGE_COURSES[:1]),
            "course 2026MCHAR2 of the catalogue entry is missing",
        ),
        b"enr-semester": (
            heritage("enr-semester", courses=(("2026MCHAR1", "3", 1), ("2026MCHAR2", "3", 2))),
            "course 2026MCHAR2 semester 2 (catalogue: 1)",
        ),
        b"enr-as-enrolment-service": (
            dataclasses.replace(heritage("enr-as-enrolment-service", per_credit="0.01"), source="/services/enrolment"),
            "per_credit 0.01 (catalogue: 11.90)",
        ),
    }
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/billing.db") as billing:
        await publish(producer, prefix, entry)
        await billing.wait_for_processed(entry.id)
        for event, _ in forgeries.values():
            await publish(producer, prefix, event)
        await publish(producer, prefix, honest)
        await billing.wait_for_processed(honest.id)
        dead = await read_at_least(
            kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS), len(forgeries)
        )
        for event, _ in forgeries.values():
            assert event.id not in processed_ids(billing.engine)
            assert (await billing.get(f"/enrolments/{event.subject}/statement")).status_code == 404
        statement = await billing.statement("enr-honest")

    reasons = dead_letters_by_key(dead)
    assert set(reasons) == set(forgeries)
    for key, (event, expected) in forgeries.items():
        assert expected in reasons[key], reasons[key]
        assert "2026-2027/mc-heritage" in reasons[key]
        for personal in ("Ada", "Peeters", "example.org"):
            assert personal not in reasons[key]
        assert next(record.value for record in dead if record.key == key) == event.to_kafka().value  # unchanged
    events = await billing_events(kafka_bootstrap, prefix)
    assert [event.subject for event in events] == ["enr-honest"]
    assert statement["invoice"]["lines"] == [{"semester": 1, "credits": "6", "amount": "71.40"}]
    assert statement["invoice"]["total"] == "316.40"


async def test_an_enrolment_that_arrives_before_its_entry_is_invoiced_from_the_entry_once_it_arrives(
    kafka_bootstrap, producer, tmp_path
):
    prefix = new_prefix()
    created = heritage("enr-early")
    cancelled = enrolment_cancelled("enr-early", brussels(2026, 11, 2, 9))  # before 1 December: everything back
    forged = heritage("enr-forged-early", per_credit="2.00")
    entry = catalogue_entry_for(created)
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/billing.db") as billing:
        for event in (created, cancelled, forged):
            await publish(producer, prefix, event)
        await billing.wait_for_processed(created.id, cancelled.id, forged.id)
        assert (await billing.get("/enrolments/enr-early/statement")).status_code == 404
        with Session(billing.engine) as session:
            assert [row.enrolment_id for row in Store(session).waiting_enrolments()] == [
                "enr-early",
                "enr-forged-early",
            ]
        assert await billing_events(kafka_bootstrap, prefix) == []

        await publish(producer, prefix, entry)
        await billing.wait_for_processed(entry.id)
        statement = await billing.statement("enr-early")
        with Session(billing.engine) as session:
            [rejected] = Store(session).waiting_enrolments(statuses=[domain.REJECTED])
        assert (await billing.get("/enrolments/enr-forged-early/statement")).status_code == 404

    assert rejected.enrolment_id == "enr-forged-early"
    assert "per_credit 2.00 (catalogue: 11.90)" in rejected.status_reason
    events = await billing_events(kafka_bootstrap, prefix)
    assert [event.type for event in events] == ["TuitionInvoiced", "ReimbursementCalculated"]
    invoice = by_type(events, "TuitionInvoiced")["enr-early"]
    assert invoice["lines"] == [{"semester": 1, "credits": "6", "amount": "71.40"}]
    assert (invoice["fixed_fee"], invoice["total"]) == ("245.00", "316.40")
    assert by_type(events, "ReimbursementCalculated")["enr-early"]["total"] == "316.40"
    assert statement["reimbursement"]["cancellation_event_id"] == cancelled.id
    assert next(event for event in events if event.type == "TuitionInvoiced").time == created.time


async def test_a_catalogue_entry_dated_in_the_future_goes_to_the_dead_letter_topic(kafka_bootstrap, producer, tmp_path):
    prefix = new_prefix()
    entry = heritage_entry()
    # A writer of the catalogue topic dates a cheap entry a year ahead, so that it would stay "latest" until then.
    future = heritage_entry(per_credit="0.10", time=datetime.now(UTC) + timedelta(days=365))
    cheap = heritage("enr-cheap", per_credit="0.10")
    honest = heritage("enr-honest")
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/billing.db") as billing:
        await publish(producer, prefix, entry)
        await publish(producer, prefix, future)
        await billing.wait_for_processed(entry.id)
        dead = await read_at_least(kafka_bootstrap, topics.dead_letter_topic(prefix + topics.CATALOGUE), 1)
        for event in (cheap, honest):
            await publish(producer, prefix, event)
        await billing.wait_for_processed(honest.id)
        enrolment_dead = await read_at_least(
            kafka_bootstrap, topics.dead_letter_topic(prefix + topics.ENROLMENT_EVENTS), 1
        )
        with Session(billing.engine) as session:
            [current] = Store(session).catalogue_entries()
        assert future.id not in processed_ids(billing.engine)

    [refused] = dead
    assert refused.value == future.to_kafka().value
    reason = dict(refused.headers)[topics.DLQ_REASON].decode()
    assert "2026-2027/mc-heritage" in reason and "ahead of this service's clock" in reason
    assert current.event_id == entry.id
    assert "per_credit 0.10 (catalogue: 11.90)" in dead_letters_by_key(enrolment_dead)[b"enr-cheap"]
    assert [event.subject for event in await billing_events(kafka_bootstrap, prefix)] == ["enr-honest"]


async def test_a_rebuild_from_offset_0_invoices_what_the_live_run_did_whatever_topic_it_reads_first(
    kafka_bootstrap, producer, tmp_path
):
    prefix = new_prefix()
    enrolments = [
        heritage("enr-heritage"),
        enrolment_created("enr-mixed", courses=(("M1", "4", 1), ("M2", "5", 2)), per_credit="27.50",
                          fixed_fee="150.00", microcredential_id="mc-mixed"),
    ]  # fmt: skip
    inputs = [
        *enrolments,
        enrolment_cancelled("enr-heritage", brussels(2026, 12, 10, 9)),
        enrolment_cancelled("enr-mixed", brussels(2027, 2, 1, 9)),
        heritage("enr-forged", per_credit="1.00"),  # last: see the rebuild's wait
    ]
    # Live, the enrolment events come first and wait; the catalogue follows.
    catalogue = [catalogue_entry_for(event) for event in enrolments]
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/first.db") as billing:
        for event in inputs:
            await publish(producer, prefix, event)
        await billing.wait_for_processed(*(event.id for event in inputs))
        for entry in catalogue:
            await publish(producer, prefix, entry)
        await billing.wait_for_processed(*(entry.id for entry in catalogue))
        first = {event.subject: await billing.statement(event.subject) for event in enrolments}
    first_events = await read_topic(kafka_bootstrap, prefix + topics.BILLING_EVENTS)
    # Two invoices, two reimbursements; the forged enrolment none.
    assert sorted(record.key for record in first_events) == [b"enr-heritage"] * 2 + [b"enr-mixed"] * 2
    # Mixed: 4 x 27.50 = 110.00, 5 x 27.50 = 137.50, + 150.00 = 397.50; cancelled 1 February: semester 2 back.
    assert first["enr-mixed"]["invoice"]["total"] == "397.50"
    assert first["enr-mixed"]["reimbursement"]["total"] == "137.50"

    await forget_consumer_group(kafka_bootstrap, prefix + SERVICE)
    async with running_billing(kafka_bootstrap, prefix, f"sqlite:///{tmp_path}/second.db") as billing:
        # The forged enrolment is left out: read before its entry it waits (and is kept as rejected), read after
        # it goes to the dead-letter topic. Either way it is never invoiced.
        await billing.wait_for_processed(*(event.id for event in [*inputs[:-1], *catalogue]))
        second = {event.subject: await billing.statement(event.subject) for event in enrolments}

    assert second == first
    all_events = await read_topic(kafka_bootstrap, prefix + topics.BILLING_EVENTS)
    assert Counter((record.key, record.value) for record in all_events) == {
        (record.key, record.value): 2 for record in first_events
    }
