"""postgres.extractor and postgres.writer against a real PostgreSQL: exact rows in and out."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from components.postgres_extractor.driver import PostgresExtractor
from components.postgres_writer.driver import PostgresWriter
from components.protocol import DriverError
from components.sql.io import scrub
from tests.components.databases import plane_table
from tests.components.databases import postgres_sql as sql
from tests.components.stepcontext import RecordingContext, make_context

pytestmark = pytest.mark.db

ORDERS = (
    "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric(10,2), "
    "name varchar(64), created_at timestamp, note text)"
)


@pytest.fixture
def ctx(tmp_path: Path, pg_db: dict[str, Any]) -> RecordingContext:
    return make_context(tmp_path, pg_db, step_id="orders")


# ------------------------------------------------------------------------------ extract


def test_table_read_keeps_types_values_and_order(ctx: RecordingContext, pg_db: dict) -> None:
    sql(
        pg_db,
        ORDERS,
        "INSERT INTO orders VALUES (1, 7, 79.19, 'Ann', '2024-03-10 02:30:00', NULL),"
        " (2, 8, 0.10, 'Bob', '2024-12-31 23:59:59', '')",
    )
    result = PostgresExtractor().run(ctx, {"table": "orders"}, {})
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


def test_a_read_reports_the_planners_row_estimate(ctx: RecordingContext, pg_db: dict) -> None:
    """For progress percent: EXPLAIN's estimate (planned, never run)."""
    sql(
        pg_db,
        ORDERS,
        "INSERT INTO orders (id) SELECT g FROM generate_series(1, 1000) g",
        "ANALYZE orders",
    )
    PostgresExtractor().run(ctx, {"table": "orders"}, {})
    (estimate,) = [data["estimate"] for name, data in ctx.events if name == "read.start"]
    assert 500 <= estimate <= 2000


