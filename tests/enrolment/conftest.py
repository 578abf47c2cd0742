"""Fixtures of the enrolment service's tests: a migrated database on SQLite and PostgreSQL, the app over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from enrolment.adapters.catalogue import load_catalogue
from enrolment.domain import Catalogue
from enrolment.entrypoints.http import create_app
from enrolment.store import Database, migrate
from reliability.database import create_database_engine
from sqlalchemy.engine import Engine

from tests.db_fixtures import database_url, fresh_postgres_url  # noqa: F401
from tests.enrolment.enrolment_support import TOKEN, settings_for


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:  # noqa: F811 - the fixture imported above
    """An empty database of each kind, brought to the newest schema by the service's own migrations."""
    migrate(database_url)
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def database(engine: Engine) -> Database:
    """The service's Database over the test's engine (no relay to wake)."""
    return Database(engine)


@pytest.fixture
async def client(database: Database, catalogue: Catalogue) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API over ASGI (no relay, no consumer), with a valid bearer token on every request."""
    app = create_app(settings_for(str(database.engine.url)), database, catalogue)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://enrolment.test", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client
