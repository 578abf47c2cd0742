"""Database fixtures: every database test runs on SQLite and, where one is reachable, on PostgreSQL.

PostgreSQL comes from POSTGRES_URL (an admin URL; `scripts/postgres ensure` prints one). Outside CI a missing
server skips those tests with the reason; in CI (CI=true) it is an error, so they can't silently vanish.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ProgrammingError

DATABASE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_admin_url() -> str:
    url = os.environ.get("POSTGRES_URL")
    if not url:
        message = "no PostgreSQL: set POSTGRES_URL (run `scripts/postgres ensure` to start a local one)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def new_postgres_database() -> Iterator[Callable[[], str]]:
    """Makes new, empty PostgreSQL databases for one test (as many as asked for), dropped afterwards."""
    admin_url = _postgres_admin_url()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def create() -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"PostgreSQL at POSTGRES_URL is not usable: {error}")
        names.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    yield create
    for name in names:
        drop_database(admin, name)
    admin.dispose()


def drop_database(admin: Engine, name: str, attempts: int = 20) -> None:
    # WITH (FORCE) must terminate every session on the database, and the test role may not terminate an
    # autovacuum worker that just started on it ("must be a member of the role whose process is being
    # terminated", seen once in CI); the worker is gone a moment later, so try again.
    for attempt in range(1, attempts + 1):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError:
            if attempt == attempts:
                raise
            time.sleep(0.25)


@pytest.fixture
def fresh_postgres_url(new_postgres_database: Callable[[], str]) -> str:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    return new_postgres_database()


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of each kind; tests using it run once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db"
    else:
        yield request.getfixturevalue("fresh_postgres_url")
