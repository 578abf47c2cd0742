"""SQLite's transactions in one process take turns, first come first served (`reliability.database`): a writer
waiting for the file gets it when the one before commits, not after SQLite's busy handler has slept."""

from __future__ import annotations

import threading
import time

import pytest
from reliability.database import create_database_engine
from sqlalchemy.engine import Engine


def _engine(path) -> Engine:
    engine = create_database_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS turn (id INTEGER PRIMARY KEY, who TEXT)")
    return engine


def _wait_until_blocked(thread: threading.Thread, started: threading.Event) -> None:
    assert started.wait(5)
    time.sleep(0.2)  # long enough for it to be waiting on the file; it cannot get it while the holder holds it
    assert thread.is_alive()


@pytest.mark.parametrize("second_engine", [False, True], ids=["same engine", "another engine on the file"])
def test_a_waiting_writer_goes_before_the_holder_begins_again(tmp_path, second_engine):
    holder_engine = _engine(tmp_path / "turns.db")
    waiter_engine = _engine(tmp_path / "turns.db") if second_engine else holder_engine
    order: list[str] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        with waiter_engine.begin() as connection:
            order.append("waiter")
            connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('waiter')")

    with holder_engine.begin() as connection:
        order.append("holder")
        connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('holder')")
        thread = threading.Thread(target=waiter)
        thread.start()
        _wait_until_blocked(thread, started)
    # At once, as a consumer looping over short transactions does: with SQLite's busy handler alone the holder
    # won this race nearly always, the waiter being asleep between its tries.
    with holder_engine.begin() as connection:
        order.append("holder again")
        connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('holder again')")
    thread.join(10)

    assert order == ["holder", "waiter", "holder again"]


def test_every_way_a_transaction_ends_gives_the_turn_back(tmp_path):
    engine = _engine(tmp_path / "turns.db")
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('rolled back')")
        raise RuntimeError("the use case failed")
    with engine.connect() as connection:  # a read: autobegins, ends with the pool's reset on return
        assert connection.exec_driver_sql("SELECT count(*) FROM turn").scalar() == 0
    broken = engine.connect()
    broken.begin()
    broken.invalidate()  # the connection closed inside its transaction
    broken.close()

    done = threading.Event()

    def writer() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('after')")
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    # Well under the 30 s a leaked turn would make it wait.
    assert done.wait(10)
    thread.join()
