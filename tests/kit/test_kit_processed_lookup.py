"""The processed-event lookup of every batch: exact identities found, and the whole primary key used, so its cost
does not grow with the rows a consumer has processed."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from reliability.applying import processed_lookup
from reliability.tables import ProcessedEvent
from sqlalchemy import insert
from sqlmodel import Session

from tests.kit.kit_support import make_engine


def _row(consumer: str, source: str, event_id: str) -> dict[str, object]:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    return {"consumer": consumer, "source": source, "event_id": event_id, "topic": "t", "partition": 0, "offset": 0,
            "processed_at": at}  # fmt: skip


def _events(*identities: tuple[str, str]) -> list:
    return [SimpleNamespace(source=source, id=event_id) for source, event_id in identities]


def test_the_lookup_finds_what_this_consumer_processed(database_url):
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        rows = [_row("billing", "/a", "1"), _row("billing", "/b", "2"), _row("certification", "/a", "3")]
        session.execute(insert(ProcessedEvent.__table__), rows)  # type: ignore[attr-defined]
    asked = _events(("/a", "1"), ("/a", "2"), ("/b", "9"), ("/a", "3"))
    with Session(engine) as session:
        found = {(source, event_id) for source, event_id in session.execute(processed_lookup("billing", asked))}

    # ("/a", "3") is another consumer's; ("/b", "2") pairs an asked source with an asked id: the caller, which
    # looks up exact identities, ignores it.
    assert found == {("/a", "1"), ("/b", "2")}


def test_the_lookup_searches_the_whole_key_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/lookup.db")
    statement = processed_lookup("billing", _events(("/a", "1"), ("/b", "2")))
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))

    assert "(consumer=? AND source=? AND event_id=?)" in plan, plan
