"""The file drivers on a real DuckDB data plane: csv_extractor, csv_writer, duckdb.processor.

CSV convention under test: NULL is an empty unquoted field, the empty string is `""`;
timestamps are ISO 8601 (with a zone: UTC, `+00:00`); decimals keep their scale.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from components.duckdb_processor.driver import DuckDBProcessorDriver
from components.filesystem_csv_extractor.driver import CSVExtractorDriver
from components.filesystem_csv_writer.driver import CSVWriterDriver
from components.protocol import DriverError, StepResult
from tests.components.filectx import FilePlane, FileStepContext, quote

UTC = dt.UTC

TRICKY = """
CREATE TABLE src AS SELECT * FROM (VALUES
  (1, 'plain', 79.19::DECIMAL(10,2), TIMESTAMP '2024-01-02 03:04:05',
   TIMESTAMPTZ '2024-01-02 03:04:05+02', DATE '2024-01-02', 0.1::DOUBLE, true),
  (2, 'a,b', 0.10, TIMESTAMP '2024-01-02 03:04:05.5',
   TIMESTAMPTZ '2024-06-30 23:59:59.123456+00', DATE '1999-12-31', 1e20, false),
  (3, 'say "hi"', -12345678.90, NULL, NULL, NULL, NULL, NULL),
  (4, e'line1\\nline2', 0, TIMESTAMP '2024-01-02 00:00:00',
   TIMESTAMPTZ '2024-01-02 00:00:00+00', DATE '2024-01-02', -0.5, NULL),
  (5, 'ünïcødé 😀', NULL, NULL, NULL, NULL, NULL, NULL),
  (6, '', 1.00, NULL, NULL, NULL, NULL, NULL),
  (7, NULL, 2.50, NULL, NULL, NULL, NULL, NULL)
) AS t(id, txt, price, ts, tstz, day, ratio, flag)
"""

TRICKY_CSV = (
    "id,txt,price,ts,tstz,day,ratio,flag\n"
    "1,plain,79.19,2024-01-02T03:04:05,2024-01-02T01:04:05+00:00,2024-01-02,0.1,true\n"
    '2,"a,b",0.10,2024-01-02T03:04:05.5,2024-06-30T23:59:59.123456+00:00,1999-12-31,1e+20,false\n'
    '3,"say ""hi""",-12345678.90,,,,,\n'
    '4,"line1\nline2",0.00,2024-01-02T00:00:00,2024-01-02T00:00:00+00:00,2024-01-02,-0.5,\n'
    "5,ünïcødé 😀,,,,,,\n"
    '6,"",1.00,,,,,\n'
    "7,,2.50,,,,,\n"
)

TRICKY_ROWS = [
    (
        1, "plain", Decimal("79.19"), dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC), dt.date(2024, 1, 2), 0.1, True,
    ),
    (
        2, "a,b", Decimal("0.10"), dt.datetime(2024, 1, 2, 3, 4, 5, 500000),
        dt.datetime(2024, 6, 30, 23, 59, 59, 123456, tzinfo=UTC), dt.date(1999, 12, 31),
        1e20, False,
    ),
    (3, 'say "hi"', Decimal("-12345678.90"), None, None, None, None, None),
    (
        4, "line1\nline2", Decimal("0.00"), dt.datetime(2024, 1, 2),
        dt.datetime(2024, 1, 2, tzinfo=UTC), dt.date(2024, 1, 2), -0.5, None,
    ),
    (5, "ünïcødé 😀", None, None, None, None, None, None),
    (6, "", Decimal("1.00"), None, None, None, None, None),
    (7, None, Decimal("2.50"), None, None, None, None, None),
]  # fmt: skip


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[FilePlane]:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    connection = duckdb.connect(str(tmp_path / "plane.duckdb"))
    connection.execute("SET TimeZone = 'UTC'")
    try:
        yield FilePlane(project, connection)
    finally:
        connection.close()


def base_of(plane: FilePlane) -> dict[str, Any]:
    return {"base_dir": str(plane.project_dir / "data")}


