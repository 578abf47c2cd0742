"""Shared by the fault tests: plan a stream of enrolments, publish it the way campus systems do, wait until the
platform is quiet, then compare every topic and HTTP answer with the independent oracle (`stack.oracle`).

Why the checks count DISTINCT event ids: the outbox relay is at-least-once (a crash after publishing but before
marking the row published sends the row again), so the same event may sit on a topic twice. What must hold is
that no enrolment ever gets two *different* invoices, reimbursements or credentials.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition
from opscli.kafka import admin_client, log_bounds, reader, topology
from reliability.kafka_security import KafkaSecuritySettings, client_kwargs
from stack import oracle
from stack.processes import SERVICES, Stack
from stack.scenario import EXAMS, STUDENT_ADMINISTRATION, YEAR

from contracts import (
    CloudEvent,
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
from contracts import topics as contract

# Cancellation instants over every window of the policy, the edges in Brussels time included: the oracle, not
# this list, says which window each falls in.
CANCELLATION_DATES = (
    "2026-10-15T10:00:00+02:00",  # full refund
    "2026-11-30T22:59:00+00:00",  # 23:59 on 30 November in Brussels: still a full refund
    "2026-11-30T23:30:00+00:00",  # 00:30 on 1 December in Brussels: second-semester credits only
    "2027-01-20T12:00:00+01:00",
    "2027-03-14T23:30:00+01:00",  # last evening of the second window
    "2027-03-14T23:30:00+00:00",  # 00:30 on 15 March in Brussels: nothing back
    "2027-05-02T09:00:00+02:00",
)

# Which topics each service consumes (reliability.runtime); its group is `consumer_group(stack, service)`.
CONSUMED = {
    "enrolment": (contract.ENROLMENT_EVENTS,),
    "billing": (contract.ENROLMENT_EVENTS, contract.CATALOGUE),
    "certification": (contract.ENROLMENT_EVENTS, contract.ASSESSMENT_EVENTS, contract.CATALOGUE),
}
OUTPUT_TOPICS = (contract.ENROLMENT_EVENTS, contract.BILLING_EVENTS, contract.CERTIFICATION_EVENTS)


# --- the plan: what the campus systems do, and what the oracle says must follow -------------------------------


@dataclass
class Planned:
    """One enrolment of a test. For `via="http"` the id and the cancellation instant are known once the service
    answered; for `via="sis"` the test chooses them."""

    enrolment_id: str
    entry: dict[str, Any]
    student: Student
    via: str = "sis"
    enrolled_at: datetime | None = None
    cancel: bool = False
    cancelled_at: datetime | None = None
    results: list[tuple[int, bool, datetime]] = field(default_factory=list)  # (course index, passed, assessed_at)

    @property
    def courses(self) -> list[dict[str, Any]]:
        return list(self.entry["courses"])

    def invoice(self) -> oracle.Figures:
        courses = [(Decimal(str(c["credits"])), int(c["semester"])) for c in self.courses]
        tuition = self.entry["tuition"]
        return oracle.invoice(courses, Decimal(tuition["per_credit"]), Decimal(tuition["fixed_fee"]))

    def reimbursement(self) -> oracle.Figures | None:
        if not self.cancel:
            return None
        assert self.cancelled_at is not None, f"{self.enrolment_id}: cancellation instant not known yet"
        return oracle.reimbursement(self.invoice(), YEAR, self.cancelled_at)

    def completed(self) -> bool:
        """Every course's latest assessment (by assessed_at) is a pass."""
        latest: dict[int, tuple[datetime, bool]] = {}
        for index, passed, at in self.results:
            if index not in latest or at > latest[index][0]:
                latest[index] = (at, passed)
        return len(latest) == len(self.courses) and all(passed for _, passed in latest.values())

    @property
    def has_metadata(self) -> bool:
        return not self.entry.get("missing_credential_metadata")

    @property
    def expects_credential(self) -> bool:
        return not self.cancel and self.completed() and self.has_metadata

    @property
    def expects_hold(self) -> bool:
        return not self.cancel and self.completed() and not self.has_metadata


def report(text: str) -> None:
    # Shown with `pytest -s`: the figures (kills, retries, settle times) say how hard each test pushed.
    print(f"[faults] {text}", flush=True)


