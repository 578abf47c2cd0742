"""The demo scenario: a year of micro-credentials in a few minutes, through the platform's real doors.

Students enrol over HTTP; the student administration system publishes enrolments and cancellations of its own
(dated across the 2026-2027 academic year, so each window of the cancellation policy is hit); an exam system
publishes course results, a failed exam and its re-sit included. The e2e tests run the same scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs

from contracts import (
    Course,
    CourseCompleted,
    EnrolmentCancelled,
    EnrolmentCreated,
    Grade,
    MicroCredentialSnapshot,
    Student,
    TuitionTerms,
    new_event,
)
from stack import oracle

YEAR = "2026-2027"
STUDENT_ADMINISTRATION = "/campus/student-administration"
EXAMS = "/campus/exam-administration"


@dataclass(frozen=True)
class Enrolling:
    key: str  # the demo's name for the student, e.g. "alice"
    student_id: str
    given_name: str
    family_name: str
    microcredential_id: str
    via: str  # "http" (the enrolment API, today) or "sis" (published by the student administration)
    enrolled_at: str | None = None  # sis only
    cancelled_at: str | None = None  # None: stays enrolled; "now": cancels over HTTP today
    results: tuple[tuple[int, bool, str], ...] = ()  # (course index, passed, assessed_at)

    @property
    def email(self) -> str:
        return f"{self.given_name.lower()}.{self.family_name.lower()}@student.example.edu"


STUDENTS: tuple[Enrolling, ...] = (
    Enrolling("alice", "s-1001", "Alice", "Verbeke", "mc-eu-policy-making", "http", cancelled_at="now"),
    Enrolling(
        "finn",
        "s-1002",
        "Finn",
        "Maes",
        "mc-research-integrity",
        "http",
        results=((0, True, "2027-01-22T14:00:00+01:00"),),
    ),
    Enrolling(
        "greta",
        "s-1003",
        "Greta",
        "Claes",
        "mc-heritage-adaptive-reuse",
        "http",
        results=(
            (0, True, "2027-01-20T10:00:00+01:00"),
            (1, False, "2027-01-27T10:00:00+01:00"),  # failed ...
            (1, True, "2027-08-28T10:00:00+02:00"),  # ... and passed at the re-sit
        ),
    ),
    Enrolling(
        "hugo",
        "s-1004",
        "Hugo",
        "Janssens",
        "mc-ai-public-services",
        "http",
        results=((0, True, "2027-06-10T10:00:00+02:00"), (1, True, "2027-06-12T10:00:00+02:00")),
    ),
    Enrolling(
        "bram",
        "s-2001",
        "Bram",
        "Peeters",
        "mc-eu-policy-making",
        "sis",
        enrolled_at="2026-09-10T09:00:00+02:00",
        cancelled_at="2026-12-01T09:00:00+01:00",
        results=((0, True, "2027-01-15T10:00:00+01:00"), (1, True, "2027-06-15T10:00:00+02:00")),
    ),
    Enrolling(
        "ines",
        "s-2002",
        "Ines",
        "Wouters",
        "mc-eu-policy-making",
        "sis",
        enrolled_at="2026-09-11T09:00:00+02:00",
        cancelled_at="2026-11-30T23:30:00+00:00",  # 00:30 on 1 Dec in Brussels
    ),
    Enrolling(
        "chloe",
        "s-2003",
        "Chloé",
        "Dubois",
        "mc-data-analysis-python",
        "sis",
        enrolled_at="2026-09-12T09:00:00+02:00",
        cancelled_at="2027-02-10T12:00:00+01:00",
    ),
    Enrolling(
        "dries",
        "s-2004",
        "Dries",
        "Mertens",
        "mc-port-logistics",
        "sis",
        enrolled_at="2026-09-13T09:00:00+02:00",
        cancelled_at="2027-03-14T23:30:00+01:00",
    ),
    Enrolling(
        "emma",
        "s-2005",
        "Emma",
        "Jacobs",
        "mc-sustainable-finance",
        "sis",
        enrolled_at="2026-09-14T09:00:00+02:00",
        cancelled_at="2027-03-15T08:00:00+01:00",
    ),
)


@dataclass
class Outcome:
    """What the scenario did, and what the oracle says must follow from it."""

    enrolment_ids: dict[str, str] = field(default_factory=dict)  # student key -> enrolment id
    cancelled_at: dict[str, datetime] = field(default_factory=dict)
    expected_invoices: dict[str, oracle.Figures] = field(default_factory=dict)
    expected_reimbursements: dict[str, oracle.Figures] = field(default_factory=dict)
    expected_credentials: set[str] = field(default_factory=set)  # student keys
    expected_held: set[str] = field(default_factory=set)
    catalogue: dict[str, dict[str, Any]] = field(default_factory=dict)


def has_credential_metadata(entry: dict[str, Any]) -> bool:
    return not entry.get("missing_credential_metadata")


def harness_security() -> dict[str, Any]:
    """The scenario's own Kafka clients (it plays the exam administration and reads the outputs) authenticate as
    this process's KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* say (`reliability.kafka_security`)."""
    return client_kwargs(KafkaSecuritySettings())