def extract(
    plane: FilePlane, step_id: str, config: Mapping[str, Any], base: bool = True
) -> StepResult:
    ctx = plane.context(step_id, base_of(plane) if base else None)
    return CSVExtractorDriver().run(ctx, config, {})


def write(
    plane: FilePlane, table: str, config: Mapping[str, Any], ctx: FileStepContext | None = None
) -> StepResult:
    ctx = ctx or plane.context("write", base_of(plane))
    return CSVWriterDriver().run(ctx, config, {table: quote(table)})


def process(plane: FilePlane, step_id: str, query: str, inputs: Mapping[str, str]) -> StepResult:
    ctx = plane.context(step_id)
    return DuckDBProcessorDriver().run(ctx, {"query": query}, inputs)


def data_file(plane: FilePlane, name: str) -> Path:
    return plane.project_dir / "data" / name


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- round trips -------------------------------------------------------------------------------


def test_writer_prints_exact_values_in_the_input_column_order(plane: FilePlane) -> None:
    plane.connection.execute(TRICKY)

    result = write(plane, "src", {"path": "out.csv"})

    assert data_file(plane, "out.csv").read_text("utf-8") == TRICKY_CSV
    assert (result.rows_read, result.rows_written) == (7, 7)
    assert result.details["path"] == str(data_file(plane, "out.csv"))


def test_csv_round_trip_is_lossless(plane: FilePlane) -> None:
    plane.connection.execute(TRICKY)
    write(plane, "src", {"path": "out.csv"})

    result = extract(plane, "back", {"path": "out.csv"})

    assert (result.rows_read, result.rows_written) == (7, 7)
    assert plane.rows("back") == TRICKY_ROWS
    assert plane.columns("back") == [
        ("id", "BIGINT"),
        ("txt", "VARCHAR"),
        ("price", "DECIMAL(18,2)"),
        ("ts", "TIMESTAMP"),
        ("tstz", "TIMESTAMP WITH TIME ZONE"),
        ("day", "DATE"),
        ("ratio", "DOUBLE"),
        ("flag", "BOOLEAN"),
    ]
    # and written once more, byte for byte the same file
    write(plane, "back", {"path": "again.csv"})
    assert data_file(plane, "again.csv").read_text("utf-8") == TRICKY_CSV


def test_decimals_of_one_scale_are_read_exactly(plane: FilePlane) -> None:
    data_file(plane, "n.csv").write_text(
        "money,mixed,sci,whole,pinned\n"
        "0.10,1.5,1e3,1,0.10\n"
        "0.20,2.25,2.5,2,0.20\n"
        ",,,,\n"
        "-1234567890123.45,3,3.5,3,0.30\n",
        "utf-8",
    )

    extract(plane, "n", {"path": "n.csv", "dtype": {"pinned": "float64"}})
    sums = plane.connection.execute(
        "SELECT sum(money), sum(mixed), sum(pinned) FROM n WHERE money > 0"
    ).fetchall()

    assert plane.columns("n") == [
        ("money", "DECIMAL(18,2)"),
        ("mixed", "DOUBLE"),
        ("sci", "DOUBLE"),
        ("whole", "BIGINT"),
        ("pinned", "DOUBLE"),
    ]
    assert sums == [(Decimal("0.30"), 3.75, 0.30000000000000004)]


def test_null_and_empty_string_stay_apart_even_in_one_column(plane: FilePlane) -> None:
    plane.connection.execute(
        "CREATE TABLE one AS SELECT * FROM (VALUES ('a'), (''), (NULL), ('NA')) AS t(v)"
    )
    write(plane, "one", {"path": "one.csv"})
    assert data_file(plane, "one.csv").read_text("utf-8") == 'v\na\n""\n\nNA\n'

    extract(plane, "back", {"path": "one.csv"})
    assert plane.rows("back") == [("a",), ("",), (None,), ("NA",)]


def test_na_values_mark_unquoted_nulls_only(plane: FilePlane) -> None:
    data_file(plane, "na.csv").write_text('id,v\n1,NA\n2,"NA"\n3,\n4,""\n5,-\n', "utf-8")

    extract(plane, "na", {"path": "na.csv", "na_values": ["NA", "-"]})

    assert plane.rows("na") == [(1, None), (2, "NA"), (3, None), (4, ""), (5, None)]