def test_query_keeps_its_column_and_row_order_under_a_limit(
    ctx: RecordingContext, pg_db: dict
) -> None:
    sql(pg_db, ORDERS, "INSERT INTO orders (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    config = {"query": "SELECT note, id FROM orders ORDER BY id DESC", "limit": 2}
    PostgresExtractor().run(ctx, config, {})
    assert ctx.data_plane.execute('SELECT * FROM "orders"').fetchall() == [("c", 3), ("b", 2)]


def test_table_columns_limit_and_offset(ctx: RecordingContext, pg_db: dict) -> None:
    sql(pg_db, ORDERS, "INSERT INTO orders (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    config = {"table": "orders", "columns": ["name", "id"], "limit": 1, "offset": 1}
    PostgresExtractor().run(ctx, config, {})
    assert ctx.rows() == [("b", 2)]


TYPES = (
    "CREATE TABLE t (id int, s smallint, b bigint, ok boolean, d numeric(10,2),"
    " fine numeric(30,15), free numeric, r real, x double precision, day date, at time,"
    " ts timestamp(6), tz timestamptz, span interval, txt text, big text, raw bytea,"
    " js json, jb jsonb, u uuid, ints int[], word varchar(5))"
)
TYPE_ROW = (
    "INSERT INTO t VALUES (1, -3, 9007199254740993, true, 79.19,"
    " 123456789012345.123456789012345, 1.0/3, 1.5, 0.1, '2024-02-29', '12:34:56.5',"
    " '2024-03-10 02:30:00.123456', '2024-03-10 12:30:00+02', '1 day 02:03:04',"
    " '😀 中文 ü', repeat('x', 1048576), '\\x00ff10', '{\"a\": [1, 2.5]}', '{\"b\": null}',"
    " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', ''),"
    " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " '', '', '', NULL, NULL, NULL, NULL, NULL)"
)
TYPE_ROWS = [
    (
        1,
        -3,
        9007199254740993,
        True,
        Decimal("79.19"),
        Decimal("123456789012345.123456789012345"),
        Decimal("0.33333333333333333333"),
        1.5,
        0.1,
        date(2024, 2, 29),
        time(12, 34, 56, 500000),
        datetime(2024, 3, 10, 2, 30, 0, 123456),
        datetime(2024, 3, 10, 10, 30, tzinfo=UTC),
        timedelta(days=1, hours=2, minutes=3, seconds=4),
        "😀 中文 ü",
        "x" * 1048576,
        b"\x00\xff\x10",
        '{"a": [1, 2.5]}',
        '{"b": null}',
        uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        "[1,null,3]",
        "",
    ),
    (2, *[None] * 13, "", "", b"", *[None] * 5),
]
TYPE_NAMES = [
    ("id", "INTEGER"),
    ("s", "SMALLINT"),
    ("b", "BIGINT"),
    ("ok", "BOOLEAN"),
    ("d", "DECIMAL(10,2)"),
    ("fine", "DECIMAL(30,15)"),
    ("free", "DECIMAL(38,20)"),  # unconstrained numeric: the scale the data needs
    ("r", "FLOAT"),
    ("x", "DOUBLE"),
    ("day", "DATE"),
    ("at", "TIME"),
    ("ts", "TIMESTAMP"),
    ("tz", "TIMESTAMP WITH TIME ZONE"),
    ("span", "INTERVAL"),
    ("txt", "VARCHAR"),
    ("big", "VARCHAR"),
    ("raw", "BLOB"),
    ("js", "JSON"),
    ("jb", "JSON"),
    ("u", "UUID"),
    ("ints", "JSON"),  # arrays arrive as JSON lists
    ("word", "VARCHAR"),
]


@pytest.mark.parametrize("reader", ["connectorx", "copy_csv"])
def test_types_round_trip_exactly_through_either_reader(
    ctx: RecordingContext, pg_db: dict, reader: str
) -> None:
    sql(pg_db, TYPES, TYPE_ROW)
    if reader == "copy_csv":  # libpq-only TLS policies keep connectorx out
        ctx.connection = {**(ctx.connection or {}), "sslmode": "allow"}
    result = PostgresExtractor().run(ctx, {"table": "t"}, {})
    assert result.details["reader"] == reader
    assert ctx.types() == TYPE_NAMES
    assert ctx.rows() == TYPE_ROWS


def test_a_write_slipped_into_an_extract_fails_at_the_database(
    ctx: RecordingContext, pg_db: dict
) -> None:
    sql(
        pg_db,
        "CREATE TABLE audit (a int)",
        "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS "
        "'INSERT INTO audit VALUES (1) RETURNING 1'",
    )
    with pytest.raises(DriverError) as raised:
        PostgresExtractor().run(ctx, {"query": "SELECT sneaky() AS x"}, {})
    assert "read-only transaction" in str(raised.value)
    assert (raised.value.category, "read-only" in str(raised.value.hint)) == ("sql", True)
    assert sql(pg_db, "SELECT count(*) FROM audit") == [(0,)]


def test_failing_login_never_shows_the_password(ctx: RecordingContext) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    ctx.connection = {**(ctx.connection or {}), "user": "nobody_here", "password": canary}
    with pytest.raises(DriverError) as raised:
        PostgresExtractor().run(ctx, {"table": "orders"}, {})
    assert raised.value.category == "auth"
    assert canary not in f"{raised.value} {raised.value.hint} {ctx.events}"


def test_scrub_masks_a_password_a_driver_echoes() -> None:
    fields = {"password": "s3cr3t/x"}
    echoed = 'postgresql://u:s3cr3t%2Fx@h/db failed; password=s3cr3t/x "s3cr3t/x"'
    assert scrub(echoed, fields) == 'postgresql://u:***@h/db failed; password=*** "***"'


def test_unknown_database_is_a_config_error(ctx: RecordingContext) -> None:
    ctx.connection = {**(ctx.connection or {}), "database": f"missing_{uuid.uuid4().hex[:6]}"}
    with pytest.raises(DriverError) as raised:
        PostgresExtractor().run(ctx, {"table": "orders"}, {})
    assert raised.value.category == "config"


def test_statement_timeout_is_a_timeout(ctx: RecordingContext) -> None:
    config = {"query": "SELECT pg_sleep(2) AS slept", "fetch_timeout_s": 0.2}
    with pytest.raises(DriverError) as raised:
        PostgresExtractor().run(ctx, config, {})
    assert (raised.value.category, raised.value.retryable) == ("timeout", False)


def test_cancel_between_batches_leaves_no_output_table(ctx: RecordingContext, pg_db: dict) -> None:
    sql(pg_db, ORDERS, "INSERT INTO orders (id) SELECT generate_series(1, 500)")
    ctx.cancel_after_events = 2
    with pytest.raises(DriverError) as raised:
        PostgresExtractor().run(ctx, {"table": "orders", "batch_size": 100}, {})
    assert raised.value.category == "cancelled"
    assert ctx.data_plane.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


# ------------------------------------------------------------------------------ write
# The contract every writer keeps is in test_writer_contract.py; here what is PostgreSQL's own.

SOURCE = """
SELECT * FROM (VALUES
  (1, 79.19::DECIMAL(10,2), 'Ann', TIMESTAMP '2024-03-10 02:30:00.123456',
   TIMESTAMPTZ '2024-03-10 12:30:00+02', NULL, true, '\\x00\\x0A'::BLOB),
  (2, 0.10::DECIMAL(10,2), '', TIMESTAMP '2024-12-31 23:59:59', NULL, '😀 "q", \\.', false,
   ''::BLOB),
  (3, NULL, NULL, NULL, NULL, 'NULL', NULL, NULL)
) AS t(id, amount, name, created_at, seen_at, note, paid, raw)
"""
SOURCE_ROWS = [
    (
        1,
        Decimal("79.19"),
        "Ann",
        datetime(2024, 3, 10, 2, 30, 0, 123456),
        datetime(2024, 3, 10, 10, 30, tzinfo=UTC),
        None,
        True,
        b"\x00\n",
    ),
    (2, Decimal("0.10"), "", datetime(2024, 12, 31, 23, 59, 59), None, '😀 "q", \\.', False, b""),
    (3, None, None, None, None, "NULL", None, None),
]


def test_missing_table_is_created_with_mapped_types(ctx: RecordingContext, pg_db: dict) -> None:
    inputs = plane_table(ctx, SOURCE)
    PostgresWriter().run(ctx, {"table": "paid", "primary_key": ["id"]}, inputs)
    columns = sql(
        pg_db,
        "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable"
        f" FROM information_schema.columns WHERE table_schema = '{pg_db['schema']}'"
        " AND table_name = 'paid' ORDER BY ordinal_position",
    )
    assert columns == [
        ("id", "integer", 32, 0, "NO"),
        ("amount", "numeric", 10, 2, "YES"),
        ("name", "text", None, None, "YES"),
        ("created_at", "timestamp without time zone", None, None, "YES"),
        ("seen_at", "timestamp with time zone", None, None, "YES"),
        ("note", "text", None, None, "YES"),
        ("paid", "boolean", None, None, "YES"),
        ("raw", "bytea", None, None, "YES"),
    ]
    assert sql(pg_db, "SELECT * FROM paid ORDER BY id") == SOURCE_ROWS


def test_round_trip_through_the_data_plane_is_exact(tmp_path: Path, pg_db: dict) -> None:
    sql(pg_db, TYPES, TYPE_ROW)
    extract_ctx = make_context(tmp_path, pg_db, step_id="src")
    PostgresExtractor().run(extract_ctx, {"table": "t"}, {})
    PostgresWriter().run(extract_ctx, {"table": "copy"}, {"df": '"src"'})
    same = "id, s, b, ok, d, fine, free, r, x, day, at, ts, tz, span, txt, big, raw, u, word"
    assert sql(pg_db, f"SELECT {same}, jb::text FROM copy ORDER BY id") == sql(
        pg_db, f"SELECT {same}, jb::text FROM t ORDER BY id"
    )


def test_replace_of_a_plain_and_of_a_partitioned_table(ctx: RecordingContext, pg_db: dict) -> None:
    """Replace COPYs straight into the table it emptied, FREEZE for a plain table; PostgreSQL
    refuses FREEZE for a partitioned one, which loads without it."""
    sql(
        pg_db,
        "CREATE TABLE plain (id int, name text)",
        "INSERT INTO plain VALUES (0, 'old')",
        "CREATE TABLE parted (id int, name text) PARTITION BY RANGE (id)",
        "CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (10)",
        "CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (10) TO (100)",
        "INSERT INTO parted VALUES (0, 'old')",
    )
    inputs = plane_table(ctx, "SELECT * FROM (VALUES (5, 'low'), (50, 'high')) AS t(id, name)")
    for table in ("plain", "parted"):
        PostgresWriter().run(ctx, {"table": table, "write_mode": "replace"}, inputs)
    assert sql(pg_db, "SELECT * FROM plain ORDER BY id") == [(5, "low"), (50, "high")]
    assert sql(pg_db, "SELECT tableoid::regclass::text, * FROM parted ORDER BY id") == [
        ("parted_low", 5, "low"),
        ("parted_high", 50, "high"),
    ]


def test_upsert_without_a_unique_key_is_the_servers_sql_error(
    ctx: RecordingContext, pg_db: dict
) -> None:
    sql(pg_db, ORDERS)
    inputs = plane_table(ctx, "SELECT 1 AS id, 'a' AS name")
    config = {"table": "orders", "write_mode": "upsert", "primary_key": "name"}
    with pytest.raises(DriverError) as raised:
        PostgresWriter().run(ctx, config, inputs)
    assert raised.value.category == "sql" and "unique index" in str(raised.value.hint)


def test_unqualified_names_resolve_in_the_connection_schema(tmp_path: Path, pg_db: dict) -> None:
    """Regression: search_path once went to the server as one quoted string, naming a
    schema called '"public", public', so no unqualified table resolved on the fast path."""
    table = f"osiris_public_{uuid.uuid4().hex[:8]}"
    public = {**pg_db, "schema": "public"}
    sql(
        public,
        f"CREATE TABLE public.{table} (id int)",
        f"INSERT INTO public.{table} VALUES (1), (2)",
    )
    try:
        context = make_context(tmp_path, public, step_id="orders")
        query = f"SELECT id, current_schema() AS s FROM {table} ORDER BY id"
        result = PostgresExtractor().run(context, {"query": query}, {})
        assert result.details["reader"] == "connectorx"
        assert context.rows() == [(1, "public"), (2, "public")]
    finally:
        sql(public, f"DROP TABLE public.{table}")
