"""The source allow-list: the loader (unit) and the consumer's refusal before any handler runs (real broker)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from contracts.examples import example_events
from reliability import provenance
from reliability.consumer import ConsumerSettings, IdempotentConsumer, Record
from reliability.provenance import (
    REPOSITORY_EVENT_SOURCES,
    EventSources,
    EventSourcesError,
    event_sources_path,
    load_event_sources,
)
from reliability.runtime import ServiceRuntime
from reliability.settings import ServiceSettings
from reliability.topics import ensure_topics
from sqlmodel import Session

from contracts import CloudEvent, EnrolmentCancelled, new_event, topics
from tests.kit.kit_support import AppliedEvent, applied_counts, make_engine, publish, record_cancellation
from tests.kit.test_kit_consumer import FAST_RETRY, read_all, run_until

STUDENT_ADMINISTRATION = "/campus/student-administration"
EXAM_ADMINISTRATION = "/campus/exam-administration"
ENROLMENT_SERVICE = "/services/enrolment"

VALID_FILE = """
topics:
  enrolment.events:
    EnrolmentCreated: [/services/enrolment]
    EnrolmentCancelled: [/services/enrolment, /campus/student-administration]
  assessment.events:
    CourseCompleted: [/campus/exam-administration]
  catalogue.microcredentials:
    MicroCredentialPublished: [/services/enrolment]
  billing.events:
    TuitionInvoiced: [/services/billing]
    ReimbursementCalculated: []
  certification.events:
    CredentialIssued: [/services/certification]
    CredentialRevoked: [/services/certification]
  certification.notifications:
    CredentialOfferCreated: [/services/certification]
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "event-sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the loader -------------------------------------------------------------------------------------------------


def test_the_repository_allow_list_accepts_each_system_only_for_what_it_publishes() -> None:
    sources = load_event_sources(REPOSITORY_EVENT_SOURCES)
    for event_type in ("EnrolmentCreated", "EnrolmentCancelled"):
        assert sources.refusal("enrolment.events", event_type, ENROLMENT_SERVICE) is None
        assert sources.refusal("enrolment.events", event_type, STUDENT_ADMINISTRATION) is None
        assert sources.refusal("enrolment.events", event_type, EXAM_ADMINISTRATION) is not None
    assert sources.refusal("assessment.events", "CourseCompleted", EXAM_ADMINISTRATION) is None
    assert sources.refusal("assessment.events", "CourseCompleted", STUDENT_ADMINISTRATION) is not None
    # Certification and billing consume the catalogue: only the enrolment service may publish it.
    assert sources.refusal("catalogue.microcredentials", "MicroCredentialPublished", ENROLMENT_SERVICE) is None
    for campus in (STUDENT_ADMINISTRATION, EXAM_ADMINISTRATION, "/services/billing"):
        assert sources.refusal("catalogue.microcredentials", "MicroCredentialPublished", campus) is not None
    assert sources.refusal("billing.events", "TuitionInvoiced", "/services/billing") is None
    assert sources.refusal("certification.events", "CredentialIssued", "/services/certification") is None
    assert sources.refusal("certification.events", "CredentialIssued", ENROLMENT_SERVICE) is not None


def test_sources_are_exact_strings_not_prefixes() -> None:
    sources = load_event_sources(REPOSITORY_EVENT_SOURCES)
    for near_miss in ("/services/enrolment/", "/services/enrolment/x", "/services", "/Services/enrolment", ""):
        reason = sources.refusal("catalogue.microcredentials", "MicroCredentialPublished", near_miss)
        assert reason is not None and reason.startswith("source not allowed")


def test_a_refusal_names_the_source_type_and_topic() -> None:
    reason = load_event_sources(REPOSITORY_EVENT_SOURCES).refusal(
        "enrolment.events", "EnrolmentCreated", "/campus/forger"
    )
    assert reason == (
        "source not allowed: '/campus/forger' may not publish EnrolmentCreated on enrolment.events "
        "by the event-source allow-list"
    )


def test_a_very_long_forged_source_is_cut_short_in_the_reason() -> None:
    reason = load_event_sources(REPOSITORY_EVENT_SOURCES).refusal("assessment.events", "CourseCompleted", "/x" * 900)
    assert reason is not None and len(reason) < 350