def test_a_value_that_looks_like_a_comment_is_data(plane: FilePlane) -> None:
    data_file(plane, "hash.csv").write_text("a,b\n1,#x\n#2,y\n", "utf-8")

    extract(plane, "hash", {"path": "hash.csv"})

    assert plane.rows("hash") == [("1", "#x"), ("#2", "y")]


def test_extractor_dialect_options(plane: FilePlane) -> None:
    data_file(plane, "semi.csv").write_text(
        "exported 2024-01-02\n# a comment\nid;name;amount\n1;x;1.5\n2;y;2.25\n3;z;3\n", "utf-8"
    )

    result = extract(
        plane,
        "semi",
        {
            "path": "semi.csv",
            "delimiter": ";",
            "skip_rows": 1,
            "comment": "#",
            "columns": ["amount", "id"],
            "dtype": {"amount": "DECIMAL(6,2)", "id": "int64"},
            "limit": 2,
        },
    )

    assert plane.columns("semi") == [("amount", "DECIMAL(6,2)"), ("id", "BIGINT")]
    assert plane.rows("semi") == [(Decimal("1.50"), 1), (Decimal("2.25"), 2)]
    assert (result.rows_read, result.details["columns"]) == (2, ["amount", "id"])


def test_extractor_header_row_number_and_no_header(plane: FilePlane) -> None:
    data_file(plane, "h.csv").write_text("title\nid,name\n1,x\n", "utf-8")
    data_file(plane, "nh.tsv").write_text("1\tx\n2\ty\n", "utf-8")

    extract(plane, "h", {"path": "h.csv", "header": 1})
    extract(plane, "nh", {"path": "nh.tsv", "header": False, "delimiter": "\t"})

    assert (plane.columns("h"), plane.rows("h")) == (
        [("id", "BIGINT"), ("name", "VARCHAR")],
        [(1, "x")],
    )
    assert [name for name, _ in plane.columns("nh")] == ["column0", "column1"]
    assert plane.rows("nh") == [(1, "x"), (2, "y")]


def test_extractor_encodings_and_gzip(plane: FilePlane) -> None:
    data_file(plane, "latin.csv").write_bytes("id,city\n1,Zürich\n".encode("latin-1"))
    data_file(plane, "wide.csv").write_bytes("id,city\n1,Kraków\n".encode("utf-16"))
    with gzip.open(data_file(plane, "packed.csv.gz"), "wt", encoding="utf-8") as handle:
        handle.write("id,city\n1,Genève\n")

    extract(plane, "latin", {"path": "latin.csv", "encoding": "iso-8859-1"})
    extract(plane, "wide", {"path": "wide.csv", "encoding": "utf-16"})
    extract(plane, "packed", {"path": "packed.csv.gz"})

    assert plane.rows("latin") == [(1, "Zürich")]
    assert plane.rows("wide") == [(1, "Kraków")]
    assert plane.rows("packed") == [(1, "Genève")]


def test_extractor_without_connection_reads_from_the_project(plane: FilePlane) -> None:
    (plane.project_dir / "in.csv").write_text("a\n1\n", "utf-8")

    extract(plane, "plain", {"path": "in.csv"}, base=False)

    assert plane.rows("plain") == [(1,)]


def test_extractor_errors_name_the_problem(plane: FilePlane) -> None:
    data_file(plane, "x.csv").write_text("a,b\n1,2\n", "utf-8")

    with pytest.raises(DriverError) as missing:
        extract(plane, "e1", {"path": "nope.csv"})
    with pytest.raises(DriverError) as column:
        extract(plane, "e2", {"path": "x.csv", "columns": ["a", "c"]})

    assert missing.value.category == "config"
    assert str(missing.value) == f"no file at 'nope.csv' ({data_file(plane, 'nope.csv')})"
    assert column.value.category == "config"
    assert column.value.hint == "columns in the file: a, b"


