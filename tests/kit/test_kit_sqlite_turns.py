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


# --- between processes ------------------------------------------------------------------------------------------

_OTHER_PROCESS = """
import sys, time
from reliability.database import create_database_engine
engine = create_database_engine(f"sqlite:///{sys.argv[1]}")
started = time.monotonic()
with engine.begin() as connection:  # waits for the test's transaction: it holds the turn between processes
    waited = time.monotonic() - started
    connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('other process')")
print(waited)
"""


def _turn_file_is_held(path) -> bool:
    import fcntl
    import os

    fd = os.open(f"{path}-turn", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_a_transaction_holds_the_turn_between_processes_until_it_ends(tmp_path):
    path = tmp_path / "turns.db"
    engine = _engine(path)
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('holder')")
        assert _turn_file_is_held(path)
    assert not _turn_file_is_held(path)
    with pytest.raises(RuntimeError), engine.begin():
        assert _turn_file_is_held(path)
        raise RuntimeError("rolled back")
    assert not _turn_file_is_held(path)


def test_another_process_begins_once_the_holder_commits(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "turns.db"
    engine = _engine(path)
    with engine.begin() as connection:
        other = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS, str(path)], stdout=subprocess.PIPE, text=True)
        time.sleep(3)  # the other interpreter starts and waits for the turn meanwhile
        assert other.poll() is None
        connection.exec_driver_sql("INSERT INTO turn (who) VALUES ('holder')")
    out, _ = other.communicate(timeout=30)
    assert other.returncode == 0 and float(out) > 0
    with engine.connect() as connection:
        rows = [row[0] for row in connection.exec_driver_sql("SELECT who FROM turn ORDER BY id")]
    assert rows == ["holder", "other process"]