def brussels(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def fetch_catalogue(stack: Stack) -> list[dict[str, Any]]:
    """The 2026-2027 entries as the running enrolment service offers them (the SIS copies them into events)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{stack['enrolment'].base_url}/microcredentials", params={"academic_year": YEAR})
        response.raise_for_status()
        entries = response.json()
    assert entries, "the enrolment service offers no 2026-2027 micro-credentials"
    return sorted(entries, key=lambda entry: entry["id"])


def student(key: str) -> Student:
    return Student(id=f"s-{key}", given_name="Test", family_name=f"Student {key}", email=f"{key}@student.example.edu")


def plan_stream(
    catalogue: Sequence[dict[str, Any]], run: str, count: int, rng: random.Random, *, start: int = 0
) -> list[Planned]:
    """`count` SIS enrolments over every catalogue entry; every second one cancelled at a date spread over the
    policy windows; of the others, most get course results: all passed, a failed exam passed at the re-sit, or
    a last exam failed (no credential)."""
    plans = []
    for n in range(start, start + count):
        entry = catalogue[n % len(catalogue)]
        plan = Planned(
            enrolment_id=f"{run}-{n:03d}",
            entry=entry,
            student=student(f"{run}-{n:03d}"),
            enrolled_at=brussels(f"2026-09-{1 + n % 25:02d}T09:{n % 60:02d}:00+02:00"),
        )
        if n % 2:
            plan.cancel = True
            plan.cancelled_at = brussels(CANCELLATION_DATES[(n // 2) % len(CANCELLATION_DATES)])
        else:
            plan.results = _results(len(plan.courses), plan.courses, kind=(n // 2) % 4, rng=rng)
        plans.append(plan)
    return plans


def _assessed_at(semester: int, day: int) -> datetime:
    return brussels(f"2027-01-{day:02d}T10:00:00+01:00" if semester == 1 else f"2027-06-{day:02d}T10:00:00+02:00")


def _results(
    count: int, courses: list[dict[str, Any]], kind: int, rng: random.Random
) -> list[tuple[int, bool, datetime]]:
    days = [rng.randint(10, 27) for _ in courses]
    passed_all = [(i, True, _assessed_at(int(c["semester"]), days[i])) for i, c in enumerate(courses)]
    if kind == 0:  # all passed
        return passed_all
    if kind == 1:  # first course failed, then passed at the re-sit in August
        return [
            (0, False, _assessed_at(int(courses[0]["semester"]), days[0])),
            *passed_all[1:],
            (0, True, brussels("2027-08-28T10:00:00+02:00")),
        ]
    if kind == 2:  # the last course failed (its re-sit too): no credential
        last = count - 1
        return [
            *passed_all[:last],
            (last, False, _assessed_at(int(courses[last]["semester"]), days[last])),
            (last, False, brussels("2027-08-29T10:00:00+02:00")),
        ]
    return []  # no results at all


def http_plans(catalogue: Sequence[dict[str, Any]], run: str, count: int) -> list[Planned]:
    """Enrolments made over the enrolment API (id chosen by the service); every second one cancelled there."""
    return [
        Planned(
            enrolment_id="",
            entry=catalogue[(n * 3) % len(catalogue)],
            student=student(f"{run}-h{n:02d}"),
            via="http",
            cancel=bool(n % 2),
        )
        for n in range(count)
    ]


# --- the events a campus system publishes -------------------------------------------------------------------


def created_event(plan: Planned, event_id: str | None = None) -> CloudEvent[EnrolmentCreated]:
    entry = plan.entry
    assert plan.enrolled_at is not None
    payload = EnrolmentCreated(
        enrolment_id=plan.enrolment_id,
        student=plan.student,
        microcredential=MicroCredentialSnapshot(
            id=entry["id"],
            title=entry["title"],
            academic_year=YEAR,
            courses=[Course.model_validate(course) for course in entry["courses"]],
        ),
        tuition=TuitionTerms.model_validate(entry["tuition"]),
        enrolled_at=plan.enrolled_at,
    )
    return new_event(payload, source=STUDENT_ADMINISTRATION, event_id=event_id)


def cancelled_event(plan: Planned) -> CloudEvent[EnrolmentCancelled]:
    assert plan.cancelled_at is not None
    payload = EnrolmentCancelled(enrolment_id=plan.enrolment_id, cancelled_at=plan.cancelled_at, reason="fault test")
    return new_event(payload, source=STUDENT_ADMINISTRATION)


def result_events(plan: Planned) -> list[CloudEvent[CourseCompleted]]:
    events = []
    for index, passed, assessed_at in plan.results:
        payload = CourseCompleted(
            enrolment_id=plan.enrolment_id,
            course_id=plan.courses[index]["id"],
            passed=passed,
            grade=Grade(value="14" if passed else "6", scale="0-20"),
            assessed_at=assessed_at,
            assessment_type="written exam",
            supervised=True,
            identity_verified=True,
        )
        events.append(new_event(payload, source=EXAMS))
    return events


def interleaved_events(plans: Iterable[Planned], rng: random.Random) -> list[CloudEvent[Any]]:
    """Every plan's events as one stream: a cancellation some places after its creation, results anywhere
    after it (certification copes with results before enrolments; that is test_duplicates_and_reordering's job)."""
    slots: list[tuple[float, int, CloudEvent[Any]]] = []
    for position, plan in enumerate(plans):
        slots.append((position, len(slots), created_event(plan)))
        if plan.cancel:
            slots.append((position + rng.uniform(0.5, 8), len(slots), cancelled_event(plan)))
        for event in result_events(plan):
            slots.append((position + rng.uniform(0.5, 12), len(slots), event))
    return [event for _, _, event in sorted(slots, key=lambda slot: (slot[0], slot[1]))]


async def send(producer: AIOKafkaProducer, prefix: str, event: CloudEvent[Any]) -> None:
    record = event.to_kafka()
    await producer.send_and_wait(prefix + record.topic, key=record.key, value=record.value, headers=record.headers)


def new_producer(bootstrap: str, *, idempotent: bool = True) -> AIOKafkaProducer:
    """The test's stand-in for the campus systems; it authenticates as the environment says (`harness_identity`)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=idempotent,
        acks="all",
        request_timeout_ms=60000,
        **client_kwargs(KafkaSecuritySettings()),
    )


# --- HTTP that survives a service being killed under it ------------------------------------------------------


class PatientHttp:
    """Retries connection failures and 5xx until a deadline: a killed service refuses connections until it is
    back. `retries` counts them, so a test can show the faults really were in the way."""

    def __init__(self, token: str, deadline_s: float = 120.0) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.deadline_s = deadline_s
        self.retries = 0
        self.conflicts = 0  # POSTs answered 409 because an earlier attempt had committed

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + self.deadline_s
        last = "no attempt"
        while time.monotonic() < deadline:
            try:
                async with httpx.AsyncClient(timeout=10, headers=self.headers) as http:
                    response = await http.request(method, url, **kwargs)
                if response.status_code < 500:
                    return response
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as error:
                last = repr(error)
            self.retries += 1
            await asyncio.sleep(0.4)
        raise TimeoutError(f"{method} {url}: no answer within {self.deadline_s:.0f}s (last: {last})")


async def enrol_over_http(http: PatientHttp, base: str, plan: Planned) -> None:
    """Enrol (and, if planned, cancel) through the API. A POST retried after a crash may already have been
    committed: the 409 'already enrolled' answer names the existing enrolment, which is then the one."""
    body = {
        "student": plan.student.model_dump(mode="json"),
        "microcredential_id": plan.entry["id"],
        "academic_year": YEAR,
    }
    response = await http.request("POST", f"{base}/enrolments", json=body)
    if response.status_code == 201:
        plan.enrolment_id = response.json()["id"]
    elif response.status_code == 409:
        http.conflicts += 1
        plan.enrolment_id = response.json()["error"]["existing_enrolment_id"]
    else:
        raise AssertionError(f"enrolling {plan.student.id}: {response.status_code} {response.text}")
    if not plan.cancel:
        return
    cancelled = await http.request(
        "POST", f"{base}/enrolments/{plan.enrolment_id}/cancellation", json={"reason": "fault test"}
    )
    assert cancelled.status_code == 202, (cancelled.status_code, cancelled.text)
    # A cancellation repeated after a crash keeps the first instant; the stored one is what billing received.
    stored = await http.request("GET", f"{base}/enrolments/{plan.enrolment_id}")
    assert stored.status_code == 200, (stored.status_code, stored.text)
    plan.cancelled_at = datetime.fromisoformat(stored.json()["cancelled_at"])


# --- reading topics -----------------------------------------------------------------------------------------


async def read_records(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in `topic` (up to the end offsets read at the start), without a consumer group."""
    partitions = (await topology(bootstrap)).get(topic, [])
    if not partitions:
        return []
    async with reader(bootstrap) as consumer:
        consumer.assign(partitions)
        _, ends = await log_bounds(consumer, partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for batch in batches.values():
                records.extend(
                    record for record in batch if record.offset < ends[TopicPartition(record.topic, record.partition)]
                )
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    return sorted(records, key=lambda r: (r.partition, r.offset))


def events_by_enrolment(
    records: Iterable[ConsumerRecord[bytes, bytes]], enrolment_ids: set[str]
) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """{(type, enrolment id): {event id: [every copy's data]}} of the given enrolments."""
    found: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record.key is None or record.key.decode() not in enrolment_ids:
            continue
        event = json.loads(record.value)
        found[(event["type"], event["data"]["enrolment_id"])][event["id"]].append(event["data"])
    return found


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    cluster = await topology(bootstrap)
    partitions = [tp for topic in topics for tp in cluster.get(topic, [])]
    async with reader(bootstrap) as consumer:
        _, ends = await log_bounds(consumer, partitions)
    return ends


def consumer_group(stack: Stack, service: str) -> str:
    """The kit's rule: CONSUMER_GROUP if set, else TOPIC_PREFIX + the service name."""
    return stack[service].env.get("CONSUMER_GROUP") or stack.topic_prefix + service


async def total_lag(stack: Stack, bootstrap: str) -> dict[str, int]:
    """Records each service's consumer group has not committed yet, on that service's topics."""
    prefix = stack.topic_prefix
    cluster = await topology(bootstrap)
    lag: dict[str, int] = {}
    groups = {service: consumer_group(stack, service) for service in CONSUMED}
    async with admin_client(bootstrap) as admin:
        committed = {service: await admin.list_consumer_group_offsets(group) for service, group in groups.items()}
    async with reader(bootstrap) as consumer:
        for service, topics in CONSUMED.items():
            partitions = [tp for topic in topics for tp in cluster.get(prefix + topic, [])]
            beginnings, ends = await log_bounds(consumer, partitions)
            lag[service] = 0
            for tp in partitions:
                meta = committed[service].get(tp)
                # Nothing committed yet: a new group starts at the earliest offset, so all of it is lag.
                position = meta.offset if meta is not None and meta.offset >= 0 else beginnings[tp]
                lag[service] += max(ends[tp] - position, 0)
    return lag


# --- waiting until the platform is quiet --------------------------------------------------------------------


async def healthy(stack: Stack) -> list[str]:
    down = []
    async with httpx.AsyncClient(timeout=3) as http:
        for name in SERVICES:
            try:
                response = await http.get(f"{stack[name].base_url}/health")
                if response.status_code != 200:
                    down.append(f"{name}: {response.status_code}")
            except httpx.HTTPError as error:
                down.append(f"{name}: {type(error).__name__}")
    return down


async def missing_outputs(bootstrap: str, prefix: str, plans: Sequence[Planned]) -> list[str]:
    """What the oracle expects that is not on the output topics yet (presence only; exactness comes later)."""
    ids = {plan.enrolment_id for plan in plans}
    billing = events_by_enrolment(await read_records(bootstrap, prefix + contract.BILLING_EVENTS), ids)
    issued = events_by_enrolment(await read_records(bootstrap, prefix + contract.CERTIFICATION_EVENTS), ids)
    missing = []
    for plan in plans:
        if not billing.get(("TuitionInvoiced", plan.enrolment_id)):
            missing.append(f"{plan.enrolment_id}: no TuitionInvoiced")
        if plan.cancel and not billing.get(("ReimbursementCalculated", plan.enrolment_id)):
            missing.append(f"{plan.enrolment_id}: no ReimbursementCalculated")
        if plan.expects_credential and not issued.get(("CredentialIssued", plan.enrolment_id)):
            missing.append(f"{plan.enrolment_id}: no CredentialIssued")
    return missing


async def wait_until_quiet(
    stack: Stack, bootstrap: str, plans: Sequence[Planned], *, timeout: float = 120.0, quiet: float = 3.0
) -> float:
    """Until every service is healthy, every expected output is there, no consumer group lags, and the output
    topics stay unchanged for `quiet` seconds. Returns the seconds it took."""
    prefix = stack.topic_prefix
    started = time.monotonic()
    outputs = [prefix + topic for topic in OUTPUT_TOPICS]
    state: Any = "nothing checked yet"
    while True:
        down = await healthy(stack)
        missing = [] if down else await missing_outputs(bootstrap, prefix, plans)
        lag = {} if down or missing else await total_lag(stack, bootstrap)
        if not down and not missing and not any(lag.values()):
            before = await end_offsets(bootstrap, outputs)
            await asyncio.sleep(quiet)
            lag_after = await total_lag(stack, bootstrap)
            if await end_offsets(bootstrap, outputs) == before and not any(lag_after.values()):
                return time.monotonic() - started
            state = "outputs still changing"
        else:
            state = {"unhealthy": down, "missing": missing[:8], "missing_count": len(missing), "lag": lag}
        if time.monotonic() - started > timeout:
            raise AssertionError(f"platform not quiet after {timeout:.0f}s: {state}\n{stack.log_tails()}")
        await asyncio.sleep(1.0)


# --- the comparison with the oracle -------------------------------------------------------------------------


def _amounts(lines: list[dict[str, Any]], key: str = "amount") -> dict[int, Decimal]:
    return {int(line["semester"]): Decimal(line[key]) for line in lines}


def _same_figures(
    where: str, lines: dict[int, Decimal], fixed_fee: str, total: str, expected: oracle.Figures
) -> list[str]:
    got = (lines, Decimal(fixed_fee), Decimal(total))
    wanted = (expected.lines, expected.fixed_fee, expected.total)
    return [] if got == wanted else [f"{where}: got lines/fixed/total {got}, oracle says {wanted}"]


async def compare_with_oracle(
    stack: Stack, bootstrap: str, plans: Sequence[Planned], stats: dict[str, int] | None = None
) -> list[str]:
    """Every difference between what the platform produced for `plans` and what the oracle computes. `stats`,
    if given, receives how many events appeared more than once (the at-least-once relay at work)."""
    prefix = stack.topic_prefix
    ids = {plan.enrolment_id for plan in plans}
    assert len(ids) == len(plans), "two plans share an enrolment id"
    billing = events_by_enrolment(await read_records(bootstrap, prefix + contract.BILLING_EVENTS), ids)
    certification = events_by_enrolment(await read_records(bootstrap, prefix + contract.CERTIFICATION_EVENTS), ids)
    if stats is not None:
        stats["repeated"] = sum(
            len(copies) > 1 for found in (billing, certification) for ids in found.values() for copies in ids.values()
        )
    problems: list[str] = []
    headers = {"Authorization": f"Bearer {stack.api_token}"}
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        for plan in plans:
            problems += _check_events(plan, billing, certification)
            problems += await _check_statement(http, stack, plan, billing)
            problems += await _check_enrolment(http, stack, plan)
            problems += await _check_progress(http, stack, plan)
    return problems


def _distinct(where: str, copies_by_id: dict[str, list[dict[str, Any]]], expected: int) -> list[str]:
    problems = []
    if len(copies_by_id) != expected:
        problems.append(f"{where}: {len(copies_by_id)} distinct event ids {sorted(copies_by_id)}, expected {expected}")
    for event_id, copies in copies_by_id.items():
        if any(copy != copies[0] for copy in copies):
            problems.append(f"{where}: copies of event {event_id} differ")
    return problems


def _check_events(plan: Planned, billing: Any, certification: Any) -> list[str]:
    eid = plan.enrolment_id
    invoices = billing.get(("TuitionInvoiced", eid), {})
    refunds = billing.get(("ReimbursementCalculated", eid), {})
    issued = certification.get(("CredentialIssued", eid), {})
    problems = _distinct(f"{eid} TuitionInvoiced", invoices, 1)
    problems += _distinct(f"{eid} ReimbursementCalculated", refunds, 1 if plan.cancel else 0)
    problems += _distinct(f"{eid} CredentialIssued", issued, 1 if plan.expects_credential else 0)
    for copies in invoices.values():
        data = copies[0]
        problems += _same_figures(
            f"{eid} TuitionInvoiced", _amounts(data["lines"]), data["fixed_fee"], data["total"], plan.invoice()
        )
    expected_refund = plan.reimbursement()
    for copies in refunds.values():
        data = copies[0]
        if expected_refund is not None:
            problems += _same_figures(
                f"{eid} ReimbursementCalculated",
                _amounts(data["lines"]),
                data["fixed_fee"],
                data["total"],
                expected_refund,
            )
            if datetime.fromisoformat(data["cancelled_at"]) != plan.cancelled_at:
                problems.append(f"{eid}: reimbursement for {data['cancelled_at']}, cancelled at {plan.cancelled_at}")
    return problems


async def _check_statement(http: httpx.AsyncClient, stack: Stack, plan: Planned, billing: Any) -> list[str]:
    eid = plan.enrolment_id
    response = await http.get(f"{stack['billing'].base_url}/enrolments/{eid}/statement")
    if response.status_code != 200:
        return [f"{eid}: statement {response.status_code} {response.text[:200]}"]
    statement = response.json()
    invoice = statement["invoice"]
    problems = _same_figures(
        f"{eid} statement invoice", _amounts(invoice["lines"]), invoice["fixed_fee"], invoice["total"], plan.invoice()
    )
    if invoice["event_id"] not in billing.get(("TuitionInvoiced", eid), {}):
        problems.append(f"{eid}: statement's invoice event {invoice['event_id']} is not on billing.events")
    refund = statement["reimbursement"]
    expected = plan.reimbursement()
    if (refund is None) != (expected is None):
        problems.append(f"{eid}: statement reimbursement {refund}, oracle {expected}")
    elif refund is not None and expected is not None:
        problems += _same_figures(
            f"{eid} statement reimbursement",
            _amounts(refund["lines"], "refunded"),
            refund["fixed_fee"],
            refund["total"],
            expected,
        )
        # Rule names are billing's own labels (e.g. "second-semester-only-full-refund" where the oracle says
        # "full-refund"); the amounts above are what the policy prescribes.
        if refund["event_id"] not in billing.get(("ReimbursementCalculated", eid), {}):
            problems.append(f"{eid}: statement's reimbursement event {refund['event_id']} is not on billing.events")
    return problems


async def _check_enrolment(http: httpx.AsyncClient, stack: Stack, plan: Planned) -> list[str]:
    eid = plan.enrolment_id
    response = await http.get(f"{stack['enrolment'].base_url}/enrolments/{eid}")
    if response.status_code != 200:
        return [f"{eid}: enrolment service answers {response.status_code} {response.text[:200]}"]
    body = response.json()
    problems = []
    if body["status"] != ("cancelled" if plan.cancel else "active"):
        problems.append(f"{eid}: enrolment service says {body['status']}")
    if plan.cancel and (
        body["cancelled_at"] is None or datetime.fromisoformat(body["cancelled_at"]) != plan.cancelled_at
    ):
        problems.append(f"{eid}: enrolment service cancelled_at {body['cancelled_at']}, expected {plan.cancelled_at}")
    if plan.via == "sis" and body["origin"] != STUDENT_ADMINISTRATION:
        problems.append(f"{eid}: origin {body['origin']}")
    return problems


async def _check_progress(http: httpx.AsyncClient, stack: Stack, plan: Planned) -> list[str]:
    eid = plan.enrolment_id
    response = await http.get(f"{stack['certification'].base_url}/enrolments/{eid}/progress")
    if response.status_code != 200:
        return [f"{eid}: certification progress {response.status_code} {response.text[:200]}"]
    body = response.json()
    problems = []
    if body["status"] != ("cancelled" if plan.cancel else "active"):
        problems.append(f"{eid}: certification says {body['status']}")
    if (body["credential"] is not None) != plan.expects_credential:
        problems.append(f"{eid}: credential {body['credential']}, expected one: {plan.expects_credential}")
    if (body["held"] is not None) != plan.expects_hold:
        problems.append(f"{eid}: held {body['held']}, expected held: {plan.expects_hold}")
    if body["complete"] != plan.completed():
        problems.append(f"{eid}: complete={body['complete']}, oracle {plan.completed()}")
    return problems


def summary(plans: Sequence[Planned]) -> str:
    rules = defaultdict(int)
    for plan in plans:
        refund = plan.reimbursement()
        if refund is not None:
            rules[refund.rule] += 1
    return (
        f"{len(plans)} enrolments, {sum(p.cancel for p in plans)} cancelled {dict(rules)}, "
        f"{sum(p.expects_credential for p in plans)} credentials, {sum(p.expects_hold for p in plans)} held"
    )