# -- writer options ----------------------------------------------------------------------------


def test_writer_dialect_options(plane: FilePlane) -> None:
    plane.connection.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'x', 2.50::DECIMAL(4,2), NULL::VARCHAR),"
        " (2, 'tab\there', 0.00, '')) AS v(n, s, d, e)"
    )

    write(plane, "t", {"path": "all.csv", "quoting": "all", "newline": "crlf"})
    write(plane, "t", {"path": "nonnum.tsv", "quoting": "nonnumeric", "delimiter": "\t"})
    write(plane, "t", {"path": "bare.csv", "header": False})

    assert data_file(plane, "all.csv").read_bytes() == (
        b'"n","s","d","e"\r\n"1","x","2.50",\r\n"2","tab\there","0.00",""\r\n'
    )
    assert data_file(plane, "nonnum.tsv").read_bytes() == (
        b'n\t"s"\td\t"e"\n1\t"x"\t2.50\t\n2\t"tab\there"\t0.00\t""\n'
    )
    assert data_file(plane, "bare.csv").read_bytes() == b'1,x,2.50,\n2,tab\there,0.00,""\n'


def test_writer_encodings(plane: FilePlane) -> None:
    plane.connection.execute("CREATE TABLE t AS SELECT 'Zürich' AS city")

    write(plane, "t", {"path": "latin.csv", "encoding": "latin-1"})
    write(plane, "t", {"path": "wide.csv", "encoding": "utf-16"})
    with pytest.raises(DriverError) as ascii_error:
        write(plane, "t", {"path": "ascii.csv", "encoding": "ascii"})

    assert data_file(plane, "latin.csv").read_bytes() == "city\nZürich\n".encode("latin-1")
    assert data_file(plane, "wide.csv").read_bytes() == "city\nZürich\n".encode("utf-16")
    assert ascii_error.value.category == "data"
    assert str(ascii_error.value) == (
        "a value cannot be written in ascii: ordinal not in range(128) ('ü')"
    )
    assert listing(plane.project_dir / "data") == ["latin.csv", "wide.csv"]


def test_writer_creates_folders_only_when_asked(plane: FilePlane) -> None:
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS n")

    with pytest.raises(DriverError) as refused:
        write(plane, "t", {"path": "out/deep/t.csv", "create_dirs": False})
    write(plane, "t", {"path": "out/deep/t.csv"})

    assert refused.value.category == "config"
    assert refused.value.hint == "create it, or set create_dirs: true"
    assert data_file(plane, "out/deep/t.csv").read_text("utf-8") == "n\n1\n"


def test_append_adds_rows_without_a_second_header(plane: FilePlane) -> None:
    plane.connection.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a')) AS v(id, s)")
    plane.connection.execute("CREATE TABLE u AS SELECT * FROM (VALUES (2, '')) AS v(id, s)")

    write(plane, "t", {"path": "log.csv", "write_mode": "append"})
    write(plane, "u", {"path": "log.csv", "write_mode": "append"})

    assert data_file(plane, "log.csv").read_text("utf-8") == 'id,s\n1,a\n2,""\n'


def test_append_refuses_a_file_with_other_columns(plane: FilePlane) -> None:
    data_file(plane, "log.csv").write_text("id,other\n1,a", "utf-8")
    plane.connection.execute("CREATE TABLE t AS SELECT 2 AS id, 'b' AS s")

    with pytest.raises(DriverError) as refused:
        write(plane, "t", {"path": "log.csv", "write_mode": "append"})

    assert refused.value.category == "data"
    assert str(refused.value) == (
        "cannot append to log.csv: its header differs from the input's columns"
    )
    assert data_file(plane, "log.csv").read_text("utf-8") == "id,other\n1,a"
    assert listing(plane.project_dir / "data") == ["log.csv"]


def test_append_to_a_file_without_final_newline(plane: FilePlane) -> None:
    data_file(plane, "log.csv").write_text("id,s\n1,a", "utf-8")
    plane.connection.execute("CREATE TABLE t AS SELECT 2 AS id, 'b' AS s")

    write(plane, "t", {"path": "log.csv", "write_mode": "append"})

    assert data_file(plane, "log.csv").read_text("utf-8") == "id,s\n1,a\n2,b\n"