def test_an_empty_list_accepts_no_source(tmp_path: Path) -> None:
    sources = load_event_sources(written(tmp_path, VALID_FILE))
    assert sources.refusal("billing.events", "ReimbursementCalculated", "/services/billing") is not None
    assert sources.refusal("enrolment.events", "EnrolmentCreated", STUDENT_ADMINISTRATION) is not None
    assert sources.refusal("enrolment.events", "EnrolmentCancelled", STUDENT_ADMINISTRATION) is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("  assessment.events:\n", "  assesment.events:\n"), "assesment.events / CourseCompleted: not an event type"),
        (("CourseCompleted:", "CourseCompletd:"), "assessment.events / CourseCompletd: not an event type"),
        (("    TuitionInvoiced: [/services/billing]\n", ""), "billing.events / TuitionInvoiced: not listed"),
        (("TuitionInvoiced: [/services/billing]", "TuitionInvoiced: /services/billing"), "expected a list"),
        (("[/campus/exam-administration]", "[/campus/exam administration]"), "is not a URI-reference"),
        (("[/campus/exam-administration]", "[42]"), "expected a list of source strings"),
    ],
)
def test_a_malformed_file_is_refused_naming_what_is_wrong(tmp_path: Path, change: tuple[str, str], named: str) -> None:
    old, new = change
    assert old in VALID_FILE
    with pytest.raises(EventSourcesError, match="malformed event-source allow-list") as refused:
        load_event_sources(written(tmp_path, VALID_FILE.replace(old, new, 1)))
    assert named in str(refused.value)


def test_a_course_completed_listed_under_the_enrolment_topic_is_refused(tmp_path: Path) -> None:
    text = VALID_FILE.replace(
        "    EnrolmentCreated:", "    CourseCompleted: [/campus/exam-administration]\n    EnrolmentCreated:"
    )
    with pytest.raises(EventSourcesError, match=r"enrolment\.events / CourseCompleted: not an event type"):
        load_event_sources(written(tmp_path, text))


@pytest.mark.parametrize("text", ["topics: [a, b]\n", "just text\n", "topics:\n  enrolment.events: [x]\n", ": : :\n"])
def test_a_file_without_the_expected_shape_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(EventSourcesError):
        load_event_sources(written(tmp_path, text))


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(EventSourcesError, match=r"cannot read the event-source allow-list .*nowhere\.yaml"):
        load_event_sources(tmp_path / "nowhere.yaml")


def test_unset_the_repository_file_is_the_default_and_without_a_checkout_nothing_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert event_sources_path(None) == Path(__file__).resolve().parents[2] / "deploy" / "event-sources.yaml"
    assert event_sources_path(tmp_path / "chosen.yaml") == tmp_path / "chosen.yaml"
    monkeypatch.setattr(provenance, "REPOSITORY_EVENT_SOURCES", tmp_path / "not-a-checkout" / "event-sources.yaml")
    with pytest.raises(EventSourcesError, match="EVENT_SOURCES_FILE is not set"):
        event_sources_path(None)


def test_the_setting_comes_from_event_sources_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENT_SOURCES_FILE", str(tmp_path / "sources.yaml"))
    assert ServiceSettings().event_sources_file == tmp_path / "sources.yaml"
    monkeypatch.delenv("EVENT_SOURCES_FILE")
    assert ServiceSettings().event_sources_file is None


# --- on the real broker -----------------------------------------------------------------------------------------


def cancellation_from(source: str, enrolment_id: str) -> CloudEvent[EnrolmentCancelled]:
    return new_event(
        EnrolmentCancelled(enrolment_id=enrolment_id, cancelled_at=datetime(2026, 11, 30, 12, tzinfo=UTC)),
        source=source,
        event_id=str(uuid.uuid4()),
    )


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    prefix = f"src{uuid.uuid4().hex[:8]}."
    names = [topics.ENROLMENT_EVENTS, topics.dead_letter_topic(topics.ENROLMENT_EVENTS)]
    await ensure_topics(kafka_bootstrap, [prefix + name for name in names], partitions=3)
    return prefix


