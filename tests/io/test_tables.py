"""The project tables stay portable: the same DDL compiles for SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from roadmark.io import tables


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"]
)
def test_every_table_compiles(dialect):
    for table in tables.metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        assert table.name in ddl
        for index in table.indexes:
            assert index.name in str(CreateIndex(index).compile(dialect=dialect))


def test_postgresql_types_are_portable():
    ddl = "\n".join(
        str(CreateTable(table).compile(dialect=postgresql.dialect()))
        for table in tables.metadata.sorted_tables
    )
    assert "BYTEA" in ddl and "BOOLEAN" in ddl  # geometry as bytes, real booleans
    assert "AUTOINCREMENT" not in ddl.upper()  # no SQLite-only keyword
