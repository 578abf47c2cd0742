"""The kit's tables, version 2: parked outbox rows (a record the broker refuses for good) and parked records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from reliability.migrations import create_kit_tables_v2, drop_kit_tables_v2

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v2()


def downgrade() -> None:
    drop_kit_tables_v2()
