"""Fixtures of the wallet interop test: Node with the wallet's npm packages (npm ci on demand), skipped only
when Node.js is absent, as the interop verifier's are."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.certification.node_packages import node_or_skip, npm_ci
from tests.db_fixtures import drop_database

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def node() -> str:
    node_bin = node_or_skip("the wallet (wallet.mjs) and the verifiers")
    npm_ci(HERE, "@openid4vc/openid4vci")
    npm_ci(HERE.parent / "interop", "@digitalbazaar/vc")
    return node_bin


@pytest.fixture(scope="module")
def postgres_or_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service's database: a new PostgreSQL database where POSTGRES_URL names a server (dropped afterwards),
    else a SQLite file."""
    admin_url = os.environ.get("POSTGRES_URL")
    if not admin_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('wallet-db')}/certification.db"
        return
    name = f"test_wallet_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        admin.dispose()