# -- atomicity ---------------------------------------------------------------------------------


def test_a_failure_half_way_leaves_the_old_file_and_no_temporary(plane: FilePlane) -> None:
    target = data_file(plane, "out.csv")
    target.write_text("old,content\n1,2\n", "utf-8")
    os.chmod(target, 0o640)
    # The input fails on a row deep into the stream, after DuckDB has written some of it.
    plane.connection.execute(
        "CREATE VIEW boom AS SELECT i, CASE WHEN i < 300000 THEN 'row ' || i "
        "ELSE error('boom at ' || i) END AS s FROM range(400000) t(i)"
    )

    with pytest.raises(DriverError) as failed:
        write(plane, "boom", {"path": "out.csv"})

    assert failed.value.category == "data"
    assert str(failed.value) == "writing out.csv failed: Invalid Input Error: boom at 300000"
    assert target.read_text("utf-8") == "old,content\n1,2\n"
    assert listing(target.parent) == ["out.csv"]


def test_a_cancel_before_the_rename_leaves_the_old_file(plane: FilePlane) -> None:
    target = data_file(plane, "out.csv")
    target.write_text("old\n", "utf-8")
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS n")

    class CancelAfterCopy(FileStepContext):
        calls = 0

        def cancelled(self) -> bool:
            self.calls += 1
            return self.calls > 1  # the first check passes, the one before renaming does not

    base = plane.context("write", base_of(plane))
    ctx = CancelAfterCopy(
        "write", base.data_plane, plane.project_dir, base.artifacts_dir, base.connection
    )
    with pytest.raises(DriverError) as cancelled:
        write(plane, "t", {"path": "out.csv"}, ctx)

    assert cancelled.value.category == "cancelled"
    assert target.read_text("utf-8") == "old\n"
    assert listing(target.parent) == ["out.csv"]


def test_replace_keeps_the_file_mode(plane: FilePlane) -> None:
    target = data_file(plane, "out.csv")
    target.write_text("old\n", "utf-8")
    os.chmod(target, 0o600)
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS n")

    write(plane, "t", {"path": "out.csv"})

    assert (target.read_text("utf-8"), target.stat().st_mode & 0o777) == ("n\n1\n", 0o600)


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["../outside.csv", "sub/../../outside.csv", "/etc/hostname", "escape/outside.csv"]
)
def test_paths_that_leave_the_base_directory_are_refused(plane: FilePlane, path: str) -> None:
    base = data_file(plane, "")
    (plane.project_dir / "outside.csv").write_text("secret\n1\n", "utf-8")
    (base / "escape").symlink_to(plane.project_dir)  # a symlink inside that points out
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS n")

    with pytest.raises(DriverError) as read:
        extract(plane, "r", {"path": path})
    with pytest.raises(DriverError) as written:
        write(plane, "t", {"path": path})

    expected = f"path {path!r} leads outside the base directory {base}"
    for refused in (read.value, written.value):
        assert (refused.category, str(refused).rstrip("/")) == ("config", expected.rstrip("/"))
    assert (plane.project_dir / "outside.csv").read_text("utf-8") == "secret\n1\n"


def test_a_symlink_inside_the_base_directory_is_followed(plane: FilePlane) -> None:
    data_file(plane, "real.csv").write_text("a\n1\n", "utf-8")
    data_file(plane, "link.csv").symlink_to(data_file(plane, "real.csv"))
    plane.connection.execute("CREATE TABLE t AS SELECT 2 AS a")

    extract(plane, "via_link", {"path": "link.csv"})
    write(plane, "t", {"path": "link.csv"})

    assert plane.rows("via_link") == [(1,)]
    assert data_file(plane, "link.csv").is_symlink()  # the target was replaced, not the link
    assert data_file(plane, "real.csv").read_text("utf-8") == "a\n2\n"


