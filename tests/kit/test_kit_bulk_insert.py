"""`insert_together`: the rows of several tables in one statement on PostgreSQL, read back exactly as written
(types the driver converts, a type of the service's own, NULLs, a child next to its parent), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from reliability.bulk_insert import insert_together
from reliability.columns import UTCDateTime
from reliability.database import create_database_engine
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
    event,
    select,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Session


class Tagged(TypeDecorator[str]):
    """A type whose bind processing must run for every element (stored with a prefix)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else f"tag:{value}"

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else value.removeprefix("tag:")


METADATA = MetaData()
PARENT = Table(
    "bulk_parent",
    METADATA,
    Column("id", String(20), primary_key=True),
    Column("amount", Numeric(30, 20), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("note", String(100), nullable=True),
)
CHILD = Table(
    "bulk_child",
    METADATA,
    Column(
        "row_id",
        BigInteger().with_variant(__import__("sqlalchemy").Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("parent_id", String(20), ForeignKey("bulk_parent.id"), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("doc", JSON, nullable=False),
    Column("tag", Tagged, nullable=True),
)
AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _parents(count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"p{n}", "amount": Decimal(f"{n}.25"), "at": AT + timedelta(seconds=n), "note": None if n % 2 else "é"}
        for n in range(count)
    ]


def _children(count: int) -> list[dict[str, Any]]:
    return [
        {"parent_id": f"p{n}", "payload": bytes([n, 0, 255]), "doc": [["a", n], {"k": None}], "tag": None if n else "x"}
        for n in range(count)
    ]


def _engine(url: str) -> Any:
    engine = create_database_engine(url)
    METADATA.create_all(engine)
    return engine


def test_the_rows_of_several_tables_read_back_as_written(database_url):
    engine = _engine(database_url)
    with Session(engine) as session, session.begin():
        insert_together(session, [(PARENT, _parents(3)), (CHILD, _children(3)), (CHILD, [])])

    with engine.connect() as connection:
        parents = [dict(row._mapping) for row in connection.execute(select(PARENT).order_by(PARENT.c.id))]
        children = [dict(row._mapping) for row in connection.execute(select(CHILD).order_by(CHILD.c.row_id))]
    assert parents == _parents(3)
    assert [{key: value for key, value in row.items() if key != "row_id"} for row in children] == _children(3)
    assert [row["row_id"] for row in children] == sorted(row["row_id"] for row in children)  # ids in row order


def test_on_postgresql_they_are_one_statement(fresh_postgres_url):
    engine = _engine(fresh_postgres_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    exact = Decimal("1.00000000000000000001")  # what a float on the way would round to 1
    with Session(engine) as session, session.begin():
        parents = [*_parents(5), {"id": "q", "amount": exact, "at": AT, "note": "n"}]
        insert_together(session, [(PARENT, parents), (CHILD, _children(5))])
        insert_together(session, [(PARENT, [{**parents[-1], "id": "r"}]), (CHILD, [])])

    assert len(statements) == 2, statements  # one per call, whatever the tables and rows
    assert statements[0].startswith("WITH w0 AS (INSERT INTO bulk_parent")
    with engine.connect() as connection:
        assert connection.execute(select(PARENT.c.amount).where(PARENT.c.id == "q")).scalar_one() == exact


def test_a_row_that_breaks_a_constraint_fails_the_whole_statement(fresh_postgres_url):
    engine = _engine(fresh_postgres_url)
    orphan = [{**_children(1)[0], "parent_id": "nobody"}]
    try:
        with Session(engine) as session, session.begin():
            insert_together(session, [(PARENT, _parents(2)), (CHILD, orphan)])
    except Exception as error:
        assert "foreign key" in str(error).lower()
    else:
        raise AssertionError("a child without its parent was inserted")
    with engine.connect() as connection:
        assert connection.execute(select(PARENT)).all() == []


def test_values_an_array_literal_escapes_and_a_column_of_nulls_read_back_as_written(database_url):
    # The arrays travel in the binary format: nothing is quoted or escaped on the way, so nothing may be lost.
    awkward = ['say "hi"', "back\\slash", "{braces}", "a,b", "NULL", "", " padded ", "\\x41"]
    parents = [{"id": f"a{n}", "amount": Decimal("0.01"), "at": AT, "note": note} for n, note in enumerate(awkward)]
    children = [
        {"parent_id": "a0", "payload": payload, "doc": {"text": '"\\'}, "tag": None}
        for payload in (b"\\", b'"', b"{,}", b"\x00\\x00", b"")
    ]
    engine = _engine(database_url)
    with Session(engine) as session, session.begin():
        insert_together(session, [(PARENT, parents), (CHILD, children)])

    with engine.connect() as connection:
        notes = connection.execute(select(PARENT.c.note).order_by(PARENT.c.id)).scalars().all()
        stored = connection.execute(select(CHILD.c.payload, CHILD.c.doc, CHILD.c.tag).order_by(CHILD.c.row_id)).all()
    assert notes == awkward
    assert [tuple(row) for row in stored] == [(row["payload"], row["doc"], None) for row in children]


def _stored(engine: Any, table: Table) -> list[tuple[Any, ...]]:
    """The values as the database holds them, read past every type's result processing."""
    columns = ", ".join(column.name for column in table.columns if column.name != "row_id")
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(f"SELECT {columns} FROM {table.name} ORDER BY 1, 2")]


def test_the_stored_values_are_those_of_sqlalchemys_own_insert(database_url, request, tmp_path):
    # insert_together applies the bind processors itself (on the driver, without SQLAlchemy's INSERT): what it
    # stores must be exactly what SQLAlchemy would, or rows written by the two paths would not compare equal.
    if database_url.startswith("sqlite"):
        other_url = f"sqlite:///{tmp_path}/sqlalchemys.db"
    else:
        other_url = request.getfixturevalue("new_postgres_database")()
    ours, sqlalchemys = _engine(database_url), _engine(other_url)
    with Session(ours) as session, session.begin():
        insert_together(session, [(PARENT, _parents(4)), (CHILD, _children(4))])
    with Session(sqlalchemys) as session, session.begin():
        session.execute(PARENT.insert(), _parents(4))
        session.execute(CHILD.insert(), _children(4))

    for table in (PARENT, CHILD):
        assert _stored(ours, table) == _stored(sqlalchemys, table)


def test_on_sqlite_each_table_is_one_executemany_on_the_driver(tmp_path):
    engine = _engine(f"sqlite:///{tmp_path}/test.db")
    calls: list[tuple[str, bool]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, _p, _ctx, many: calls.append((sql, many)))
    with Session(engine) as session, session.begin():
        insert_together(session, [(PARENT, _parents(6)), (CHILD, _children(6))])

    assert [call for call in calls if not call[0].startswith("BEGIN")] == [
        ("INSERT INTO bulk_parent (id, amount, at, note) VALUES (?, ?, ?, ?)", True),
        ("INSERT INTO bulk_child (parent_id, payload, doc, tag) VALUES (?, ?, ?, ?)", True),
    ]