def settings_for(bootstrap: str, prefix: str, sources: EventSources) -> ConsumerSettings:
    return ConsumerSettings(
        name="kit-sources",
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}group",
        topics=[topics.ENROLMENT_EVENTS],
        topic_prefix=prefix,
        retry=FAST_RETRY,
        poll_timeout_ms=100,
        sources=sources,
    )


FORGERIES = {
    "enr-forged": "/campus/forged-sis",  # a system nobody provisioned
    "enr-exams": EXAM_ADMINISTRATION,  # a real system, on a topic that is not its own
    "enr-prefix": "/services/enrolment/admin",  # a real source id with a tail
}


@pytest.mark.parametrize("path", ["per-event", "batch"])
async def test_a_forged_source_is_dead_lettered_before_any_handler_and_the_partition_goes_on(
    kafka_bootstrap: str, prefix: str, producer, tmp_path: Path, path: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/kit.db")
    seen_by_handlers: list[str] = []

    def per_event(session: Session, event: CloudEvent[EnrolmentCancelled]) -> None:
        seen_by_handlers.append(event.id)
        record_cancellation(session, event)

    def batch(session: Session, events: Sequence[tuple[Record, CloudEvent[EnrolmentCancelled]]]) -> None:
        for _, event in events:
            seen_by_handlers.append(event.id)
            session.add(AppliedEvent(event_id=event.id, enrolment_id=event.data.enrolment_id))

    forged = [cancellation_from(source, enrolment_id) for enrolment_id, source in FORGERIES.items()]
    # The same keys again from the systems allowed to publish them: same partitions, after the forgeries.
    valid = [cancellation_from(STUDENT_ADMINISTRATION, e) for e in FORGERIES] + [
        cancellation_from(ENROLMENT_SERVICE, "enr-forged")
    ]
    await publish(producer, prefix, [*forged, *valid])

    consumer = IdempotentConsumer(
        settings_for(kafka_bootstrap, prefix, load_event_sources(REPOSITORY_EVENT_SOURCES)),
        engine,
        {"EnrolmentCancelled": per_event},
        producer,
        batch_handler=batch if path == "batch" else None,
    )
    await run_until(consumer, lambda: len(applied_counts(engine)) == len(valid))

    assert applied_counts(engine) == {event.id: 1 for event in valid}
    assert sorted(seen_by_handlers) == sorted(event.id for event in valid)
    dead = await read_all(kafka_bootstrap, prefix + topics.dead_letter_topic(topics.ENROLMENT_EVENTS), len(forged))
    assert len(dead) == len(forged)
    reasons = {record.key.decode(): dict(record.headers)["dlq-reason"].decode() for record in dead}
    for enrolment_id, source in FORGERIES.items():
        assert reasons[enrolment_id] == (
            f"source not allowed: '{source}' may not publish EnrolmentCancelled on enrolment.events "
            "by the event-source allow-list"
        )
    assert sorted(record.value for record in dead) == sorted(event.to_kafka().value for event in forged)


def test_the_contracts_examples_claim_sources_the_platform_accepts() -> None:
    sources = load_event_sources(REPOSITORY_EVENT_SOURCES)
    for event in example_events().values():
        assert sources.refusal(event.data.topic, event.type, event.source) is None, event.type


async def test_a_service_with_a_malformed_allow_list_refuses_to_start_before_touching_kafka(tmp_path: Path) -> None:
    bad = written(tmp_path, VALID_FILE.replace("    CourseCompleted:", "    CourseCompletd:"))
    settings = ServiceSettings(
        event_sources_file=bad, kafka_bootstrap_servers="127.0.0.1:1", database_url=f"sqlite:///{tmp_path}/s.db"
    )
    runtime = ServiceRuntime(
        service="kit-sources",
        settings=settings,
        engine=make_engine(settings.database_url),
        consumes=[topics.ENROLMENT_EVENTS],
        handlers={"EnrolmentCancelled": record_cancellation},
    )
    with pytest.raises(EventSourcesError, match="CourseCompletd: not an event type"):
        await asyncio.wait_for(runtime.start(), 10)
    assert runtime.producer is None