def test_an_absolute_path_inside_the_base_directory_is_allowed(plane: FilePlane) -> None:
    data_file(plane, "abs.csv").write_text("a\n1\n", "utf-8")

    extract(plane, "abs", {"path": str(data_file(plane, "abs.csv"))})

    assert plane.rows("abs") == [(1,)]


# -- duckdb.processor --------------------------------------------------------------------------


@pytest.fixture
def shop(plane: FilePlane) -> FilePlane:
    plane.connection.execute(
        "CREATE TABLE extract_orders AS SELECT * FROM (VALUES (1, 10.50::DECIMAL(10,2)),"
        " (2, 20.25), (3, 30.00)) AS t(id, total)"
    )
    plane.connection.execute(
        "CREATE TABLE extract_customers AS SELECT * FROM (VALUES (1, 'DE'), (2, 'FR')) AS t(id, c)"
    )
    return plane


@pytest.mark.parametrize("name", ["orders", "extract_orders", "df_extract_orders", "ORDERS"])
def test_processor_reads_an_input_by_each_of_its_names(shop: FilePlane, name: str) -> None:
    result = process(
        shop,
        "big",
        f"SELECT id, total FROM {name} WHERE total > 15 ORDER BY id;",
        {"orders": '"extract_orders"'},
    )

    assert (result.rows_read, result.rows_written) == (3, 2)
    assert shop.rows("big") == [(2, Decimal("20.25")), (3, Decimal("30.00"))]
    assert shop.columns("big") == [("id", "INTEGER"), ("total", "DECIMAL(10,2)")]


def test_processor_joins_two_inputs_and_counts_both(shop: FilePlane) -> None:
    result = process(
        shop,
        "joined",
        "SELECT o.id, c.c FROM orders o JOIN df_extract_customers c USING (id) ORDER BY o.id",
        {"orders": '"extract_orders"', "customers": '"extract_customers"'},
    )

    assert (result.rows_read, result.rows_written) == (5, 2)
    assert shop.rows("joined") == [(1, "DE"), (2, "FR")]


def test_an_input_name_wins_over_a_step_id(shop: FilePlane) -> None:
    # input `extract_customers` is bound to the orders table: the name means the input
    process(
        shop,
        "n",
        "SELECT count(*) AS n FROM extract_customers",
        {"extract_customers": '"extract_orders"'},
    )

    assert shop.rows("n") == [(3,)]


def test_processor_names_stay_private_to_the_step(shop: FilePlane) -> None:
    ctx = shop.context("p")
    DuckDBProcessorDriver().run(
        ctx, {"query": "SELECT * FROM orders"}, {"orders": '"extract_orders"'}
    )

    other = shop.connection.cursor()
    for cursor in (ctx.data_plane, other):
        with pytest.raises(duckdb.CatalogException):
            cursor.execute("SELECT * FROM orders")
    assert shop.rows("p") == shop.rows("extract_orders")


def test_processor_runs_again_on_retry(shop: FilePlane) -> None:
    inputs = {"orders": '"extract_orders"'}
    process(shop, "again", "SELECT id FROM orders WHERE id = 1", inputs)
    process(shop, "again", "SELECT id FROM orders WHERE id > 1", inputs)

    assert shop.rows("again") == [(2,), (3,)]


@pytest.mark.parametrize(
    ("query", "category", "message"),
    [
        ("DELETE FROM orders", "config", "`query` must be a SELECT, found DELETE"),
        ("SELECT 1; SELECT 2", "config", "`query` must be one statement, found 2"),
        ("   ", "config", "`query` is required: one DuckDB SELECT"),
    ],
)
def test_processor_refuses_what_is_not_one_select(
    shop: FilePlane, query: str, category: str, message: str
) -> None:
    with pytest.raises(DriverError) as refused:
        process(shop, "bad", query, {"orders": '"extract_orders"'})

    assert (refused.value.category, str(refused.value)) == (category, message)


def test_processor_unknown_table_lists_the_names_it_can_read(shop: FilePlane) -> None:
    with pytest.raises(DriverError) as failed:
        process(shop, "bad", "SELECT * FROM ordres", {"orders": '"extract_orders"'})

    assert failed.value.category == "sql"
    assert failed.value.hint == "the query can read: orders, extract_orders, df_extract_orders"
    assert str(failed.value).startswith("the query failed: Catalog Error: Table with name ordres")