async def run_scenario(
    urls: dict[str, str],
    token: str,
    bootstrap: str,
    topic_prefix: str = "",
    say: Any = print,
    campus: Mapping[str, Mapping[str, Any]] | None = None,
    patience: float = 90.0,
) -> Outcome:
    """Play the year. `campus`: aiokafka security arguments of the student and exam administrations' own Kafka
    principals, so each publishes only what its ACLs allow; without it both publish as the harness. `patience`:
    seconds certification may take to record every enrolment before the results are published (the fuzz
    campaign floods the topics with bad inputs at the same time, and certification reads them all first)."""
    outcome = Outcome()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        listing = (await http.get(f"{urls['enrolment']}/microcredentials", params={"academic_year": YEAR})).json()
        entries = listing["microcredentials"] if isinstance(listing, dict) else listing
        outcome.catalogue = {entry["id"]: entry for entry in entries}
        async with (
            _producer(bootstrap, campus, "student-administration") as registry,
            _producer(bootstrap, campus, "exam-administration") as exams,
        ):
            for student in STUDENTS:
                entry = outcome.catalogue[student.microcredential_id]
                if student.via == "http":
                    await _enrol_over_http(http, urls["enrolment"], student, outcome)
                else:
                    await _publish_from_student_administration(registry, topic_prefix, student, entry, outcome)
                _expect(student, entry, outcome)
                if student.cancelled_at == "now":
                    outcome.expected_reimbursements[student.key] = expected_http_cancellation(outcome, student.key)
            say(
                f"  {len(STUDENTS)} enrolments: {sum(s.via == 'http' for s in STUDENTS)} over HTTP, "
                f"{sum(s.via == 'sis' for s in STUDENTS)} published by the student administration"
            )
            # Exams come months after the cancellations: results are published once certification knows every
            # enrolment's state, as in real life, so a cancelled student's later passes find it cancelled.
            await _wait_until_certification_knows_enrolments(http, urls["certification"], outcome, patience)
            await _publish_results(exams, topic_prefix, outcome)
            say(f"  {sum(len(s.results) for s in STUDENTS)} course results published by the exam administration")
    return outcome


@contextlib.asynccontextmanager
async def _producer(
    bootstrap: str, campus: Mapping[str, Mapping[str, Any]] | None, system: str
) -> AsyncIterator[AIOKafkaProducer]:
    security = dict(campus[system]) if campus is not None else harness_security()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", **security)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _enrol_over_http(http: httpx.AsyncClient, base: str, student: Enrolling, outcome: Outcome) -> None:
    body = {
        "student": {
            "id": student.student_id,
            "given_name": student.given_name,
            "family_name": student.family_name,
            "email": student.email,
        },
        "microcredential_id": student.microcredential_id,
        "academic_year": YEAR,
    }
    response = await http.post(f"{base}/enrolments", json=body)
    response.raise_for_status()
    enrolment = response.json()
    outcome.enrolment_ids[student.key] = enrolment["id"]
    if student.cancelled_at == "now":
        cancelled = await http.post(
            f"{base}/enrolments/{enrolment['id']}/cancellation", json={"reason": "changed jobs"}
        )
        cancelled.raise_for_status()
        cancellation = (await http.get(f"{base}/enrolments/{enrolment['id']}")).json()["cancelled_at"]
        outcome.cancelled_at[student.key] = datetime.fromisoformat(cancellation)


