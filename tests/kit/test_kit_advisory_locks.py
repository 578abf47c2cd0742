"""`lock_in_order_until_commit` takes several groups of advisory locks in one statement, the groups in the order
given and each in its mode. Billing relies on both: catalogue keys (shared) before enrolments (exclusive) on
every path, or a batch of enrolments and a batch of catalogue entries could deadlock between replicas."""

from __future__ import annotations

import itertools
import threading

from reliability.database import advisory_lock_key, create_database_engine, lock_in_order_until_commit, transaction
from sqlalchemy import text


def _names_sorting_backwards() -> tuple[str, str]:
    """A first name whose key sorts after the second's: a single sort of all keys would lock the second first."""
    for index in itertools.count():
        first, second = f"catalogue:{index}", f"enrolment:{index}"
        if advisory_lock_key(first) > advisory_lock_key(second):
            return first, second
    raise AssertionError("unreachable")


def test_groups_are_locked_in_the_order_given_each_in_its_mode(fresh_postgres_url: str) -> None:
    first, second = _names_sorting_backwards()
    engine = create_database_engine(fresh_postgres_url)
    locked = threading.Event()
    errors: list[BaseException] = []

    def lock_both() -> None:
        try:
            with transaction(engine) as session:
                lock_in_order_until_commit(session, [([first], True), ([second], False)])
                locked.set()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    try:
        with engine.connect() as holder, engine.connect() as probe:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": advisory_lock_key(second)})
            waiter = threading.Thread(target=lock_both)
            waiter.start()
            assert not locked.wait(1.0), "the second group's lock was taken while another held it"
            # The waiter holds the first group's lock already, shared: another may share it, not take it alone.
            assert not probe.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_lock_key(first)}
            ).scalar()
            assert probe.execute(
                text("SELECT pg_try_advisory_lock_shared(:key)"), {"key": advisory_lock_key(first)}
            ).scalar()
            probe.execute(text("SELECT pg_advisory_unlock_shared(:key)"), {"key": advisory_lock_key(first)})
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_lock_key(second)})
            waiter.join(timeout=10)
            assert locked.is_set()
            # Released at commit: the probe now takes both alone.
            for name in (first, second):
                assert probe.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_lock_key(name)}
                ).scalar()
            probe.execute(text("SELECT pg_advisory_unlock_all()"))
    finally:
        engine.dispose()
    assert errors == []
