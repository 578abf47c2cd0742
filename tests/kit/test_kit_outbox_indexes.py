"""The relay's read (its next batch joined to the parked heads) uses an index of the rows they want, however many published rows the outbox keeps (a week
of them, by design): on PostgreSQL the partial indexes of waiting and of parked rows; on SQLite, which treats
`IS NULL` as an equality, an index search for the batch and the parked rows' partial index for the heads (the
index of unpublished rows holds the relay's whole backlog: 18 ms a round at 50 000 rows behind, 0.3 with it).

Found by the first million-event rebuild on PostgreSQL: with 957 000 rows published and statistics from when
few were, the read of the next batch walked the primary key past every published row (716 ms a round), and the
read of the parked heads scanned the whole table (276 ms), so the relay fell behind the consumer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from billing.bootstrap import MIGRATIONS
from reliability import outbox
from reliability.database import create_database_engine
from reliability.migrations import upgrade_to_head
from reliability.tables import OutboxMessage
from sqlalchemy import Engine, event, insert, text, update
from sqlalchemy.sql import Select

ROWS = OutboxMessage.__table__  # type: ignore[attr-defined]
PUBLISHED = 20_000


def _fill(engine: Engine) -> None:
    """Rows written unpublished and, on PostgreSQL, the statistics taken then; then nearly all published, one
    parked, as in a rebuild whose relay runs behind (autovacuum's statistics lag the UPDATEs). The services never
    ANALYZE a SQLite database, so there it plans without statistics."""
    now = datetime.now(UTC)
    row = {"event_id": "e", "topic": "t", "key": b"k", "value": b"v", "headers": [], "created_at": now}
    with engine.begin() as connection:
        connection.execute(insert(ROWS), [{**row, "event_id": f"e{i}", "key": b"k%d" % i} for i in range(PUBLISHED)])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE outbox_message"))
        connection.execute(update(ROWS).where(ROWS.c.id <= PUBLISHED - 10).values(published_at=now))
        connection.execute(update(ROWS).where(ROWS.c.id == PUBLISHED).values(parked_at=now, parked_reason="refused"))


def _plan(engine: Engine, statement: Select) -> str:
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN" if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
    with engine.connect() as connection:
        return "\n".join(str(row[-1]) for row in connection.execute(text(f"{explain} {sql}")))


def test_the_relays_reads_use_the_partial_indexes(database_url: str) -> None:
    upgrade_to_head(database_url, MIGRATIONS)
    engine = create_database_engine(database_url)
    try:
        _fill(engine)
        plan = _plan(engine, outbox.next_batch_query(500, engine.dialect.name))
    finally:
        engine.dispose()
    if database_url.startswith("postgresql"):
        assert "ix_outbox_message_pending" in plan, plan
        assert "ix_outbox_message_parked" in plan, plan
    else:
        reads = [line for line in plan.splitlines() if " outbox_message" in line]
        assert len(reads) == 2, plan
        assert reads[0].startswith("SEARCH outbox_message USING"), plan  # the next batch
        assert reads[1] == "SCAN outbox_message USING INDEX ix_outbox_message_parked", plan  # the parked rows only


def test_the_relay_reads_its_batch_and_the_parked_heads_in_one_statement(database_url: str) -> None:
    """One statement is one snapshot: read apart, a release landing between the reads let a row written behind
    the released head go out before it (tests/kit/test_kit_outbox_parking.py has the release during a round)."""
    upgrade_to_head(database_url, MIGRATIONS)
    engine = create_database_engine(database_url)
    statements: list[str] = []
    try:
        _fill(engine)
        later = {"event_id": "later", "topic": "t", "key": b"k%d" % (PUBLISHED - 1), "value": b"v", "headers": []}
        with engine.begin() as connection:
            connection.execute(insert(ROWS), [{**later, "created_at": datetime.now(UTC)}])
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        rows, heads = outbox.OutboxRelay(engine, None, "index-test")._load_unpublished()  # type: ignore[arg-type]
    finally:
        engine.dispose()
    reads = [statement for statement in statements if statement.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, statements
    assert [row.id for row in rows] == [*range(PUBLISHED - 9, PUBLISHED), PUBLISHED + 1]
    assert heads == {("t", b"k%d" % (PUBLISHED - 1)): PUBLISHED}, "the later row's key waits behind the parked one"
