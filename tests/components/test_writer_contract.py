"""The database writers' contract, once, for every family: mysql, postgres and supabase.

Append adds, replace swaps in exactly the new rows, upsert merges by key, a failure leaves
the target as it was, text (empty, NULL, 'NULL', a loader's markers) arrives as written.
What one family alone does (its types, its dialect, its error wording) is tested in its file.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from components.protocol import DriverError
from components.sql import io as sqlio
from tests.components.databases import (
    Family,
    mysql_family,
    plane_table,
    postgres_family,
    supabase_family,
)
from tests.components.stepcontext import RecordingContext, make_context

pytestmark = pytest.mark.db

#: Each family: how to make it, and the fixture that makes its test database.
FAMILIES = {
    "mysql": (mysql_family, "mysql_db"),
    "postgres": (postgres_family, "pg_db"),
    "supabase": (supabase_family, "pg_db"),  # the same local PostgreSQL, through pg_dsn
}

ORDERS = (
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2), "
    "name VARCHAR(64), note VARCHAR(255))"
)


@pytest.fixture(params=list(FAMILIES))
def family(request: pytest.FixtureRequest) -> Family:
    make, database = FAMILIES[request.param]
    return make(request.getfixturevalue(database))


@pytest.fixture
def ctx(tmp_path: Path, family: Family) -> RecordingContext:
    return make_context(tmp_path, family.connection, step_id="orders")


SOURCE = """
SELECT * FROM (VALUES
  (1, 79.19::DECIMAL(10,2), 'Ann', TIMESTAMP '2024-03-10 02:30:00.123456', NULL),
  (2, 0.10::DECIMAL(10,2), '', TIMESTAMP '2024-12-31 23:59:59', '😀 "q", \\N'),
  (3, NULL, NULL, NULL, 'NULL'),
  (4, -0.01::DECIMAL(10,2), '\\.', TIMESTAMP '2024-02-29 00:00:00', 'tab\tnew
line \\ back')
) AS t(id, amount, name, created_at, note)
"""
SOURCE_ROWS = [
    (1, Decimal("79.19"), "Ann", datetime(2024, 3, 10, 2, 30, 0, 123456), None),
    (2, Decimal("0.10"), "", datetime(2024, 12, 31, 23, 59, 59), '😀 "q", \\N'),
    (3, None, None, None, "NULL"),
    (4, Decimal("-0.01"), "\\.", datetime(2024, 2, 29), "tab\tnew\nline \\ back"),
]


def test_a_missing_table_is_created_with_its_key_and_exactly_the_rows(
    ctx: RecordingContext, family: Family
) -> None:
    inputs = plane_table(ctx, SOURCE)
    result = family.writer().run(ctx, {"table": "paid", "primary_key": ["id"]}, inputs)
    assert (result.rows_read, result.rows_written, result.details["created"]) == (4, 4, True)
    assert family.sql("SELECT * FROM paid ORDER BY id") == SOURCE_ROWS
    assert family.primary_key("paid") == ["id"]
    assert family.tables() == ["paid"]
    assert ctx.metrics == {}  # row metrics are the runner's, from the result
    assert ("write.progress", {"rows": 4, "table": family.quoted("paid")}) in ctx.events


def test_a_single_text_column_may_hold_a_bulk_loaders_end_marker(
    ctx: RecordingContext, family: Family
) -> None:
    """A lone `\\.` line ends PostgreSQL's COPY data; as a value it is only text."""
    inputs = plane_table(ctx, "SELECT * FROM (VALUES ('\\.'), (''), (NULL)) AS t(line)")
    family.writer().run(ctx, {"table": "texts"}, inputs)
    rows = family.sql("SELECT line FROM texts ORDER BY line IS NULL, line")
    assert rows == [("",), ("\\.",), (None,)]


def test_append_adds_rows_and_matches_columns_ignoring_case(
    ctx: RecordingContext, family: Family
) -> None:
    family.sql(ORDERS, "INSERT INTO orders (id, name) VALUES (10, 'old')")
    inputs = plane_table(ctx, "SELECT 11 AS \"ID\", 'new' AS \"Name\", 'n' AS note")
    result = family.writer().run(ctx, {"table": "orders"}, inputs)
    assert result.details == {
        "table": f"{family.namespace}.orders",
        "write_mode": "append",
        "created": False,
    }
    rows = family.sql("SELECT id, name, note FROM orders ORDER BY id")
    assert rows == [(10, "old", None), (11, "new", "n")]


def failing_input(ctx: RecordingContext) -> dict[str, str]:
    """25 000 rows (three bulk-load files of 10 000), the last one NULL in `name`."""
    return plane_table(
        ctx,
        "SELECT range::INT + 100 AS id, CASE WHEN range = 24999 THEN NULL ELSE 'row ' || range "
        "END AS name FROM range(25000)",
    )


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_a_failure_half_way_leaves_the_table_as_it_was(
    ctx: RecordingContext, family: Family, mode: str
) -> None:
    family.sql(
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
        "INSERT INTO people VALUES (1, 'kept')",
    )
    config = {"table": "people", "write_mode": mode, "primary_key": "id", "batch_size": 100}
    with pytest.raises(DriverError) as raised:
        family.writer().run(ctx, config, failing_input(ctx))
    assert raised.value.category == "data" and "name" in str(raised.value)
    assert sum(name == "write.progress" for name in ctx.event_names()) >= 2
    assert family.sql("SELECT * FROM people") == [(1, "kept")]
    assert family.tables() == ["people"]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_a_cancel_half_way_leaves_the_table_as_it_was_and_stops_the_export(
    ctx: RecordingContext, family: Family, mode: str
) -> None:
    """The bulk-load files are exported by a thread a file ahead: a cancel between files
    stops it, and nothing of the write (thread, files, rows) outlives the step."""
    family.sql(
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
        "INSERT INTO people VALUES (1, 'kept')",
    )
    ctx.cancel_after_events = 1
    config = {"table": "people", "write_mode": mode, "primary_key": "id", "batch_size": 100}
    with pytest.raises(DriverError) as raised:
        family.writer().run(ctx, config, failing_input(ctx))
    assert raised.value.category == "cancelled"
    assert sum(name == "write.progress" for name in ctx.event_names()) == 1
    assert not [t for t in threading.enumerate() if t.name == "osiris-bulk-export"]
    assert not any(sqlio.bulk_folder().glob("load_*"))
    assert family.sql("SELECT * FROM people") == [(1, "kept")]
    assert family.tables() == ["people"]


def test_replace_swaps_in_exactly_the_new_rows(ctx: RecordingContext, family: Family) -> None:
    family.sql(
        ORDERS,
        "CREATE VIEW named AS SELECT id, name FROM orders",
        "INSERT INTO orders (id, name) VALUES (1, 'old'), (2, 'old')",
    )
    inputs = plane_table(ctx, "SELECT 2 AS id, 'new' AS name UNION ALL SELECT 3, 'new'")
    family.writer().run(ctx, {"table": "orders", "write_mode": "replace"}, inputs)
    assert family.sql("SELECT id, name FROM orders ORDER BY id") == [(2, "new"), (3, "new")]
    assert family.sql("SELECT * FROM named ORDER BY id") == [(2, "new"), (3, "new")]
    assert family.primary_key("orders") == ["id"]
    assert family.tables() == ["named", "orders"]


def test_replace_of_a_referenced_table(ctx: RecordingContext, family: Family) -> None:
    family.sql(
        "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE child (parent_id INT REFERENCES parent (id))",
        "INSERT INTO parent VALUES (1, 'old')",
    )
    inputs = plane_table(ctx, "SELECT 5 AS id, 'new' AS name")
    family.writer().run(ctx, {"table": "parent", "write_mode": "replace"}, inputs)
    assert family.sql("SELECT * FROM parent") == [(5, "new")]


def test_upsert_updates_by_key_and_inserts_new_rows(ctx: RecordingContext, family: Family) -> None:
    family.sql(ORDERS, "INSERT INTO orders (id, name, note) VALUES (1, 'a', 'kept'), (2, 'b', '')")
    inputs = plane_table(ctx, "SELECT * FROM (VALUES (2, 'B'), (3, 'C')) AS t(id, name)")
    config = {"table": "orders", "write_mode": "upsert", "primary_key": "id"}
    family.writer().run(ctx, config, inputs)
    assert family.sql("SELECT id, name, note FROM orders ORDER BY id") == [
        (1, "a", "kept"),
        (2, "B", ""),
        (3, "C", None),
    ]
    # progress: the rows to write first, then the server's merge as a phase of its own
    names = [name for name, _ in ctx.events]
    assert names.index("write.start") < names.index("write.phase")
    assert dict(ctx.events)["write.start"]["total"] == 2
    assert dict(ctx.events)["write.phase"]["phase"] == "merge"


def test_upsert_needs_a_unique_key_on_primary_key(ctx: RecordingContext, family: Family) -> None:
    family.sql(ORDERS)
    inputs = plane_table(ctx, "SELECT 1 AS id, 'a' AS name")
    config = {"table": "orders", "write_mode": "upsert", "primary_key": "name"}
    with pytest.raises(DriverError) as raised:
        family.writer().run(ctx, config, inputs)
    assert "unique index" in f"{raised.value} {raised.value.hint}"
    assert family.tables() == ["orders"]


def test_missing_table_without_create_if_missing(ctx: RecordingContext, family: Family) -> None:
    inputs = plane_table(ctx, "SELECT 1 AS id")
    with pytest.raises(DriverError, match="does not exist"):
        family.writer().run(ctx, {"table": "nowhere", "create_if_missing": False}, inputs)
    assert family.tables() == []
