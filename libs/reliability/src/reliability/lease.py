"""A database lease so that exactly one replica runs a singleton job at a time.

Works on SQLite and PostgreSQL alike with one conditional UPDATE: the row changes hands only when it is free,
expired, or already ours, and the database serialises competing writers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from reliability.database import statements_on_their_own, transaction
from reliability.tables import Lease


def try_acquire_lease(engine: Engine, name: str, owner: str, duration: timedelta) -> bool:
    """Take or renew the lease `name` for `owner`; True when `owner` holds it for `duration` from now."""
    now = datetime.now(UTC)
    table = Lease.__table__  # type: ignore[attr-defined]
    with statements_on_their_own(engine) as connection:  # one conditional UPDATE: atomic by itself
        result = connection.execute(
            update(table)
            .where(table.c.name == name)
            .where((table.c.owner == owner) | (table.c.expires_at < now))
            .values(owner=owner, expires_at=now + duration)
        )
        if result.rowcount == 1:
            return True
    try:
        with transaction(engine) as session:
            session.execute(insert(table).values(name=name, owner=owner, expires_at=now + duration))
        return True
    except IntegrityError:
        return False  # somebody else holds it


def release_lease(engine: Engine, name: str, owner: str) -> None:
    """Give the lease up at shutdown so another replica can take over at once instead of after expiry."""
    table = Lease.__table__  # type: ignore[attr-defined]
    with transaction(engine) as session:
        session.execute(
            update(table)
            .where(table.c.name == name)
            .where(table.c.owner == owner)
            .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
        )
