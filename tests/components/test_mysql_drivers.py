"""mysql.extractor and mysql.writer against a real MariaDB: small rows in, exact rows out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from components.mysql import io as mysql_io
from components.mysql_extractor.driver import MySQLExtractor
from components.mysql_writer.driver import MySQLWriter
from components.protocol import DriverError
from tests.components.databases import mysql_sql as sql
from tests.components.databases import plane_table
from tests.components.stepcontext import RecordingContext, make_context

pytestmark = pytest.mark.db

ORDERS = (
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2), "
    "name VARCHAR(64), created_at DATETIME, note VARCHAR(255))"
)


@pytest.fixture
def ctx(tmp_path: Path, mysql_db: dict[str, Any]) -> RecordingContext:
    return make_context(tmp_path, mysql_db, step_id="orders")


# ------------------------------------------------------------------------------ extract


def test_table_read_keeps_types_values_and_order(ctx: RecordingContext, mysql_db: dict) -> None:
    sql(
        mysql_db,
        ORDERS,
        "INSERT INTO orders VALUES (1, 7, 79.19, 'Ann', '2024-03-10 02:30:00', NULL),"
        " (2, 8, 0.10, 'Bob', '2024-12-31 23:59:59', '')",
    )
    result = MySQLExtractor().run(ctx, {"table": "orders"}, {})
    assert (result.rows_read, result.details["reader"]) == (2, "connectorx")
    assert ctx.types() == [
        ("id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("amount", "DECIMAL(10,2)"),
        ("name", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("note", "VARCHAR"),
    ]
    assert ctx.rows() == [
        (1, 7, Decimal("79.19"), "Ann", datetime(2024, 3, 10, 2, 30), None),
        (2, 8, Decimal("0.10"), "Bob", datetime(2024, 12, 31, 23, 59, 59), ""),
    ]
    assert (result.rows_read, result.rows_written) == (2, 2)
    assert "rows_read" not in ctx.metrics  # the runner records it, from the result
    assert ("read.progress", {"rows": 2, "table": '"orders"'}) in ctx.events


def test_a_one_table_read_reports_the_servers_row_estimate(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    """For progress percent: EXPLAIN's estimate (planned, never run); none for a join."""
    sql(
        mysql_db,
        ORDERS,
        "INSERT INTO orders (id) SELECT seq FROM seq_1_to_1000",
        "ANALYZE TABLE orders",
    )
    MySQLExtractor().run(ctx, {"table": "orders"}, {})
    (estimate,) = [data["estimate"] for name, data in ctx.events if name == "read.start"]
    assert 500 <= estimate <= 2000
    ctx.events.clear()
    join = "SELECT a.id FROM orders AS a JOIN orders AS b ON a.id = b.id"
    MySQLExtractor().run(ctx, {"query": join}, {})
    assert "read.start" not in [name for name, _ in ctx.events]


