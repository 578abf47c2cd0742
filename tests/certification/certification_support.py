"""Builders of contract events for the certification service tests, and readers of what it stored and queued.

The catalogue entries mirror the enrolment service's sample catalogue (here in 2025-2026, so that every
assessment lies in the past and credentials issued now are valid at once): one complete entry and
`mc-ai-public-services`, which deliberately lacks learning outcomes and an EQF level.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from certification.adapters import microcredential_context
from certification.adapters.issuer import Issuer
from certification.domain import microcredential_context_url
from certification.store import CredentialRow, HeldCredentialRow, StatusListRow, Store
from reliability.consumer import Handler
from reliability.database import transaction
from reliability.tables import OutboxMessage
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from contracts import (
    AwardingBody,
    CloudEvent,
    Course,
    CourseCompleted,
    EnrolmentCancelled,
    EnrolmentCreated,
    EventPayload,
    Grade,
    MicroCredentialPublished,
    MicroCredentialSnapshot,
    Student,
    TuitionTerms,
    decode_event,
    new_event,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
BASE_URL = "https://credentials.test.example"
ISSUER_ID = f"{BASE_URL}/issuer"
TOKEN = secrets.token_urlsafe(32)  # generated per run; at least 32 characters, as static tokens must be
OTHER_TOKEN = secrets.token_urlsafe(32)  # of the right shape, but configured nowhere
API_TOKENS = f"registrar:{TOKEN}:credentials:read credentials:revoke"
ENROLMENT_SOURCE = "/campus/student-administration"
ASSESSMENT_SOURCE = "/campus/exam-administration"
CATALOGUE_SOURCE = "/services/enrolment"
YEAR = "2025-2026"

HERITAGE = "mc-heritage-adaptive-reuse"
HERITAGE_COURSES = (
    ("2026MCHAR1", "Reading Historic Buildings", "3"),
    ("2026MCHAR2", "Adaptive Reuse Design Studio", "3"),
)
HERITAGE_TITLE = "Heritage and Adaptive Reuse"
HERITAGE_OUTCOMES = (
    "Analyse the building history and material condition of a listed building using archival and on-site survey methods.",
    "Assess heritage values against contemporary requirements for energy performance, safety and accessibility.",
    "Design and argue an adaptive reuse scenario in a written and visual dossier for a heritage authority.",
)
HERITAGE_ASSESSMENT = "Survey report (40%) and reuse design dossier with oral defence (60%)"
HERITAGE_PARTICIPATION = "Evening classes on the City Campus in Antwerp, with two Saturday site visits"
UANTWERP_QA = (
    "Internal quality assurance of the University of Antwerp (institutional review), accredited by NVAO, "
    "the Accreditation Organisation of the Netherlands and Flanders"
)
HERITAGE_PREREQUISITES = "A master's degree in architecture, engineering, art history or a related field."
HERITAGE_STACKABILITY = "Credits can be recognised in the Master of Heritage Studies through the exemption procedure."
UANTWERP = AwardingBody(name="University of Antwerp", url="https://www.uantwerpen.be", country="BE", region="Flanders")

AI = "mc-ai-public-services"
AI_COURSES = (
    ("2026MCAIP1", "AI Systems and Their Limits", "3"),
    ("2026MCAIP2", "Governing AI in the Public Sector", "3"),
)
AI_TITLE = "Artificial Intelligence for Public Services"

LEARNER = {
    "id": "s0201234",
    "given_name": "Amira",
    "family_name": "Peeters",
    "email": "Amira.Peeters@Student.Example.org",
}


def brussels(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


def _courses(courses: Sequence[tuple[str, str, str]], semester: int = 1) -> list[Course]:
    return [Course(id=c, title=t, credits=cr, semester=semester) for c, t, cr in courses]  # type: ignore[arg-type]


def heritage_published(*, event_time: datetime | None = None, **overrides: Any) -> CloudEvent[MicroCredentialPublished]:
    """The complete sample entry; `overrides` replace fields (e.g. learning_outcomes=[] to make it incomplete)."""
    fields: dict[str, Any] = dict(
        microcredential_id=HERITAGE,
        academic_year=YEAR,
        title=HERITAGE_TITLE,
        description="How to give historic buildings a new use without losing what makes them valuable.",
        language="en",
        format="evening",
        courses=_courses(HERITAGE_COURSES),
        tuition=TuitionTerms(currency="EUR", fixed_fee="245.00", per_credit="11.90"),  # type: ignore[arg-type]
        learning_outcomes=list(HERITAGE_OUTCOMES),
        eqf_level=7,
        cycle="second cycle (master's level)",
        assessment_type=HERITAGE_ASSESSMENT,
        participation_form=HERITAGE_PARTICIPATION,
        quality_assurance=UANTWERP_QA,
        awarding_body=UANTWERP,
        prerequisites=HERITAGE_PREREQUISITES,
        stackability=HERITAGE_STACKABILITY,
    )
    fields.update(overrides)
    payload = MicroCredentialPublished(**fields)
    return new_event(payload, source=CATALOGUE_SOURCE, time=event_time or brussels(2025, 5, 15, 12))


def ai_published(*, complete: bool = False, event_time: datetime | None = None) -> CloudEvent[MicroCredentialPublished]:
    """The sample entry without learning outcomes and EQF level; `complete=True` is its later, fixed version."""
    payload = MicroCredentialPublished(
        microcredential_id=AI,
        academic_year=YEAR,
        title=AI_TITLE,
        description="What civil servants need to know to procure, deploy and oversee AI systems responsibly.",
        language="en",
        format="hybrid",
        courses=_courses(AI_COURSES, semester=2),
        tuition=TuitionTerms(currency="EUR", fixed_fee="100.00", per_credit="30.00"),  # type: ignore[arg-type]
        learning_outcomes=["Explain the obligations of the EU AI Act for a public body."] if complete else [],
        eqf_level=6 if complete else None,
        assessment_type="Group project on an AI procurement case",
        participation_form="Hybrid; on campus in Antwerp or online",
        quality_assurance=UANTWERP_QA,
        awarding_body=UANTWERP,
    )
    default_time = brussels(2025, 9, 20, 12) if complete else brussels(2025, 5, 15, 12)
    return new_event(payload, source=CATALOGUE_SOURCE, time=event_time or default_time)


def enrolment_created(
    enrolment_id: str,
    *,
    microcredential_id: str = HERITAGE,
    title: str = HERITAGE_TITLE,
    courses: Sequence[tuple[str, str, str]] = HERITAGE_COURSES,
    semester: int = 1,
    learner: Mapping[str, str] = LEARNER,
    event_id: str | None = None,
) -> CloudEvent[EnrolmentCreated]:
    payload = EnrolmentCreated(
        enrolment_id=enrolment_id,
        student=Student(**learner),
        microcredential=MicroCredentialSnapshot(
            id=microcredential_id, title=title, academic_year=YEAR, courses=_courses(courses, semester)
        ),
        tuition=TuitionTerms(currency="EUR", fixed_fee="245.00", per_credit="11.90"),  # type: ignore[arg-type]
        enrolled_at=brussels(2025, 9, 1, 10),
    )
    return new_event(payload, source=ENROLMENT_SOURCE, event_id=event_id or str(uuid.uuid4()), time=payload.enrolled_at)


def ai_enrolment_created(enrolment_id: str) -> CloudEvent[EnrolmentCreated]:
    # The snapshot of what the enrolment service's catalogue says (its courses are taught in semester 2).
    return enrolment_created(enrolment_id, microcredential_id=AI, title=AI_TITLE, courses=AI_COURSES, semester=2)


def enrolment_cancelled(enrolment_id: str, cancelled_at: datetime | None = None) -> CloudEvent[EnrolmentCancelled]:
    at = cancelled_at or brussels(2025, 11, 20, 16)
    payload = EnrolmentCancelled(enrolment_id=enrolment_id, cancelled_at=at, reason="personal reasons")
    return new_event(payload, source=ENROLMENT_SOURCE, time=at)


def course_completed(
    enrolment_id: str,
    course_id: str,
    *,
    passed: bool = True,
    grade: str | None = "15",
    assessed_at: datetime | None = None,
    supervised: bool | None = True,
    identity_verified: bool | None = True,
    event_id: str | None = None,
) -> CloudEvent[CourseCompleted]:
    at = assessed_at or brussels(2026, 1, 25, 14)
    payload = CourseCompleted(
        enrolment_id=enrolment_id,
        course_id=course_id,
        passed=passed,
        grade=None if grade is None else Grade(value=grade, scale="0-20"),
        assessed_at=at,
        assessment_type="written exam",
        supervised=supervised,
        identity_verified=identity_verified,
    )
    return new_event(payload, source=ASSESSMENT_SOURCE, event_id=event_id or str(uuid.uuid4()), time=at)


def passes(enrolment_id: str, courses: Sequence[tuple[str, str, str]] = HERITAGE_COURSES) -> list[CloudEvent[Any]]:
    """A pass of every course, on successive days in January 2026."""
    return [
        course_completed(enrolment_id, course_id, grade=str(14 + n), assessed_at=brussels(2026, 1, 20 + n, 10))
        for n, (course_id, _, _) in enumerate(courses)
    ]


# --- applying and reading ------------------------------------------------------------------------------------


def apply(engine: Engine, handlers: Mapping[str, Handler], *events: CloudEvent[Any]) -> None:
    """Apply events one transaction each, in a savepoint per event, as the kit's consumer does."""
    for event in events:
        with transaction(engine) as session, session.begin_nested():
            handlers[event.type](session, event)


