"""Billing with its outbox relay in a process of its own (`OUTBOX_RELAY=process`), as a rebuild runs it."""

from __future__ import annotations

import os

import pytest
from reliability.relay_process import RelayProcess

from tests.billing.billing_support import brussels, enrolment_cancelled, enrolment_created
from tests.billing.broker.billing_broker_support import (
    billing_events,
    by_type,
    new_prefix,
    publish,
    publish_catalogue,
    running_billing,
)

pytestmark = pytest.mark.kafka


async def test_invoices_and_reimbursements_go_out_through_the_relays_process(kafka_bootstrap, producer, database_url):
    prefix = new_prefix()
    # 4 credits in semester 1 and 5 in semester 2 at 27.50, fixed fee 150.00, cancelled 1 February (Brussels).
    created = enrolment_created(
        "enr-child", courses=(("M1", "4", 1), ("M2", "5", 2)), per_credit="27.50", fixed_fee="150.00"
    )
    cancelled = enrolment_cancelled("enr-child", brussels(2027, 2, 1, 9))
    async with running_billing(kafka_bootstrap, prefix, database_url, outbox_relay="process") as billing:
        relay = billing.runtime.relay
        assert isinstance(relay, RelayProcess) and relay._child is not None
        assert relay._child.pid != os.getpid()
        catalogue = await publish_catalogue(producer, prefix, created)
        await publish(producer, prefix, created)
        await publish(producer, prefix, cancelled)
        await billing.wait_for_processed(*catalogue, created.id, cancelled.id)
        health = await billing.get("/health")
        child = relay._child
    assert health.status_code == 200, health.text
    assert child.returncode == 0  # stopped with the service, not left running

    events = await billing_events(kafka_bootstrap, prefix)
    invoice = by_type(events, "TuitionInvoiced")["enr-child"]
    refund = by_type(events, "ReimbursementCalculated")["enr-child"]
    # 4 x 27.50 = 110.00, 5 x 27.50 = 137.50, + 150.00 = 397.50; the middle window gives semester 2 back.
    assert invoice["total"] == "397.50"
    assert (refund["rule"], refund["total"]) == ("second-semester-refund", "137.50")