def test_query_keeps_its_column_and_row_order_under_a_limit(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(mysql_db, ORDERS, "INSERT INTO orders (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    config = {"query": "SELECT note, id FROM orders ORDER BY id DESC;", "limit": 2}
    MySQLExtractor().run(ctx, config, {})
    assert [name for name, _ in ctx.types()] == ["note", "id"]
    assert ctx.data_plane.execute('SELECT * FROM "orders"').fetchall() == [("c", 3), ("b", 2)]


def test_table_columns_limit_and_offset(ctx: RecordingContext, mysql_db: dict) -> None:
    sql(mysql_db, ORDERS, "INSERT INTO orders (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    config = {"table": "orders", "columns": ["name", "id"], "limit": 1, "offset": 1}
    MySQLExtractor().run(ctx, {**config, "table": "orders"}, {})
    assert ctx.rows() == [("b", 2)]


def test_fast_reader_types_round_trip_exactly(ctx: RecordingContext, mysql_db: dict) -> None:
    sql(
        mysql_db,
        "CREATE TABLE t (id INT, d DECIMAL(10,2), u BIGINT UNSIGNED, f FLOAT, x DOUBLE,"
        " dt6 DATETIME(6), ts TIMESTAMP(6) NULL, day DATE, y YEAR, s VARCHAR(20),"
        " big LONGTEXT, b BLOB, bits BIT(8), e ENUM('a','b'))",
        "INSERT INTO t VALUES (1, 79.19, 18446744073709551615, 1.5, 0.1,"
        " '2024-03-10 02:30:00.123456', '2024-03-10 12:30:00.5', '2024-02-29', 2024,"
        " '😀 中文 ü', REPEAT('x', 1048576), X'00FF00', b'10101010', 'b'),"
        " (2, -0.01, 0, NULL, NULL, NULL, NULL, NULL, NULL, '', '', '', NULL, NULL)",
    )
    result = MySQLExtractor().run(ctx, {"table": "t"}, {})
    assert result.details["reader"] == "connectorx"
    assert dict(ctx.types())["ts"] == "TIMESTAMP WITH TIME ZONE"
    first, second = ctx.rows()
    assert first == (
        1,
        Decimal("79.19"),
        18446744073709551615,
        1.5,
        0.1,
        datetime(2024, 3, 10, 2, 30, 0, 123456),
        datetime(2024, 3, 10, 12, 30, 0, 500000, tzinfo=UTC),
        date(2024, 2, 29),
        2024,
        "😀 中文 ü",
        "x" * 1048576,
        b"\x00\xff\x00",
        b"\xaa",
        "b",
    )
    assert second == (2, Decimal("-0.01"), 0, *[None] * 6, "", "", b"", None, None)


def test_text_reader_takes_what_the_fast_reader_would_round(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(
        mysql_db,
        "CREATE TABLE t (id INT, fine DECIMAL(30,15), huge DECIMAL(65,30), span TIME(6))",
        "INSERT INTO t VALUES (1, 123456789012345.123456789012345,"
        " 12345678901234567890123456789012345.123456789012345678901234567890, '-838:59:59'),"
        " (2, NULL, NULL, '12:34:56.5')",
    )
    result = MySQLExtractor().run(ctx, {"query": "SELECT *, NULL AS nothing FROM t"}, {})
    assert result.details["reader"] == "pymysql"
    assert ctx.types() == [
        ("id", "INTEGER"),
        ("fine", "DECIMAL(30,15)"),
        ("huge", "VARCHAR"),  # wider than DuckDB's 38 digits: kept as exact text
        ("span", "INTERVAL"),
        ("nothing", "VARCHAR"),
    ]
    assert ctx.rows() == [
        (
            1,
            Decimal("123456789012345.123456789012345"),
            "12345678901234567890123456789012345.123456789012345678901234567890",
            -timedelta(hours=838, minutes=59, seconds=59),
            None,
        ),
        (2, None, None, timedelta(hours=12, minutes=34, seconds=56.5), None),
    ]


def test_zero_dates_make_the_fast_reader_fall_back_and_read_as_null(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(
        mysql_db,
        "SET SESSION sql_mode = ''",
        "CREATE TABLE t (id INT, day DATE, at DATETIME)",
        "INSERT INTO t VALUES (1, '0000-00-00', '0000-00-00 00:00:00'),"
        " (2, '2024-01-02', '2024-01-02 03:04:05')",
    )
    result = MySQLExtractor().run(ctx, {"table": "t"}, {})
    assert result.details["reader"] == "pymysql"
    assert "read.fallback" in ctx.event_names()
    assert ctx.rows() == [(1, None, None), (2, date(2024, 1, 2), datetime(2024, 1, 2, 3, 4, 5))]


def test_a_write_slipped_into_an_extract_fails_at_the_database(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(
        mysql_db,
        "CREATE TABLE audit (a INT)",
        "CREATE FUNCTION sneaky() RETURNS INT MODIFIES SQL DATA "
        "BEGIN INSERT INTO audit VALUES (1); RETURN 1; END",
    )
    with pytest.raises(DriverError) as raised:
        MySQLExtractor().run(ctx, {"query": "SELECT sneaky() AS x"}, {})
    assert "READ ONLY" in str(raised.value) and raised.value.category == "sql"
    with pytest.raises(DriverError, match="READ ONLY"):
        MySQLExtractor().run(ctx, {"query": "DELETE FROM audit"}, {})
    assert sql(mysql_db, "SELECT count(*) FROM audit") == [(0,)]


def test_failing_login_never_shows_the_password(ctx: RecordingContext) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    ctx.connection = {**(ctx.connection or {}), "password": canary}
    with pytest.raises(DriverError) as raised:
        MySQLExtractor().run(ctx, {"table": "orders"}, {})
    error = raised.value
    assert (error.category, error.retryable) == ("auth", False)
    assert canary not in f"{error} {error.hint} {ctx.events}"


def test_password_with_url_characters_reaches_connectorx(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    user, password = f"osiris_u{uuid.uuid4().hex[:8]}", "p@ss:w/rd%#?& x"
    database = mysql_db["database"]
    sql(
        mysql_db,
        ORDERS,
        "INSERT INTO orders (id) VALUES (1)",
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'",
    )
    try:
        ctx.connection = {**mysql_db, "user": user, "password": password}
        result = MySQLExtractor().run(ctx, {"table": "orders", "columns": ["id"]}, {})
        assert (result.details["reader"], ctx.rows()) == ("connectorx", [(1,)])
    finally:
        sql(mysql_db, f"DROP USER '{user}'@'%'")


def test_unreachable_server_is_a_retryable_network_error(ctx: RecordingContext) -> None:
    ctx.connection = {**(ctx.connection or {}), "port": 1}
    with pytest.raises(DriverError) as raised:
        MySQLExtractor().run(ctx, {"table": "orders"}, {})
    assert (raised.value.category, raised.value.retryable) == ("network", True)


def test_cancel_between_batches_leaves_no_output_table(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(mysql_db, ORDERS, *[f"INSERT INTO orders (id) VALUES ({i})" for i in range(1, 501)])
    ctx.cancel_after_events = 2
    with pytest.raises(DriverError) as raised:
        MySQLExtractor().run(ctx, {"table": "orders", "batch_size": 100}, {})
    assert raised.value.category == "cancelled"
    assert ctx.data_plane.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


def test_cancelling_a_fast_read_stops_its_query_on_the_server(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(mysql_db, ORDERS, *[f"INSERT INTO orders (id) VALUES ({i})" for i in range(1, 201)])
    ctx.cancel_after_events = 1
    query = "SELECT a.id FROM orders a, orders b, orders c"  # 8 million rows
    with pytest.raises(DriverError):
        MySQLExtractor().run(ctx, {"query": query, "batch_size": 1000}, {})
    running = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%orders c'"
    # KILL QUERY takes effect asynchronously: wait for the server to end it (the query
    # itself would take far longer to finish on its own; the minute is only a safety net)
    deadline = time.monotonic() + 60
    while sql(mysql_db, running) != [(0,)]:
        assert time.monotonic() < deadline, "the cancelled query still runs after 60 s"
        time.sleep(0.05)


def test_fetch_timeout_stops_the_query_as_a_timeout(ctx: RecordingContext, mysql_db: dict) -> None:
    sql(mysql_db, ORDERS, *[f"INSERT INTO orders (id) VALUES ({i})" for i in range(1, 201)])
    query = "SELECT count(*) AS n FROM orders a, orders b, orders c, orders d"  # 1.6e9 rows
    config = {"query": query, "fetch_timeout_s": 0.2}
    with pytest.raises(DriverError) as raised:
        MySQLExtractor().run(ctx, config, {})
    assert (raised.value.category, raised.value.retryable) == ("timeout", False)


def test_duplicate_column_names_ask_for_aliases(ctx: RecordingContext, mysql_db: dict) -> None:
    sql(mysql_db, ORDERS)
    with pytest.raises(DriverError, match="same name") as raised:
        MySQLExtractor().run(ctx, {"query": "SELECT a.id, b.id FROM orders a JOIN orders b"}, {})
    assert "alias" in str(raised.value.hint)


# ------------------------------------------------------------------------------ write
# The contract every writer keeps is in test_writer_contract.py; here what is MySQL's own.

SOURCE = """
SELECT * FROM (VALUES
  (1, 79.19::DECIMAL(10,2), 'Ann', TIMESTAMP '2024-03-10 02:30:00.123456', NULL, true),
  (2, 0.10::DECIMAL(10,2), '', TIMESTAMP '2024-12-31 23:59:59', '😀 "q", \\N', false),
  (3, NULL, NULL, NULL, 'NULL', NULL)
) AS t(id, amount, name, created_at, note, paid)
"""
SOURCE_ROWS = [
    (1, Decimal("79.19"), "Ann", datetime(2024, 3, 10, 2, 30, 0, 123456), None, 1),
    (2, Decimal("0.10"), "", datetime(2024, 12, 31, 23, 59, 59), '😀 "q", \\N', 0),
    (3, None, None, None, "NULL", None),
]


def test_missing_table_is_created_with_mapped_types(ctx: RecordingContext, mysql_db: dict) -> None:
    inputs = plane_table(ctx, SOURCE)
    MySQLWriter().run(ctx, {"table": "paid", "primary_key": "id"}, inputs)
    columns = sql(
        mysql_db,
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS"
        f" WHERE TABLE_SCHEMA = '{mysql_db['database']}' AND TABLE_NAME = 'paid'"
        " ORDER BY ORDINAL_POSITION",
    )
    assert columns == [
        ("id", "int(11)", "NO", "PRI"),
        ("amount", "decimal(10,2)", "YES", ""),
        ("name", "longtext", "YES", ""),
        ("created_at", "datetime(6)", "YES", ""),
        ("note", "longtext", "YES", ""),
        ("paid", "tinyint(1)", "YES", ""),
    ]
    assert sql(mysql_db, "SELECT * FROM paid ORDER BY id") == SOURCE_ROWS


def test_round_trip_through_the_data_plane_is_exact(tmp_path: Path, mysql_db: dict) -> None:
    sql(
        mysql_db,
        "CREATE TABLE src (id INT PRIMARY KEY, d DECIMAL(10,2), dt DATETIME(6),"
        " ts TIMESTAMP(6) NULL, s LONGTEXT, b LONGBLOB, j JSON)",
        "INSERT INTO src VALUES (1, 79.19, '2024-03-10 02:30:00.5', '2024-03-10 12:30:00',"
        " CONCAT('😀 中文\\t\\n\\\\', REPEAT('y', 1048576)), X'000A0D22', '{\"a\": [1, 2.5]}'),"
        " (2, NULL, NULL, NULL, '', '', NULL)",
    )
    extract_ctx = make_context(tmp_path, mysql_db, step_id="src")
    MySQLExtractor().run(extract_ctx, {"table": "src"}, {})
    MySQLWriter().run(extract_ctx, {"table": "copy"}, {"df": '"src"'})
    columns = "id, d, dt, CAST(ts AS DATETIME(6)), s, b, j"
    assert sql(mysql_db, f"SELECT {columns} FROM copy ORDER BY id") == sql(
        mysql_db, f"SELECT {columns} FROM src ORDER BY id"
    )


def test_upsert_without_a_unique_key_is_refused_before_writing(
    ctx: RecordingContext, mysql_db: dict
) -> None:
    sql(mysql_db, ORDERS)
    inputs = plane_table(ctx, "SELECT 1 AS id, 'a' AS name")
    config = {"table": "orders", "write_mode": "upsert", "primary_key": "name"}
    with pytest.raises(DriverError, match=r"unique index on \(name\)") as raised:
        MySQLWriter().run(ctx, config, inputs)
    assert raised.value.category == "config"


def test_insert_batches_when_the_server_forbids_local_infile(
    ctx: RecordingContext, mysql_db: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mysql_io, "local_infile_enabled", lambda conn: False)
    inputs = plane_table(ctx, SOURCE)
    MySQLWriter().run(ctx, {"table": "paid", "batch_size": 2}, inputs)
    assert sql(mysql_db, "SELECT * FROM paid ORDER BY id") == SOURCE_ROWS
