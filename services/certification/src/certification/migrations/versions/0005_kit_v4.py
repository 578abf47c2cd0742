"""The kit's tables, version 4: the parked outbox rows' partial index on SQLite too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from reliability.migrations import create_kit_tables_v4, drop_kit_tables_v4

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v4()


def downgrade() -> None:
    drop_kit_tables_v4()
