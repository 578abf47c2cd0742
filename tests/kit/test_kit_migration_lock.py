"""Replicas that start together on an empty PostgreSQL database migrate one at a time, and all of them start.

Found by the benchmark's scale-out run: of two billing replicas started at once on a new database, one created
the tables and the other died on "relation already exists" (docs/benchmark.md).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import sqlalchemy as sa
from billing.bootstrap import MIGRATIONS
from reliability.database import create_database_engine
from reliability.migrations import MIGRATION_LOCK, upgrade_to_head


def tables(url: str) -> set[str]:
    engine = create_database_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_migration_waits_for_the_one_holding_the_lock(fresh_postgres_url: str) -> None:
    holder = create_database_engine(fresh_postgres_url)
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade_to_head(fresh_postgres_url, MIGRATIONS)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    try:
        with holder.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            migration = threading.Thread(target=migrate)
            migration.start()
            migration.join(timeout=2.0)
            assert migration.is_alive(), "the migration ran while another held the migration lock"
            assert "alembic_version" not in tables(fresh_postgres_url)
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            migration.join(timeout=60)
    finally:
        holder.dispose()
    assert not errors
    assert {"alembic_version", "outbox_message", "billing_invoice"} <= tables(fresh_postgres_url)


def test_replicas_starting_together_all_migrate(fresh_postgres_url: str) -> None:
    # Processes, as replicas are: Alembic keeps its migration context in module globals, so threads would share it.
    code = "import sys; from billing.bootstrap import MIGRATIONS; from reliability.migrations import upgrade_to_head; "
    code += "upgrade_to_head(sys.argv[1], MIGRATIONS)"
    replicas = [subprocess.Popen([sys.executable, "-c", code, fresh_postgres_url]) for _ in range(3)]
    assert [replica.wait(timeout=120) for replica in replicas] == [0, 0, 0]
    assert "billing_invoice" in tables(fresh_postgres_url)