def test_processor_never_reads_python_variables(shop: FilePlane) -> None:
    views = shop  # a Python name in a calling frame must not turn into a table
    with pytest.raises(DriverError) as failed:
        process(views, "bad", "SELECT * FROM views", {"orders": '"extract_orders"'})

    assert failed.value.category == "sql"
    assert str(failed.value).startswith("the query failed: Catalog Error: Table with name views")


def test_writer_compresses_by_suffix_and_the_extractor_reads_it(plane: FilePlane) -> None:
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS n, 'ünï' AS s")

    write(plane, "t", {"path": "t.csv.gz"})
    extract(plane, "back", {"path": "t.csv.gz"})

    with gzip.open(data_file(plane, "t.csv.gz"), "rt", encoding="utf-8") as handle:
        assert handle.read() == "n,s\n1,ünï\n"
    assert plane.rows("back") == [(1, "ünï")]


def test_append_in_utf16_continues_the_file_without_a_second_bom(plane: FilePlane) -> None:
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS n, 'Zürich' AS s")
    plane.connection.execute("CREATE TABLE u AS SELECT 2 AS n, 'Kraków' AS s")
    config = {"path": "w.csv", "encoding": "utf-16", "write_mode": "append"}

    write(plane, "t", config)
    write(plane, "u", config)

    assert data_file(plane, "w.csv").read_bytes() == "n,s\n1,Zürich\n2,Kraków\n".encode("utf-16")


def test_extractor_dtype_for_a_missing_column_lists_the_columns(plane: FilePlane) -> None:
    data_file(plane, "x.csv").write_text("a,b\n1,2\n", "utf-8")

    with pytest.raises(DriverError) as refused:
        extract(plane, "x", {"path": "x.csv", "dtype": {"c": "VARCHAR"}})

    assert (refused.value.category, refused.value.hint) == ("config", "columns in the file: a, b")


def test_a_missing_input_table_is_named(plane: FilePlane) -> None:
    with pytest.raises(DriverError) as writer:
        write(plane, "never_ran", {"path": "x.csv"})
    with pytest.raises(DriverError) as processor:
        process(plane, "p", "SELECT * FROM never_ran", {"never_ran": '"never_ran"'})

    for refused in (writer.value, processor.value):
        assert (refused.category, refused.hint) == (
            "config",
            "the upstream step did not produce its table",
        )
    assert listing(plane.project_dir / "data") == []


def test_timestamps_print_in_iso_form_from_bc_to_the_far_future(plane: FilePlane) -> None:
    plane.connection.execute(
        "CREATE TABLE src AS SELECT * FROM (VALUES "
        "(1, TIMESTAMP '2024-01-02 03:04:05.5', TIMESTAMPTZ '2024-01-02 03:04:05+02'), "
        "(2, TIMESTAMP '0044-03-15 12:00:00' - INTERVAL 100 YEAR, "
        "TIMESTAMPTZ '0044-03-15 12:00:00+00' - INTERVAL 100 YEAR), "
        "(3, TIMESTAMP '12345-06-07 08:09:10', TIMESTAMPTZ '12345-06-07 08:09:10+00'), "
        "(4, 'infinity'::TIMESTAMP, '-infinity'::TIMESTAMPTZ), (5, NULL, NULL)) "
        "AS v(id, plain, zoned)"
    )

    write(plane, "src", {"path": "out.csv"})

    assert data_file(plane, "out.csv").read_text("utf-8").splitlines() == [
        "id,plain,zoned",
        "1,2024-01-02T03:04:05.5,2024-01-02T01:04:05+00:00",
        "2,0057-03-15T(BC) 12:00:00,0057-03-15T(BC) 12:00:00+00:00",
        "3,12345-06-07T08:09:10,12345-06-07T08:09:10+00:00",
        "4,infinity,-infinity",
        "5,,",
    ]
