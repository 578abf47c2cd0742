"""Shared fixtures: one realistic micro-credential, an issuer key, a loader."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from certification.adapters import (
    DocumentLoader,
    IssuerKey,
    build_controller_document,
    generate_secret_key,
)
from certification.domain import (
    AwardingBody,
    Course,
    CourseResult,
    Grade,
    Learner,
    MicroCredential,
)

ISSUER_ID = "https://credentials.example.edu/issuers/faculty-of-engineering"
CREDENTIAL_ID = "https://credentials.example.edu/credentials/5b0f8c1e-7d1a-4a52-9a53-0c0f7a1c9e11"
STATUS_LIST_URL = "https://credentials.example.edu/status/revocation/1"
ISSUED_AT = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
NOW = datetime(2025, 8, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def env() -> SimpleNamespace:
    """Identifiers and instants shared by the tests (pytest's importlib mode
    does not let test modules import conftest, so they travel as a fixture)."""
    return SimpleNamespace(
        issuer_id=ISSUER_ID,
        credential_id=CREDENTIAL_ID,
        status_list_url=STATUS_LIST_URL,
        issued_at=ISSUED_AT,
        now=NOW,
    )


@pytest.fixture
def learner() -> Learner:
    return Learner(id="r0123456", given_name="Ada", family_name="Lovelace", email="Ada.Lovelace@Example.org")


@pytest.fixture
def microcredential() -> MicroCredential:
    return MicroCredential(
        id="mc-applied-ml",
        title="Applied Machine Learning for Engineers",
        description="A practice-oriented micro-credential on building and evaluating ML models.",
        academic_year="2024-2025",
        ects_credits=Decimal("6"),
        courses=(
            Course(id="H0A12a", title="Foundations of Machine Learning"),
            Course(id="H0B34b", title="Machine Learning Project"),
        ),
        learning_outcomes=(
            "Select and train a suitable model for a tabular prediction problem.",
            "Evaluate a model with cross-validation and explain its limitations.",
            "Deploy a trained model behind a documented interface.",
        ),
        eqf_level=7,
        cycle="second cycle",
        assessment_type="Written exam and graded project with oral defence",
        participation_form="hybrid (online lectures, on-site labs)",
        quality_assurance="Internal quality assurance of the university, institutionally reviewed by NVAO",
        awarding_body=AwardingBody(
            name="Example University, Faculty of Engineering",
            url="https://www.example.edu",
            country_code="BE",
            region="Flanders",
        ),
        prerequisites="A bachelor's degree in engineering or science",
        stackability="Stackable towards the Master of Artificial Intelligence (6 of 60 ECTS)",
    )


@pytest.fixture
def results() -> list[CourseResult]:
    return [
        CourseResult(
            course_id="H0A12a",
            assessed_at=datetime(2025, 6, 12, 14, 0, tzinfo=UTC),
            grade=Grade("15", "0-20"),
            supervised=True,
            identity_verified=True,
        ),
        CourseResult(
            course_id="H0B34b",
            assessed_at=datetime(2025, 6, 25, 10, 0, tzinfo=UTC),
            grade=Grade("17", "0-20"),
            supervised=False,
            identity_verified=True,
        ),
    ]


@pytest.fixture(scope="session")
def loader() -> DocumentLoader:
    return DocumentLoader()


@pytest.fixture(scope="session")
def issuer_key() -> IssuerKey:
    return IssuerKey.from_secret(ISSUER_ID, "key-2025", generate_secret_key())


@pytest.fixture(scope="session")
def controller_document(issuer_key: IssuerKey) -> dict:
    return build_controller_document(ISSUER_ID, [issuer_key.public()])
