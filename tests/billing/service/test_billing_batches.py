"""Billing applies a whole batch at once (the kit's batch handler); the outcome must not depend on the batching.

The same stream of enrolment events goes through the kit's consumer step twice: cut into random batches (the
batch handler, and the kit's per-event fallback after a rejection), and one event per transaction. Streams mix
what replays and several producers deliver: cancellations before their enrolment (waiting, then settled,
superseded or rejected), repeated and conflicting EnrolmentCreated, second cancellations, cancellations dated
before the enrolment, redelivered messages, enrolments that disagree with the catalogue. Stored rows, queued
events (bytes, in order) and dead letters must be the same. The figures themselves are checked by hand in
test_billing_handlers.py.

The catalogue entries come first here; the order of the two topics is the subject of
test_billing_catalogue.py.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiokafka.structs import ConsumerRecord
from billing import domain, usecases
from billing.adapters.policy_files import load_builtin_policy
from billing.bootstrap import MIGRATIONS
from billing.entrypoints import kafka
from billing.store import TABLES, PendingCancellationRow, ReimbursementRow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.consumer import ConsumerSettings, IdempotentConsumer
from reliability.database import create_database_engine
from reliability.migrations import upgrade_to_head
from reliability.tables import OutboxMessage
from sqlalchemy import select
from sqlalchemy.engine import Engine

from contracts import CloudEvent
from tests.billing.billing_support import brussels, catalogue_entry, enrolment_cancelled, enrolment_created

POLICY = load_builtin_policy("uantwerp-en", 1)
ENROLLED_AT = brussels(2026, 9, 15, 10)
# One date in each policy window, and one before the enrolment itself (rejected, or kept as rejected).
CANCELLATION_DATES = [brussels(2026, 11, 2), brussels(2027, 1, 10), brussels(2027, 4, 1), brussels(2026, 9, 1)]
ENROLMENTS = ["enr-a", "enr-b", "enr-c"]
AB_COURSES = (("A", "6", 1), ("B", "4", 2))
C_COURSES = (("C", "3", 2),)
# What the enrolment service published: enr-a and enr-b are in mc-test, enr-c in mc-c, all at 50.00 per credit;
# an enrolment with "other terms" (60.00) disagrees with it.
CATALOGUE = [catalogue_entry("mc-test", courses=AB_COURSES), catalogue_entry("mc-c", courses=C_COURSES)]
# Rows written at processing time carry the clock; everything else must match.
CLOCK_COLUMNS = {"recorded_at", "received_at", "resolved_at", "processed_at", "created_at", "published_at"}
# Likewise the trace context an outbox row carries once a tracer provider is installed (tests/kit/ installs one
# for the rest of the session): fresh span ids per run. The other headers must match.
TRACE_HEADERS = {"traceparent", "tracestate"}

steps = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(ENROLMENTS), st.sampled_from(["terms", "other terms"])),
        st.tuples(st.just("cancel"), st.sampled_from(ENROLMENTS), st.integers(0, len(CANCELLATION_DATES) - 1)),
        st.tuples(st.just("redeliver"), st.integers(0, 50), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


def stream_of(plan: list[tuple[str, Any, Any]]) -> list[CloudEvent[Any]]:
    events: list[CloudEvent[Any]] = []
    for action, subject, detail in plan:
        if action == "create":
            per_credit = "50.00" if detail == "terms" else "60.00"
            courses, microcredential = (AB_COURSES, "mc-test") if subject != "enr-c" else (C_COURSES, "mc-c")
            events.append(
                enrolment_created(
                    subject,
                    courses=courses,
                    per_credit=per_credit,
                    enrolled_at=ENROLLED_AT,
                    microcredential_id=microcredential,
                )
            )
        elif action == "cancel":
            events.append(enrolment_cancelled(subject, CANCELLATION_DATES[detail]))
        elif events:
            events.append(events[subject % len(events)])  # the same message again: same source and id
    return events


def records_of(events: list[CloudEvent[Any]]) -> list[ConsumerRecord[bytes, bytes]]:
    records = []
    for offset, event in enumerate(events):
        kafka = event.to_kafka()
        records.append(
            ConsumerRecord(
                topic=kafka.topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=kafka.key,
                value=kafka.value, checksum=None, serialized_key_size=len(kafka.key or b""),
                serialized_value_size=len(kafka.value), headers=tuple(kafka.headers),
            )
        )  # fmt: skip
    return records


def billing_step(url: str, catalogue: list[CloudEvent[Any]] = CATALOGUE) -> tuple[IdempotentConsumer, Engine]:
    """The kit's consume step as `python -m billing` wires it, without the broker around it; `catalogue` is
    applied first."""
    upgrade_to_head(url, MIGRATIONS)
    engine = create_database_engine(url)
    settings = ConsumerSettings(name="billing", bootstrap_servers="unused", group_id="billing", topics=[])
    step = IdempotentConsumer(
        settings,
        engine,
        {},
        producer=None,  # type: ignore[arg-type]  # dead letters are returned, not sent, by this step
        subscribers=kafka.subscribers(POLICY),
    )
    if catalogue:
        outcome = step._apply_batch(records_of(catalogue))
        assert outcome.applied == len(catalogue) and not outcome.dead_letters
    return step, engine


def contents(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    tables = {table.name: table for table in TABLES}
    tables["outbox"] = OutboxMessage.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return {
            name: [
                without_run_noise(dict(row._mapping))
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for name, table in tables.items()
        }


def without_run_noise(row: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in row.items() if key not in CLOCK_COLUMNS}
    if "headers" in kept:
        kept["headers"] = [header for header in kept["headers"] if header[0] not in TRACE_HEADERS]
    return kept


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, cuts=st.lists(st.integers(1, 25), max_size=6))
def test_any_batching_stores_and_announces_what_one_event_at_a_time_does(tmp_path_factory, plan, cuts):
    events = stream_of(plan)
    records = records_of(events)
    directory = tmp_path_factory.mktemp("batches")
    one_by_one, one_by_one_db = billing_step(f"sqlite:///{directory}/one.db")
    batched, batched_db = billing_step(f"sqlite:///{directory}/batched.db")

    rejected_one_by_one = [reason for record in records for _, reason in one_by_one._apply_batch([record]).dead_letters]
    bounds = sorted({0, len(records), *(cut for cut in cuts if cut < len(records))})
    rejected_batched = [
        reason
        for start, end in itertools.pairwise(bounds)
        for _, reason in batched._apply_batch(records[start:end]).dead_letters
    ]

    assert rejected_batched == rejected_one_by_one
    assert contents(batched_db) == contents(one_by_one_db)
    one_by_one_db.dispose()
    batched_db.dispose()


def test_a_batch_settles_a_cancellation_that_arrived_earlier_in_the_same_batch(engine):
    """Spelled out, one case of the above on both databases: cancel, cancel again, then the enrolment."""
    step, _ = billing_step(str(engine.url.render_as_string(hide_password=False)))
    first, second = (enrolment_cancelled("enr-1", brussels(2026, 11, 2 + n)) for n in range(2))
    created = enrolment_created("enr-1", courses=(("A", "6", 1), ("B", "4", 2)), enrolled_at=ENROLLED_AT)
    outcome = step._apply_batch(records_of([first, second, created]))

    assert outcome.applied == 3 and not outcome.dead_letters
    tables = contents(engine)
    pending = tables[PendingCancellationRow.__tablename__]
    assert [(row["event_id"], row["status"]) for row in pending] == [
        (first.id, domain.SETTLED),
        (second.id, domain.SUPERSEDED),
    ]
    (reimbursement,) = tables[ReimbursementRow.__tablename__]
    # Before 1 December: everything back, 10 credits x 50.00 + the 245.00 fixed fee.
    assert (reimbursement["cancellation_event_id"], str(reimbursement["total"])) == (first.id, "745.00")
    assert [row["event_id"] for row in tables["outbox"]] == [
        usecases.invoice_event_id("enr-1"),
        usecases.reimbursement_event_id("enr-1"),
    ]
