"""Billing's catalogue rules on SQLite and PostgreSQL: the catalogue prices, a snapshot that disagrees is refused,
an enrolment that arrives before its entry waits for it, an entry dated in the future is refused.

Figures by hand: the catalogue's mc-test is one 6-credit first-semester course at 50.00 with a fixed fee of 245.00,
so 6 x 50.00 + 245.00 = 545.00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from billing import domain, usecases
from billing.store import Store
from billing.usecases import catalogue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.consumer import RejectEvent
from reliability.database import transaction
from sqlmodel import Session

from tests.billing.billing_support import (
    brussels,
    catalogue_entry,
    catalogue_entry_for,
    enrolment_cancelled,
    enrolment_created,
    queued_events,
    queued_of_type,
    record_catalogue,
)
from tests.billing.service.test_billing_batches import billing_step, contents, records_of


def bill(engine, policy, event):
    with transaction(engine) as session:
        usecases.bill_enrolment_event(Store(session), event, policy)


def waiting(engine, status=domain.WAITING):
    with Session(engine) as session:
        return Store(session).waiting_enrolments(statuses=(status,))


def test_a_forged_lower_tuition_is_refused_with_what_disagrees_and_nothing_is_invoiced(engine, uantwerp_en):
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test"))
    forged = enrolment_created("enr-1", per_credit="0.50", fixed_fee="0.00")
    with pytest.raises(RejectEvent) as rejected:
        bill(engine, uantwerp_en, forged)
    reason = rejected.value.reason
    assert "enr-1" in reason and "2026-2027/mc-test" in reason
    assert "per_credit 0.50 (catalogue: 50.00)" in reason and "fixed_fee 0.00 (catalogue: 245.00)" in reason
    for personal in ("Ada", "Peeters", "example.org", "student-1"):
        assert personal not in reason
    assert queued_events(engine) == []
    with Session(engine) as session:
        assert Store(session).invoice("enr-1") is None


def test_a_snapshot_with_fewer_credits_than_the_catalogue_is_refused(engine, uantwerp_en):
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test"))
    with pytest.raises(RejectEvent, match=r"course COURSE-1 credits 1 \(catalogue: 6\)"):
        bill(engine, uantwerp_en, enrolment_created("enr-1", courses=[("COURSE-1", "1", 1)]))
    assert queued_events(engine) == []


def test_an_enrolment_for_a_micro_credential_of_another_year_waits_for_that_years_entry(engine, uantwerp_en):
    # The catalogue of 2026-2027 does not price an enrolment claiming 2027-2028.
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test", academic_year="2026-2027"))
    bill(engine, uantwerp_en, enrolment_created("enr-1", academic_year="2027-2028"))
    assert queued_events(engine) == []
    [kept] = waiting(engine)
    assert (kept.enrolment_id, kept.academic_year) == ("enr-1", "2027-2028")


def test_an_enrolment_before_its_entry_waits_and_is_invoiced_from_the_entry_when_it_arrives(engine, uantwerp_en):
    created = enrolment_created("enr-1", enrolled_at=brussels(2026, 9, 1, 10))
    cancelled = enrolment_cancelled("enr-1", brussels(2026, 10, 1))  # before 1 December: everything back
    bill(engine, uantwerp_en, created)
    bill(engine, uantwerp_en, cancelled)
    assert queued_events(engine) == []
    [kept] = waiting(engine)
    assert (kept.enrolment_id, kept.event_id, kept.per_credit) == ("enr-1", created.id, Decimal("50.00"))
    with Session(engine) as session:
        assert Store(session).invoice("enr-1") is None
        assert [row.event_id for row in Store(session).pending_cancellations()] == [cancelled.id]

    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test"))

    invoiced, reimbursed = queued_events(engine)
    assert (invoiced.type, reimbursed.type) == ("TuitionInvoiced", "ReimbursementCalculated")
    assert invoiced.id == usecases.invoice_event_id("enr-1")
    assert invoiced.time == created.time  # the enrolment's time, not the catalogue's or the clock's
    assert (invoiced.to_json()["data"]["total"], reimbursed.to_json()["data"]["total"]) == ("545.00", "545.00")
    assert waiting(engine) == []
    [resolved] = waiting(engine, domain.INVOICED)
    assert resolved.event_id == created.id and resolved.resolved_at is not None
    with Session(engine) as session:
        assert Store(session).enrolment("enr-1").created_event_id == created.id


def test_a_waiting_enrolment_that_disagrees_is_kept_as_rejected_and_its_cancellation_keeps_waiting(engine, uantwerp_en):
    forged = enrolment_created("enr-1", per_credit="5.00")
    bill(engine, uantwerp_en, forged)
    bill(engine, uantwerp_en, enrolment_cancelled("enr-1", brussels(2026, 10, 1)))
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test"))

    assert queued_events(engine) == []
    [rejected] = waiting(engine, domain.REJECTED)
    assert rejected.event_id == forged.id and "per_credit 5.00 (catalogue: 50.00)" in rejected.status_reason
    with Session(engine) as session:
        assert Store(session).invoice("enr-1") is None
        # Like a cancellation of an enrolment that went to the DLQ: it waits for a corrected EnrolmentCreated.
        assert len(Store(session).pending_cancellations()) == 1

    bill(engine, uantwerp_en, enrolment_created("enr-1"))  # the corrected one: agrees, invoiced at once
    assert [event.type for event in queued_events(engine)] == ["TuitionInvoiced", "ReimbursementCalculated"]


def test_two_waiting_announcements_of_one_enrolment_invoice_it_once(engine, uantwerp_en):
    first = enrolment_created("enr-1")
    again = enrolment_created("enr-1", enrolled_at=first.data.enrolled_at)  # same content, new event id
    bill(engine, uantwerp_en, first)
    bill(engine, uantwerp_en, again)
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test"))
    assert [event.type for event in queued_events(engine)] == ["TuitionInvoiced"]
    assert [row.event_id for row in waiting(engine, domain.INVOICED)] == [first.id]
    assert [row.event_id for row in waiting(engine, domain.ALREADY_INVOICED)] == [again.id]


def test_a_catalogue_entry_dated_beyond_the_clock_skew_is_refused(engine, uantwerp_en):
    now = datetime.now(UTC)
    future = catalogue_entry("mc-test", per_credit="1.00", time=now + timedelta(hours=1))
    with transaction(engine) as session, pytest.raises(RejectEvent) as rejected:
        catalogue.record_catalogue_event(Store(session), future, uantwerp_en, now)
    assert "2026-2027/mc-test" in rejected.value.reason and "ahead of this service's clock" in rejected.value.reason
    with Session(engine) as session:
        assert Store(session).catalogue_entries() == []

    # Within the skew (a campus clock a minute ahead) it is taken.
    slightly_ahead = catalogue_entry("mc-test", time=now + timedelta(minutes=1))
    with transaction(engine) as session:
        catalogue.record_catalogue_event(Store(session), slightly_ahead, uantwerp_en, now)
    with Session(engine) as session:
        assert [row.event_id for row in Store(session).catalogue_entries()] == [slightly_ahead.id]


def test_the_latest_entry_by_event_time_prices_and_an_older_one_arriving_later_changes_nothing(engine, uantwerp_en):
    newer = catalogue_entry("mc-test", per_credit="60.00", time=brussels(2026, 7, 1))
    older = catalogue_entry("mc-test", per_credit="10.00", time=brussels(2026, 6, 1))
    record_catalogue(engine, uantwerp_en, newer, older)
    with Session(engine) as session:
        [current] = Store(session).catalogue_entries()
    assert (current.event_id, current.per_credit) == (newer.id, Decimal("60.00"))
    with pytest.raises(RejectEvent, match=r"per_credit 10.00 \(catalogue: 60.00\)"):
        bill(engine, uantwerp_en, enrolment_created("enr-old-terms", per_credit="10.00"))
    bill(engine, uantwerp_en, enrolment_created("enr-1", per_credit="60.00"))
    # 6 x 60.00 + 245.00 = 605.00
    [invoiced] = queued_of_type(engine, "TuitionInvoiced")
    assert invoiced.to_json()["data"]["total"] == "605.00"


def test_a_new_entry_does_not_change_an_invoice_already_made(engine, uantwerp_en):
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test", time=brussels(2026, 6, 1)))
    bill(engine, uantwerp_en, enrolment_created("enr-1"))
    record_catalogue(engine, uantwerp_en, catalogue_entry("mc-test", per_credit="80.00", time=brussels(2026, 10, 1)))
    with Session(engine) as session:
        assert Store(session).invoice("enr-1").total == Decimal("545.00")
    assert len(queued_of_type(engine, "TuitionInvoiced")) == 1


# --- the order of the two topics does not change the invoices ------------------------------------------------

ENROLLED_AT = brussels(2026, 9, 15, 10)
HONEST = [
    enrolment_created("enr-a", enrolled_at=ENROLLED_AT, event_id="created-a"),
    enrolment_created("enr-b", courses=[("B", "4", 2)], microcredential_id="mc-b", enrolled_at=ENROLLED_AT,
                      event_id="created-b"),
]  # fmt: skip
STREAM = [
    HONEST[0],
    enrolment_cancelled("enr-a", brussels(2026, 12, 2), event_id="cancel-a"),
    enrolment_created("enr-forged", per_credit="1.00", enrolled_at=ENROLLED_AT, event_id="created-forged"),
    HONEST[1],
    enrolment_cancelled("enr-b", brussels(2026, 11, 2), event_id="cancel-b"),
]
CATALOGUE = [catalogue_entry_for(HONEST[0], event_id="entry-a"), catalogue_entry_for(HONEST[1], event_id="entry-b")]


def billing_outcome(directory, interleaving):
    """Invoices, reimbursements and the billing events (bytes) after applying the interleaving one at a time."""
    step, engine = billing_step(f"sqlite:///{directory}/billing.db", catalogue=[])
    for event in interleaving:
        step._apply_batch(records_of([event]))
    tables = contents(engine)
    engine.dispose()
    outbox = sorted((row["key"], row["value"]) for row in tables["outbox"])
    return tables["billing_invoice"], tables["billing_reimbursement"], tables["billing_invoice_line"], outbox


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(positions=st.lists(st.integers(0, len(STREAM)), min_size=len(CATALOGUE), max_size=len(CATALOGUE)))
def test_where_the_catalogue_falls_among_the_enrolment_events_changes_no_invoice(tmp_path_factory, positions):
    interleaving = list(STREAM)
    for entry, position in sorted(zip(CATALOGUE, positions, strict=True), key=lambda pair: -pair[1]):
        interleaving.insert(position, entry)
    reference = billing_outcome(tmp_path_factory.mktemp("first"), [*CATALOGUE, *STREAM])
    assert billing_outcome(tmp_path_factory.mktemp("interleaved"), interleaving) == reference
    invoices, reimbursements, _, outbox = reference
    assert [row["enrolment_id"] for row in invoices] == ["enr-a", "enr-b"]  # never the forged one
    assert [row["enrolment_id"] for row in reimbursements] == ["enr-a", "enr-b"]
    assert len(outbox) == 4


def test_the_catalogue_last_invoices_what_the_catalogue_first_does(tmp_path):
    """Spelled out, the two extremes of the property above (a rebuild may read either topic first)."""
    for name in ("catalogue-first", "catalogue-last"):
        (tmp_path / name).mkdir()
    first = billing_outcome(tmp_path / "catalogue-first", [*CATALOGUE, *STREAM])
    last = billing_outcome(tmp_path / "catalogue-last", [*STREAM, *CATALOGUE])
    assert first == last
    invoices, _, lines, _ = last
    # enr-a: 6 x 50.00 + 245.00 = 545.00; enr-b: 4 x 50.00 + 245.00 = 445.00.
    assert [(row["enrolment_id"], str(row["total"])) for row in invoices] == [("enr-a", "545.00"), ("enr-b", "445.00")]
    assert [(row["enrolment_id"], row["semester"], str(row["amount"])) for row in lines] == [
        ("enr-a", 1, "300.00"),
        ("enr-b", 2, "200.00"),
    ]
