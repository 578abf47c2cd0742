"""Two replicas handling an enrolment and its overtaking cancellation at the same moment lose neither.

The cancellation (partition 1) and the enrolment (partition 0) may be applied by two replicas at once. Without
a per-enrolment lock, on PostgreSQL each transaction misses the other's uncommitted row: the cancellation is
stored as waiting, the enrolment finds nothing waiting, and the cancellation waits forever.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from billing import usecases
from billing.store import Store
from billing.usecases import catalogue
from reliability.database import transaction
from sqlmodel import Session

from tests.billing.billing_support import (
    brussels,
    catalogue_entry_for,
    enrolment_cancelled,
    enrolment_created,
    ensure_catalogue_entry,
)


def test_an_enrolment_arriving_while_its_cancellation_is_being_stored_settles_it(engine, uantwerp_en):
    cancellation = enrolment_cancelled("enr-race", brussels(2026, 10, 1))
    creation = enrolment_created("enr-race")
    ensure_catalogue_entry(engine, uantwerp_en, creation)
    cancellation_stored = threading.Event()
    errors: list[BaseException] = []

    def replica_a() -> None:
        try:
            with transaction(engine) as session:
                usecases.bill_enrolment_event(Store(session), cancellation, uantwerp_en)
                cancellation_stored.set()
                threading.Event().wait(0.5)  # still uncommitted while replica B handles the enrolment
        except BaseException as error:
            errors.append(error)
            cancellation_stored.set()

    def replica_b() -> None:
        cancellation_stored.wait(10)
        try:
            with transaction(engine) as session:
                usecases.bill_enrolment_event(Store(session), creation, uantwerp_en)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=replica_a), threading.Thread(target=replica_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []

    with Session(engine) as session:
        assert Store(session).pending_cancellations() == []
        reimbursement = Store(session).reimbursement("enr-race")
    # 1 October: full refund, 6 x 50.00 + 245.00 = 545.00.
    assert reimbursement is not None and reimbursement.total == 545
    assert reimbursement.cancellation_event_id == cancellation.id


def test_a_catalogue_entry_recorded_while_its_enrolment_is_being_kept_waiting_invoices_it(engine, uantwerp_en):
    """The same race across the two topics: replica A keeps an enrolment waiting for its entry (uncommitted)
    while replica B records that entry. Without the catalogue-key lock B would find nothing waiting."""
    creation = enrolment_created("enr-race")
    entry = catalogue_entry_for(creation)
    waiting_stored = threading.Event()
    errors: list[BaseException] = []

    def replica_a() -> None:
        try:
            with transaction(engine) as session:
                usecases.bill_enrolment_event(Store(session), creation, uantwerp_en)
                waiting_stored.set()
                threading.Event().wait(0.5)  # still uncommitted while replica B records the entry
        except BaseException as error:
            errors.append(error)
            waiting_stored.set()

    def replica_b() -> None:
        waiting_stored.wait(10)
        try:
            with transaction(engine) as session:
                catalogue.record_catalogue_event(Store(session), entry, uantwerp_en, datetime.now(UTC))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=replica_a), threading.Thread(target=replica_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []

    with Session(engine) as session:
        assert Store(session).waiting_enrolments() == []
        invoice = Store(session).invoice("enr-race")
    # 6 x 50.00 + 245.00 = 545.00
    assert invoice is not None and invoice.total == 545