def queued_events(engine: Engine, event_type: str | None = None) -> list[CloudEvent[EventPayload]]:
    with Session(engine) as session:
        rows = session.scalars(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        events = [decode_event(row.value, key=row.key) for row in rows]
    return [event for event in events if event_type is None or event.type == event_type]


def credentials(engine: Engine) -> list[CredentialRow]:
    with Session(engine) as session:
        return list(session.scalars(select(CredentialRow)))


def credential_of(engine: Engine, enrolment_id: str) -> CredentialRow | None:
    with Session(engine) as session:
        return Store(session).credential_of_enrolment(enrolment_id)


def held(engine: Engine) -> list[HeldCredentialRow]:
    with Session(engine) as session:
        return Store(session).held_credentials()


def status_list_documents(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        rows = session.scalars(select(StatusListRow))
        return {f"{BASE_URL}/status-lists/{row.id}": row.credential for row in rows}


# --- the independent verifier (Digital Bazaar, tests/certification/interop/verify.mjs) ----------------------

INTEROP = Path(__file__).parent / "interop"


def node_verifier() -> str | None:
    """`node`, with the verifier's packages installed (npm ci, as the interop tests do); None without Node."""
    node = shutil.which("node")
    if node is None:
        return None
    if not (INTEROP / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install the interop verifier"
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return node


def documents_for_verifier(issuer: Issuer, status_lists: Mapping[str, Any]) -> dict[str, Any]:
    """What a verifier fetches from this service: controller document, our context, the status lists."""
    return {
        issuer.issuer_id: issuer.controller_document(),
        microcredential_context_url(issuer.base_url): microcredential_context(issuer.base_url),
        **status_lists,
    }


def run_node_verifier(node: str, credential: dict[str, Any], documents: Mapping[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(INTEROP / "verify.mjs")],
        input=json.dumps({"credential": credential, "documents": documents}),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=INTEROP,
    )
    assert done.stdout.strip(), f"verify.mjs printed nothing; stderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    assert not result.get("crashed"), f"verify.mjs crashed: {result}\n{done.stderr}"
    return result


def now_utc() -> datetime:
    return datetime.now(UTC)


def look_alike_blank_nodes(count: int) -> list[dict[str, Any]]:
    """`count` blank nodes that all know each other: every one has the same first-degree hash, so RDFC-1.0 can
    only tell them apart by trying permutations (the poison of issue 11: 7 of them took 2.2 s, each more x10)."""
    knows = "https://example.org/knows"
    return [{"@id": f"_:n{i}", knows: [{"@id": f"_:n{j}"} for j in range(count) if j != i]} for i in range(count)]


def poison_credential(blank_nodes: int, proof: Mapping[str, Any]) -> dict[str, Any]:
    """A credential claiming our issuer and key (so verification reaches the signature) whose subject carries
    look-alike blank nodes; no id of ours, so only canonicalising it could tell."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": ISSUER_ID,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"https://example.org/crowd": look_alike_blank_nodes(blank_nodes)},
        "proof": dict(proof),
    }
