"""Fixtures of the wallet interop test: Node with the wallet's npm packages (npm ci on demand), skipped only
when Node.js is absent, as the interop verifier's are."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.db_fixtures import _drop_database as drop_database

HERE = Path(__file__).parent


def _npm_ci(directory: Path, marker: str) -> None:
    if (directory / "node_modules" / marker).is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("node is installed but npm is not: cannot install the wallet's packages")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=directory, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"npm ci in {directory.name} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def node() -> str:
    node_bin = shutil.which("node")
    if node_bin is None:
        pytest.skip("Node.js is not installed: the wallet (wallet.mjs) and the verifiers need `node` and `npm`")
    _npm_ci(HERE, "@openid4vc/openid4vci")
    _npm_ci(HERE.parent / "interop", "@digitalbazaar/vc")
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
