"""The pool checks a connection before use only after it sat idle (`IDLE_BEFORE_PING_SECONDS`): a connection the
server dropped while it was idle is replaced, not handed out; one used moments ago is not pinged (a round trip
in every transaction at 200 events/s)."""

from __future__ import annotations

import pytest
from reliability import database
from reliability.database import create_database_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


def _drop_server_side(engine) -> int:
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with create_database_engine(str(engine.url.render_as_string(hide_password=False))).connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return int(pid)


def test_a_connection_dropped_while_idle_is_replaced_before_use(fresh_postgres_url, monkeypatch):
    monkeypatch.setattr(database, "IDLE_BEFORE_PING_SECONDS", 0.0)
    engine = create_database_engine(fresh_postgres_url, pool_size=1)
    dropped = _drop_server_side(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != dropped


def test_a_connection_used_just_now_is_not_pinged_and_a_disconnect_is_met_once(fresh_postgres_url, monkeypatch):
    # Without a ping the dropped connection is handed out: its statement fails as a disconnect (the caller
    # retries, as it does for a server lost mid-transaction) and the pool's next connection is a new one.
    monkeypatch.setattr(database, "IDLE_BEFORE_PING_SECONDS", 3600.0)
    engine = create_database_engine(fresh_postgres_url, pool_size=1)
    dropped = _drop_server_side(engine)
    with pytest.raises(DBAPIError) as failure, engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert failure.value.connection_invalidated
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != dropped
