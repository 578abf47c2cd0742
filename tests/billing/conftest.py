"""Fixtures of the billing service tests (the pure unit tests in unit/ need none of these)."""

import pytest
from billing.adapters.policy_files import load_builtin_policy
from billing.bootstrap import MIGRATIONS
from reliability.database import create_database_engine
from reliability.migrations import upgrade_to_head

from tests.db_fixtures import database_url, fresh_postgres_url  # noqa: F401


@pytest.fixture
def engine(database_url):  # noqa: F811 - the imported fixture, requested by name
    """An empty billing database (SQLite and PostgreSQL), migrated to head."""
    upgrade_to_head(database_url, MIGRATIONS)
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def uantwerp_en():
    """The default policy, uantwerp-en version 1: full refund before 1 Dec, 2nd semester until 14 Mar, then none."""
    return load_builtin_policy("uantwerp-en", 1)