async def _publish_from_student_administration(
    producer: AIOKafkaProducer, prefix: str, student: Enrolling, entry: dict[str, Any], outcome: Outcome
) -> None:
    enrolment_id = f"sis-{YEAR}-{student.student_id}"
    outcome.enrolment_ids[student.key] = enrolment_id
    created = EnrolmentCreated(
        enrolment_id=enrolment_id,
        student=Student(
            id=student.student_id,
            given_name=student.given_name,
            family_name=student.family_name,
            email=student.email,
        ),
        microcredential=MicroCredentialSnapshot(
            id=entry["id"],
            title=entry["title"],
            academic_year=YEAR,
            courses=[Course.model_validate(course) for course in entry["courses"]],
        ),
        tuition=TuitionTerms.model_validate(entry["tuition"]),
        enrolled_at=datetime.fromisoformat(student.enrolled_at or ""),
    )
    events: list[Any] = [new_event(created, source=STUDENT_ADMINISTRATION)]
    if student.cancelled_at:
        cancelled_at = datetime.fromisoformat(student.cancelled_at)
        outcome.cancelled_at[student.key] = cancelled_at
        events.append(
            new_event(
                EnrolmentCancelled(enrolment_id=enrolment_id, cancelled_at=cancelled_at, reason="student request"),
                source=STUDENT_ADMINISTRATION,
            )
        )
    for event in events:
        await _send(producer, prefix, event)


async def _wait_until_certification_knows_enrolments(
    http: httpx.AsyncClient, base: str, outcome: Outcome, patience: float = 90.0
) -> None:
    async def known() -> bool:
        for student in STUDENTS:
            response = await http.get(f"{base}/enrolments/{outcome.enrolment_ids[student.key]}/progress")
            if response.status_code != 200:
                return False
            if student.cancelled_at and response.json()["status"] != "cancelled":
                return False
        return True

    await wait_for(known, patience, "certification to record every enrolment and cancellation")


async def _publish_results(producer: AIOKafkaProducer, prefix: str, outcome: Outcome) -> None:
    for student in STUDENTS:
        courses = outcome.catalogue[student.microcredential_id]["courses"]
        for index, passed, assessed_at in student.results:
            result = CourseCompleted(
                enrolment_id=outcome.enrolment_ids[student.key],
                course_id=courses[index]["id"],
                passed=passed,
                grade=Grade(value="14" if passed else "7", scale="0-20"),
                assessed_at=datetime.fromisoformat(assessed_at),
                assessment_type="written exam",
                supervised=True,
                identity_verified=True,
            )
            await _send(producer, prefix, new_event(result, source=EXAMS))


async def _send(producer: AIOKafkaProducer, prefix: str, event: Any) -> None:
    record = event.to_kafka()
    await producer.send_and_wait(prefix + record.topic, key=record.key, value=record.value, headers=record.headers)


def _expect(student: Enrolling, entry: dict[str, Any], outcome: Outcome) -> None:
    courses = [(Decimal(str(course["credits"])), int(course["semester"])) for course in entry["courses"]]
    tuition = entry["tuition"]
    invoiced = oracle.invoice(courses, Decimal(tuition["per_credit"]), Decimal(tuition["fixed_fee"]))
    outcome.expected_invoices[student.key] = invoiced
    if student.cancelled_at and student.cancelled_at != "now":
        cancelled_at = datetime.fromisoformat(student.cancelled_at)
        outcome.expected_reimbursements[student.key] = oracle.reimbursement(invoiced, YEAR, cancelled_at)
    passed_all = _passes_every_course(student, len(courses))
    if not student.cancelled_at and passed_all:
        (outcome.expected_credentials if has_credential_metadata(entry) else outcome.expected_held).add(student.key)


def expected_http_cancellation(outcome: Outcome, key: str) -> oracle.Figures:
    """The reimbursement of a cancellation made over HTTP 'now', known only once the service answered."""
    return oracle.reimbursement(outcome.expected_invoices[key], YEAR, outcome.cancelled_at[key])


def _passes_every_course(student: Enrolling, course_count: int) -> bool:
    latest: dict[int, tuple[str, bool]] = {}
    for index, passed, assessed_at in student.results:
        when = datetime.fromisoformat(assessed_at).isoformat()
        if index not in latest or datetime.fromisoformat(when) > datetime.fromisoformat(latest[index][0]):
            latest[index] = (when, passed)
    return len(latest) == course_count and all(passed for _, passed in latest.values())


async def read_topic(bootstrap: str, topic: str, settle_ms: int = 1500) -> list[dict[str, Any]]:
    """Every CloudEvent on `topic`, from the beginning to the current end."""
    reader = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **harness_security(),
    )
    await reader.start()
    events: list[dict[str, Any]] = []
    try:
        while True:
            batches = await reader.getmany(timeout_ms=settle_ms)
            if not batches:
                return events
            for batch in batches.values():
                events += [json.loads(record.value) for record in batch]
    finally:
        await reader.stop()


async def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)
