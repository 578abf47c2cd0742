"""The rows of several tables written with one statement on PostgreSQL: one round trip instead of one per table.

At a steady rate a batch is a few events, and its transaction's time is its round trips (docs/benchmark.md:
about fifteen of 0.5-2 ms at 200 events/s, six of them billing's INSERTs). Each table's rows go in as one array
per column (`INSERT ... SELECT * FROM unnest(...)`), every table in a data-modifying CTE of one statement, so the
statement's text depends on the tables and columns only, not on the number of rows: it is built once per shape.
PostgreSQL checks foreign keys at the end of the statement, so parents and children may share it. SQLite has no
round trips to save: one executemany per table, on the driver (below).

The arrays travel in PostgreSQL's binary format (psycopg's `%(name)b` placeholders). In the text format psycopg
quotes and backslash-escapes every element with regular expressions in Python, and writes each `bytea` element
as hex first: for the outbox's JSON values that was about a tenth of the database step's CPU on PostgreSQL
(552 against 492 µs per event, docs/benchmark.md). The binary format sends each element's length and bytes, with nothing to escape.

On SQLite there is no round trip to save, but SQLAlchemy's executemany builds each row's parameters through the
compiled statement in Python: billing's database step cost 323 µs per event with it, 298 without (apply_micro,
docs/benchmark.md). Each table's rows go to the driver's executemany as tuples instead, each value through the bind
processor SQLAlchemy's INSERT would apply. A single table goes the same way as several, on both databases.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from sqlalchemy import Table, TypeDecorator, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine
from sqlmodel import Session

Rows: TypeAlias = Sequence[Mapping[str, Any]]
Processor: TypeAlias = Callable[[Any], Any] | None


def insert_together(session: Session, writes: Sequence[tuple[Table, Rows]]) -> None:
    """Insert each table's rows, in the order given (parents before children), in the session's transaction.

    Every row of a table must name the same columns; a column left out gets its server default. Tables whose
    rows do not have one shape (rows naming different columns, a column left out with a Python-side default,
    which only SQLAlchemy's INSERT applies) send every table the usual way, one INSERT each, in order."""
    writes = [(table, rows) for table, rows in writes if rows]
    if not writes:
        return
    dialect = session.get_bind().dialect
    if not all(_one_shape(*write) for write in writes):
        for table, rows in writes:  # in order, so parents still go before children
            session.execute(insert(table), list(rows))
        return
    session.flush()  # what Session.execute would do first: pending ORM rows may be the parents of these
    connection = session.connection()
    if dialect.name == "postgresql" and dialect.driver == "psycopg" and not any(map(_has_decorated_json, writes)):
        _insert_as_arrays(connection, writes, dialect)
    elif dialect.name == "sqlite" and dialect.paramstyle == "qmark":
        _insert_as_rows(connection, writes, dialect)
    else:
        for table, rows in writes:
            session.execute(insert(table), list(rows))


def _insert_as_arrays(connection: Connection, writes: Sequence[tuple[Table, Rows]], dialect: Dialect) -> None:
    """PostgreSQL: every table in one statement, each column one binary array."""
    statement, processors = _prepared(tuple((table, tuple(rows[0])) for table, rows in writes), dialect)
    parameters: dict[str, list[Any]] = {}
    for number, ((_, rows), processes) in enumerate(zip(writes, processors, strict=True)):
        for position, (name, process) in enumerate(zip(rows[0], processes, strict=True)):
            values = [row[name] for row in rows]
            parameters[f"w{number}_{position}"] = [process(value) for value in values] if process else values
    connection.exec_driver_sql(statement, parameters)


def _insert_as_rows(connection: Connection, writes: Sequence[tuple[Table, Rows]], dialect: Dialect) -> None:
    """SQLite: one executemany per table on the driver, each row a tuple of processed values."""
    for table, rows in writes:
        names = tuple(rows[0])
        statement, processes = _prepared_rows(table, names, dialect)
        columns = [[row[name] for row in rows] for name in names]
        processed = [
            list(map(process, values)) if process else values
            for values, process in zip(columns, processes, strict=True)
        ]
        connection.exec_driver_sql(statement, list(zip(*processed, strict=True)))


def _one_shape(table: Table, rows: Rows) -> bool:
    columns = set(rows[0])
    if any(set(row) != columns for row in rows):
        return False
    return not any(column.default is not None for column in table.columns if column.name not in columns)


def _has_decorated_json(write: tuple[Table, Rows]) -> bool:
    """A TypeDecorator over JSON ends its processing in psycopg's JSON adapter, which an array of text cannot use."""
    table, rows = write
    decorated = [t for name in rows[0] if isinstance(t := table.c[name].type, TypeDecorator)]
    return any(_is_json(column_type.impl) for column_type in decorated)


@functools.lru_cache(maxsize=64)
def _prepared_rows(table: Table, names: tuple[str, ...], dialect: Dialect) -> tuple[str, list[Processor]]:
    """SQLite's INSERT of these columns (qmark placeholders, in the order of `names`) and each column's bind
    processor, exactly as SQLAlchemy's INSERT would apply it."""
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(table.c[name].name) for name in names)
    placeholders = ", ".join("?" for _ in names)
    processors: list[Processor] = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    # Names from the table's own metadata, quoted by the dialect; the values travel as parameters.
    return f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES ({placeholders})", processors  # noqa: S608


def _bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy's INSERT would do to each value (the dialect's processing, a TypeDecorator's own); JSON is
    serialised here, since psycopg's JSON adapter works on single values, not on elements of an array."""
    implementation = column_type.dialect_impl(dialect)
    if _is_json(implementation):
        serialise = getattr(dialect, "_json_serializer", None) or json.dumps
        none_as_null = getattr(implementation, "none_as_null", False)
        return lambda value: None if value is None and none_as_null else serialise(value)
    return implementation.bind_processor(dialect)


def _is_json(column_type: Any) -> bool:
    return isinstance(column_type, sqltypes.JSON)


@functools.lru_cache(maxsize=64)
def _prepared(shape: tuple[tuple[Table, tuple[str, ...]], ...], dialect: Dialect) -> tuple[str, list[list[Processor]]]:
    """The statement for these tables and columns (psycopg's SQL, each array a binary parameter), and each
    column's bind processor, built once per shape."""
    preparer = dialect.identifier_preparer
    parts = []
    for number, (table, names) in enumerate(shape):
        columns = ", ".join(preparer.quote(name) for name in names)
        arrays = ", ".join(
            f"CAST(%(w{number}_{position})b AS {table.c[name].type.compile(dialect=dialect)}[])"
            for position, name in enumerate(names)
        )
        parts.append(
            # Names from the table's own metadata, quoted by the dialect; the values travel as parameters.
            f"w{number} AS (INSERT INTO {preparer.format_table(table)} ({columns}) SELECT * FROM unnest({arrays}))"  # noqa: S608
        )
    processors = [[_bind_processor(table.c[name].type, dialect) for name in names] for table, names in shape]
    return "WITH " + ", ".join(parts) + " SELECT 1", processors
