"""Fixtures of the certification service tests: a migrated database, an issuer, its handlers and HTTP app.

(The library tests in unit/ and interop/ have their own conftest and need none of these.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from certification.adapters import IssuerKey, generate_secret_key
from certification.adapters.canonical_workers import CanonicalWorkers
from certification.adapters.issuer import Issuer
from certification.bootstrap import migrate
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.entrypoints.kafka import event_handlers
from certification.store import Database
from reliability.database import create_database_engine

from tests.certification.certification_support import API_TOKENS, BASE_URL, ISSUER_ID
from tests.db_fixtures import database_url, fresh_postgres_url  # noqa: F401


@pytest.fixture(scope="session")
def retired_key() -> IssuerKey:
    """A key the issuer signed with before a rotation: still listed, no longer used."""
    return IssuerKey.from_secret(ISSUER_ID, "key-2025", generate_secret_key())


@pytest.fixture(scope="session")
def issuer(retired_key: IssuerKey) -> Issuer:
    return Issuer.create(
        base_url=BASE_URL,
        key_id="key-2026",
        secret=generate_secret_key(),
        retired_keys=[retired_key.public()],
        identity_salt="test-identity-salt",
    )


@pytest.fixture(scope="session")
def handlers(issuer: Issuer):
    return event_handlers(issuer)


@pytest.fixture
def engine(database_url):  # noqa: F811 - the imported fixture, requested by name
    """An empty certification database (SQLite and PostgreSQL), migrated to head."""
    migrate(database_url)
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url) -> CertificationSettings:  # noqa: F811
    return CertificationSettings(
        database_url=database_url, public_base_url=BASE_URL, api_tokens=API_TOKENS, signing_key_id="key-2026"
    )


@pytest.fixture(scope="session")
def canonical_workers(issuer: Issuer) -> Iterator[CanonicalWorkers]:
    """The verification worker processes with the default limits, shared by the tests' apps (each start costs a
    fresh interpreter; hashData is a pure function of the job, so sharing the cache is sound)."""
    defaults = CertificationSettings(public_base_url=BASE_URL)
    workers = CanonicalWorkers(
        issuer.base_url,
        defaults.canonical_limits(),
        workers=defaults.verify_workers,
        budget_seconds=defaults.verify_time_budget_seconds,
    )
    yield workers
    workers.close()


@pytest.fixture
def app(settings, engine, issuer, canonical_workers):
    return create_app(settings, Database(engine), issuer, canonical_workers=canonical_workers)


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client
