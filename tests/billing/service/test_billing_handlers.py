"""Billing's handlers and storage on SQLite and PostgreSQL, called directly as the kit's consumer calls them.

Every expected figure is worked out by hand in the test from the uantwerp-en policy (version 1):
before 1 December (Brussels) everything; 1 December - 14 March the second-semester line (everything if the
micro-credential is second-semester only); from 15 March nothing.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources

import pytest
from billing import usecases
from billing.adapters.policy_files import parse_policy_text
from billing.store import Store
from reliability.consumer import RejectEvent
from reliability.database import transaction
from sqlmodel import Session

from tests.billing.billing_support import (
    brussels,
    enrolment_cancelled,
    enrolment_created,
    ensure_catalogue_entry,
    queued_events,
    queued_of_type,
    wire_lines,
)

# Two semesters at 33.33 per credit: semester 1 = 6 x 33.33 = 199.98; semester 2 = (4 + 1.5) x 33.33 = 183.315,
# rounded half-up to 183.32; fixed fee 245.00; invoice total 199.98 + 183.32 + 245.00 = 628.30.
TWO_SEMESTERS = (("A", "6", 1), ("B", "4", 2), ("C", "1.5", 2))


def apply(engine, handler, event, policy):
    with transaction(engine) as session:
        handler(Store(session), event, policy)


def create(engine, policy, event):
    ensure_catalogue_entry(engine, policy, event)  # billing prices enrolments from the catalogue it was sent
    apply(engine, usecases.bill_enrolment_event, event, policy)


def cancel(engine, policy, event):
    apply(engine, usecases.bill_enrolment_event, event, policy)


def test_enrolment_created_stores_and_announces_the_invoice(engine, uantwerp_en):
    event = enrolment_created("enr-1", courses=TWO_SEMESTERS, per_credit="33.33", fixed_fee="245.00")
    create(engine, uantwerp_en, event)

    with Session(engine) as session:
        invoice = Store(session).invoice("enr-1")
        lines = Store(session).invoice_lines("enr-1")
        enrolment = Store(session).enrolment("enr-1")
    assert [(line.semester, line.credits, line.amount) for line in lines] == [
        (1, Decimal("6"), Decimal("199.98")),
        (2, Decimal("5.5"), Decimal("183.32")),
    ]
    assert (invoice.fixed_fee, invoice.total, invoice.currency) == (Decimal("245.00"), Decimal("628.30"), "EUR")
    assert enrolment.student_id == "student-1" and enrolment.enrolled_at == datetime(2026, 9, 1, 8, tzinfo=UTC)

    [published] = queued_events(engine)
    assert published.type == "TuitionInvoiced" and published.source == "/services/billing"
    assert published.id == usecases.invoice_event_id("enr-1") == invoice.event_id
    assert published.time == event.time  # the cause's time, so a replay publishes the same event
    assert wire_lines(published) == [(1, "6", "199.98"), (2, "5.5", "183.32")]
    data = published.to_json()["data"]
    assert (data["fixed_fee"], data["total"], data["academic_year"]) == ("245.00", "628.30", "2026-2027")
    assert (data["student_id"], data["microcredential_id"]) == ("student-1", "mc-test")


def test_names_and_email_addresses_are_not_kept(engine, uantwerp_en):
    create(engine, uantwerp_en, enrolment_created("enr-1"))
    with Session(engine) as session:
        stored = repr(Store(session).enrolment("enr-1").model_dump())
    published = b"".join(event.to_kafka().value for event in queued_events(engine))
    for personal in ("Ada", "Peeters", "example.org"):
        assert personal not in stored and personal.encode() not in published


@pytest.mark.parametrize(
    ("cancelled_at", "rule", "semester_1", "semester_2", "fixed_fee", "total"),
    [
        # 30 November 23:59:59 in Brussels: before 1 December, everything: 199.98 + 183.32 + 245.00 = 628.30.
        (brussels(2026, 11, 30, 23, 59, 59), "full-refund", "199.98", "183.32", "245.00", "628.30"),
        # 1 December 00:00 is the first instant of the middle window: only semester 2, the fixed fee is kept.
        (brussels(2026, 12, 1), "second-semester-refund", "0.00", "183.32", "0.00", "183.32"),
        # 30 November 23:30 UTC is already 1 December 00:30 in Brussels (UTC+1 in winter).
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "second-semester-refund", "0.00", "183.32", "0.00", "183.32"),
        # The last second of 14 March is still in the middle window.
        (brussels(2027, 3, 14, 23, 59, 59), "second-semester-refund", "0.00", "183.32", "0.00", "183.32"),
        # From 15 March nothing, and the reimbursement is still announced, with zero lines.
        (brussels(2027, 3, 15), "no-refund", "0.00", "0.00", "0.00", "0.00"),
    ],
)
def test_cancellation_is_reimbursed_by_the_policy_window(
    engine, uantwerp_en, cancelled_at, rule, semester_1, semester_2, fixed_fee, total
):
    create(engine, uantwerp_en, enrolment_created("enr-1", courses=TWO_SEMESTERS, per_credit="33.33"))
    cancellation = enrolment_cancelled("enr-1", cancelled_at)
    cancel(engine, uantwerp_en, cancellation)

    [published] = queued_of_type(engine, "ReimbursementCalculated")
    data = published.to_json()["data"]
    assert published.id == usecases.reimbursement_event_id("enr-1")
    assert (data["policy"], data["rule"], data["currency"]) == ("uantwerp-en@1", rule, "EUR")
    assert wire_lines(published) == [(1, "6", semester_1), (2, "5.5", semester_2)]
    assert (data["fixed_fee"], data["total"]) == (fixed_fee, total)
    assert datetime.fromisoformat(data["cancelled_at"]) == cancelled_at

    with Session(engine) as session:
        stored = Store(session).reimbursement("enr-1")
        lines = Store(session).reimbursement_lines("enr-1")
    assert (stored.policy_id, stored.policy_version, stored.rule) == ("uantwerp-en", "1", rule)
    assert stored.cancellation_event_id == cancellation.id
    assert [(line.semester, line.invoiced, line.refunded) for line in lines] == [
        (1, Decimal("199.98"), Decimal(semester_1)),
        (2, Decimal("183.32"), Decimal(semester_2)),
    ]
    assert (stored.fixed_fee, stored.total) == (Decimal(fixed_fee), Decimal(total))


def test_second_semester_only_is_refunded_in_full_in_the_middle_window(engine, uantwerp_en):
    # 5 credits x 50.00 = 250.00, fixed fee 100.00: everything back, 350.00.
    create(engine, uantwerp_en, enrolment_created("enr-2", courses=[("D", "5", 2)], fixed_fee="100.00"))
    cancel(engine, uantwerp_en, enrolment_cancelled("enr-2", brussels(2027, 1, 10, 12)))
    [published] = queued_of_type(engine, "ReimbursementCalculated")
    data = published.to_json()["data"]
    assert data["rule"] == "second-semester-only-full-refund"
    assert wire_lines(published) == [(2, "5", "250.00")]
    assert (data["fixed_fee"], data["total"]) == ("100.00", "350.00")


def test_the_same_enrolment_announced_again_under_a_new_id_changes_nothing(engine, uantwerp_en):
    first = enrolment_created("enr-1")
    again = enrolment_created("enr-1", enrolled_at=first.data.enrolled_at)  # same content, new event id
    create(engine, uantwerp_en, first)
    create(engine, uantwerp_en, again)
    assert [event.type for event in queued_events(engine)] == ["TuitionInvoiced"]
    with Session(engine) as session:
        assert Store(session).enrolment("enr-1").created_event_id == first.id


def test_a_different_enrolment_under_a_known_id_is_rejected(engine, uantwerp_en):
    create(engine, uantwerp_en, enrolment_created("enr-1", per_credit="50.00"))
    with pytest.raises(RejectEvent, match="already invoiced") as rejected:
        create(engine, uantwerp_en, enrolment_created("enr-1", per_credit="60.00"))
    assert "enr-1" in rejected.value.reason
    with Session(engine) as session:
        assert Store(session).invoice("enr-1").total == Decimal("545.00")  # 6 x 50.00 + 245.00


def test_a_second_cancellation_does_not_reimburse_again(engine, uantwerp_en):
    create(engine, uantwerp_en, enrolment_created("enr-1", courses=TWO_SEMESTERS, per_credit="33.33"))
    first = enrolment_cancelled("enr-1", brussels(2027, 3, 20))  # no refund
    cancel(engine, uantwerp_en, first)
    cancel(engine, uantwerp_en, enrolment_cancelled("enr-1", brussels(2026, 10, 1)))  # would be a full refund
    [published] = queued_of_type(engine, "ReimbursementCalculated")
    assert published.to_json()["data"]["total"] == "0.00"
    with Session(engine) as session:
        stored = Store(session).reimbursement("enr-1")
    assert stored.cancellation_event_id == first.id and stored.total == Decimal("0.00")


def test_a_cancellation_dated_before_the_enrolment_is_rejected(engine, uantwerp_en):
    create(engine, uantwerp_en, enrolment_created("enr-1", enrolled_at=brussels(2026, 9, 1, 10)))
    with pytest.raises(RejectEvent) as rejected:
        cancel(engine, uantwerp_en, enrolment_cancelled("enr-1", brussels(2026, 9, 1, 9, 59, 59)))
    assert "before the enrolment" in rejected.value.reason
    assert "2026-09-01T07:59:59+00:00" in rejected.value.reason  # the instants, in UTC
    assert queued_of_type(engine, "ReimbursementCalculated") == []
    with Session(engine) as session:
        assert Store(session).reimbursement("enr-1") is None


def test_a_cancellation_before_its_enrolment_waits_and_is_settled_when_it_arrives(engine, uantwerp_en):
    cancellation = enrolment_cancelled("enr-1", brussels(2026, 12, 5))
    cancel(engine, uantwerp_en, cancellation)
    assert queued_events(engine) == []
    with Session(engine) as session:
        [waiting] = Store(session).pending_cancellations()
    assert (waiting.enrolment_id, waiting.event_id, waiting.status) == ("enr-1", cancellation.id, "waiting")

    create(engine, uantwerp_en, enrolment_created("enr-1", courses=TWO_SEMESTERS, per_credit="33.33"))
    invoiced, reimbursed = queued_events(engine)  # invoice first, then the reimbursement, in one transaction
    assert (invoiced.type, reimbursed.type) == ("TuitionInvoiced", "ReimbursementCalculated")
    data = reimbursed.to_json()["data"]
    # 5 December: middle window, the second-semester line 183.32 only.
    assert (data["rule"], data["total"]) == ("second-semester-refund", "183.32")
    assert reimbursed.time == cancellation.time
    with Session(engine) as session:
        assert Store(session).pending_cancellations() == []
        [settled] = Store(session).pending_cancellations(statuses=["settled"])
        assert settled.resolved_at is not None
        assert Store(session).reimbursement("enr-1").cancellation_event_id == cancellation.id


def test_of_two_waiting_cancellations_the_first_settles_and_the_second_is_superseded(engine, uantwerp_en):
    first = enrolment_cancelled("enr-1", brussels(2026, 10, 1))
    second = enrolment_cancelled("enr-1", brussels(2027, 4, 1))
    cancel(engine, uantwerp_en, first)
    cancel(engine, uantwerp_en, second)
    create(engine, uantwerp_en, enrolment_created("enr-1"))
    [reimbursed] = queued_of_type(engine, "ReimbursementCalculated")
    # 1 October: full refund, 6 x 50.00 + 245.00 = 545.00.
    assert reimbursed.to_json()["data"]["total"] == "545.00"
    with Session(engine) as session:
        [superseded] = Store(session).pending_cancellations(statuses=["superseded"])
    assert superseded.event_id == second.id and first.id in superseded.status_reason


def test_a_waiting_cancellation_dated_before_the_enrolment_is_kept_as_rejected_and_the_next_one_settles(
    engine, uantwerp_en
):
    too_early = enrolment_cancelled("enr-1", brussels(2026, 8, 1))
    valid = enrolment_cancelled("enr-1", brussels(2027, 3, 15))
    cancel(engine, uantwerp_en, too_early)
    cancel(engine, uantwerp_en, valid)
    create(engine, uantwerp_en, enrolment_created("enr-1", enrolled_at=brussels(2026, 9, 1, 10)))
    [reimbursed] = queued_of_type(engine, "ReimbursementCalculated")
    assert reimbursed.to_json()["data"]["rule"] == "no-refund"
    with Session(engine) as session:
        [rejected] = Store(session).pending_cancellations(statuses=["rejected"])
        assert Store(session).reimbursement("enr-1").cancellation_event_id == valid.id
    assert rejected.event_id == too_early.id and "before the enrolment" in rejected.status_reason


def uantwerp_en_version_2():
    """A hypothetical version 2 that refunds nothing in the middle window (to tell the versions apart)."""
    text = resources.files("billing").joinpath("policies/uantwerp-en.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 1", "version: 2").replace(
        "refund: {semesters: [2], fixed_fee: false}", "refund: {semesters: [], fixed_fee: false}"
    )
    return parse_policy_text(text, "uantwerp-en.v2.yaml")


def test_a_reimbursement_keeps_the_policy_version_it_was_computed_with(engine, uantwerp_en):
    version_2 = uantwerp_en_version_2()
    create(engine, uantwerp_en, enrolment_created("enr-1", courses=TWO_SEMESTERS, per_credit="33.33"))
    cancel(engine, uantwerp_en, enrolment_cancelled("enr-1", brussels(2026, 12, 5)))
    # The policy changes; a further cancellation of enr-1 arrives and is handled under version 2.
    cancel(engine, version_2, enrolment_cancelled("enr-1", brussels(2026, 12, 6)))
    create(engine, version_2, enrolment_created("enr-2", courses=TWO_SEMESTERS, per_credit="33.33"))
    cancel(engine, version_2, enrolment_cancelled("enr-2", brussels(2026, 12, 5)))

    with Session(engine) as session:
        first = Store(session).reimbursement("enr-1")
        later = Store(session).reimbursement("enr-2")
    # enr-1 keeps version 1's figure (the second-semester line, 183.32); enr-2 gets version 2's (nothing).
    assert (first.policy, first.rule, first.total) == ("uantwerp-en@1", "second-semester-refund", Decimal("183.32"))
    assert (later.policy, later.rule, later.total) == ("uantwerp-en@2", "second-semester-refund", Decimal("0.00"))
    published = {event.subject: event.to_json()["data"] for event in queued_of_type(engine, "ReimbursementCalculated")}
    assert published["enr-1"]["policy"] == "uantwerp-en@1" and published["enr-2"]["policy"] == "uantwerp-en@2"


def test_a_batch_logs_one_info_line_of_what_became_of_its_events(engine, uantwerp_en, caplog):
    # One enrolment invoiced then reimbursed, its second cancellation ignored, a cancellation whose enrolment
    # has not arrived kept waiting: four outcomes, one INFO line; each decision's own line only at DEBUG.
    created = enrolment_created("enr-1", enrolled_at=brussels(2026, 9, 1, 10))
    ensure_catalogue_entry(engine, uantwerp_en, created)
    batch = [
        created,
        enrolment_cancelled("enr-1", brussels(2026, 11, 2)),
        enrolment_cancelled("enr-1", brussels(2026, 11, 3)),
        enrolment_cancelled("enr-2", brussels(2026, 11, 2)),
    ]
    caplog.set_level(logging.DEBUG, logger="billing.usecases")
    with transaction(engine) as session:
        usecases.bill_enrolment_events(Store(session), [(event, nullcontext()) for event in batch], uantwerp_en)

    info = [record for record in caplog.records if record.levelno == logging.INFO]
    [summary] = [record for record in info if record.getMessage() == "enrolment events billed"]
    assert summary.events == 4  # type: ignore[attr-defined]
    assert summary.outcomes == {  # type: ignore[attr-defined]
        "invoiced": 1,
        "reimbursed": 1,
        "already-reimbursed": 1,
        "waiting-for-enrolment": 1,
    }
    assert {record.getMessage() for record in info} == {
        "enrolment events billed",
        "enrolment already reimbursed; the first cancellation stands",
        "cancellation waits for its enrolment",
    }
    debug = {record.getMessage() for record in caplog.records if record.levelno == logging.DEBUG}
    assert debug == {"tuition invoiced", "reimbursement calculated"}
