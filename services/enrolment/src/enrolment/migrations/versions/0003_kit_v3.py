"""The kit's tables, version 3: partial indexes of the outbox rows waiting to be sent and of those parked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from reliability.migrations import create_kit_tables_v3, drop_kit_tables_v3

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v3()


def downgrade() -> None:
    drop_kit_tables_v3()
