"""The Parquet, JSON and DuckDB-file drivers on a real DuckDB data plane and real files.

Round trips keep exact types and values (DECIMAL, timestamps with and without a zone,
NULL apart from '', unicode); writers are atomic (a failure or a cancel leaves the old
file or table); bad files are clean errors with hints; and every driver also works on a
data plane locked against files, as a run opens it (only declared files readable, only
the spill folder writable).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from components.duckdb_writer.driver import DuckDBWriterDriver
from components.filesystem_json_extractor.driver import JSONExtractorDriver
from components.filesystem_json_writer.driver import JSONWriterDriver
from components.filesystem_parquet_extractor.driver import ParquetExtractorDriver
from components.filesystem_parquet_writer.driver import ParquetWriterDriver
from components.protocol import DriverError, StepResult
from tests.components.filectx import FilePlane, FileStepContext, quote

UTC = dt.UTC

SOURCE = """
CREATE TABLE src AS SELECT * FROM (VALUES
  (1, 'plain', 79.19::DECIMAL(10,2), TIMESTAMP '2024-01-02 03:04:05',
   TIMESTAMPTZ '2024-01-02 03:04:05+02', DATE '2024-01-02', 0.1::DOUBLE, true),
  (2, 'a,b "q"', 0.10, TIMESTAMP '2024-01-02 03:04:05.5',
   TIMESTAMPTZ '2024-06-30 23:59:59.123456+00', DATE '1999-12-31', 1e20, false),
  (3, e'line1\\nline2', -12345678.90, NULL, NULL, NULL, NULL, NULL),
  (4, 'ünïcødé 😀', NULL, NULL, NULL, NULL, NULL, NULL),
  (5, '', 1.00, NULL, NULL, NULL, NULL, NULL),
  (6, NULL, 2.50, NULL, NULL, NULL, NULL, NULL)
) AS t(id, txt, price, ts, tstz, day, ratio, flag)
"""

ROWS = [
    (
        1, "plain", Decimal("79.19"), dt.datetime(2024, 1, 2, 3, 4, 5),
        dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC), dt.date(2024, 1, 2), 0.1, True,
    ),
    (
        2, 'a,b "q"', Decimal("0.10"), dt.datetime(2024, 1, 2, 3, 4, 5, 500000),
        dt.datetime(2024, 6, 30, 23, 59, 59, 123456, tzinfo=UTC), dt.date(1999, 12, 31),
        1e20, False,
    ),
    (3, "line1\nline2", Decimal("-12345678.90"), None, None, None, None, None),
    (4, "ünïcødé 😀", None, None, None, None, None, None),
    (5, "", Decimal("1.00"), None, None, None, None, None),
    (6, None, Decimal("2.50"), None, None, None, None, None),
]  # fmt: skip

TYPES = [
    ("id", "INTEGER"),
    ("txt", "VARCHAR"),
    ("price", "DECIMAL(10,2)"),
    ("ts", "TIMESTAMP"),
    ("tstz", "TIMESTAMP WITH TIME ZONE"),
    ("day", "DATE"),
    ("ratio", "DOUBLE"),
    ("flag", "BOOLEAN"),
]


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[FilePlane]:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    connection = duckdb.connect(str(tmp_path / "plane.duckdb"))
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(SOURCE)
    try:
        yield FilePlane(project, connection)
    finally:
        connection.close()


def base_of(plane: FilePlane) -> dict[str, Any]:
    return {"base_dir": str(plane.project_dir / "data")}


def run(
    plane: FilePlane,
    driver: Any,
    step_id: str,
    config: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
    ctx: FileStepContext | None = None,
) -> StepResult:
    ctx = ctx or plane.context(step_id, base_of(plane))
    result: StepResult = driver.run(ctx, config, dict(inputs or {}))
    return result


def data_file(plane: FilePlane, name: str) -> Path:
    return plane.project_dir / "data" / name


def ordered(plane: FilePlane, table: str) -> list[tuple[Any, ...]]:
    return list(plane.connection.execute(f"SELECT * FROM {quote(table)} ORDER BY id").fetchall())


# -- Parquet -----------------------------------------------------------------------------------


def test_parquet_round_trip_keeps_types_and_values(plane: FilePlane) -> None:
    written = run(plane, ParquetWriterDriver(), "write", {"path": "out.parquet"}, {"s": '"src"'})
    assert (written.rows_read, written.rows_written) == (6, 6)

    read = run(plane, ParquetExtractorDriver(), "back", {"path": "out.parquet"})

    assert (read.rows_read, read.details["columns"]) == (6, [name for name, _ in TYPES])
    assert plane.columns("back") == TYPES
    assert ordered(plane, "back") == ROWS
    assert os.listdir(data_file(plane, "")) == ["out.parquet"]  # no temporary left


def test_parquet_columns_limit_and_dtype(plane: FilePlane) -> None:
    run(plane, ParquetWriterDriver(), "write", {"path": "out.parquet"}, {"s": '"src"'})
    config = {"path": "out.parquet", "columns": ["price", "id"], "dtype": {"id": "VARCHAR"}}

    run(plane, ParquetExtractorDriver(), "some", {**config, "limit": 2})

    assert plane.columns("some") == [("price", "DECIMAL(10,2)"), ("id", "VARCHAR")]
    assert sorted(plane.rows("some")) == [(Decimal("0.10"), "2"), (Decimal("79.19"), "1")]


def test_a_file_that_is_not_parquet_is_a_clean_error(plane: FilePlane) -> None:
    data_file(plane, "bad.parquet").write_text("id,name\n1,ada\n")

    with pytest.raises(DriverError) as failed:
        run(plane, ParquetExtractorDriver(), "bad", {"path": "bad.parquet"})

    assert failed.value.category == "data"
    assert str(failed.value).startswith("bad.parquet is not a readable Parquet file: ")
    assert "LINE 1" not in str(failed.value)
    assert failed.value.hint == "check that the file is Parquet (its name and its content)"


def test_missing_file_and_unknown_column_name_what_to_fix(plane: FilePlane) -> None:
    with pytest.raises(DriverError) as missing:
        run(plane, ParquetExtractorDriver(), "x", {"path": "nope.parquet"})
    assert missing.value.category == "config"
    assert missing.value.hint == "check `path`: it is relative to the connection's base_dir"

    run(plane, ParquetWriterDriver(), "write", {"path": "out.parquet"}, {"s": '"src"'})
    with pytest.raises(DriverError) as unknown:
        run(plane, ParquetExtractorDriver(), "y", {"path": "out.parquet", "columns": ["prise"]})
    assert unknown.value.category == "config"
    assert "prise" in str(unknown.value)


def test_a_dtype_is_a_type_name_not_sql(plane: FilePlane) -> None:
    run(plane, ParquetWriterDriver(), "write", {"path": "out.parquet"}, {"s": '"src"'})
    sneaky = {"id": "INT) AS id FROM read_text('/etc/passwd') --"}

    with pytest.raises(DriverError) as refused:
        run(plane, ParquetExtractorDriver(), "x", {"path": "out.parquet", "dtype": sneaky})

    assert refused.value.category == "config"
    assert "is not a column type" in str(refused.value)


def test_paths_may_not_leave_base_dir(plane: FilePlane) -> None:
    (plane.project_dir / "secret.parquet").write_text("x")
    for driver, inputs in ((ParquetExtractorDriver(), None), (JSONWriterDriver(), {"s": '"src"'})):
        with pytest.raises(DriverError) as refused:
            run(plane, driver, "x", {"path": "../secret.parquet"}, inputs)
        assert "leads outside the base directory" in str(refused.value)


# -- JSON --------------------------------------------------------------------------------------


def test_json_array_is_written_with_exact_text(plane: FilePlane) -> None:
    result = run(plane, JSONWriterDriver(), "write", {"path": "out.json"}, {"s": '"src"'})

    text = data_file(plane, "out.json").read_text("utf-8")
    rows = json.loads(text)
    assert result.details["format"] == "array"
    assert rows[0] == {
        "id": 1, "txt": "plain", "price": 79.19, "ts": "2024-01-02 03:04:05.000000",
        "tstz": "2024-01-02T01:04:05.000000+00:00", "day": "2024-01-02", "ratio": 0.1,
        "flag": True,
    }  # fmt: skip
    assert list(rows[0]) == [name for name, _ in TYPES]  # the input's column order
    exact = json.loads(text, parse_float=Decimal)  # a DECIMAL is printed exactly
    assert [r["price"] for r in exact] == [Decimal(v) for v in ("79.19", "0.1", "-12345678.9")] + [
        None,
        Decimal(1),
        Decimal("2.5"),
    ]
    assert [r["txt"] for r in rows[3:]] == ["ünïcødé 😀", "", None]
    assert "ünïcødé 😀" in text  # UTF-8 as written, not \\u escapes


@pytest.mark.parametrize("name", ["out.ndjson", "out.jsonl", "out.ndjson.gz"])
def test_json_round_trip_keeps_values_types_detected_or_pinned(plane: FilePlane, name: str) -> None:
    run(plane, JSONWriterDriver(), "write", {"path": name}, {"s": '"src"'})
    if not name.endswith(".gz"):
        lines = data_file(plane, name).read_text("utf-8").splitlines()
        assert len(lines) == 6 and all(line.startswith('{"id":') for line in lines)

    pinned = {"id": "INTEGER", "price": "DECIMAL(10,2)"}
    read = run(plane, JSONExtractorDriver(), "back", {"path": name, "dtype": pinned})

    assert read.rows_read == 6
    assert plane.columns("back") == TYPES
    assert ordered(plane, "back") == ROWS


def test_json_format_key_wins_over_the_file_name(plane: FilePlane) -> None:
    run(plane, JSONWriterDriver(), "w", {"path": "feed.txt", "format": "ndjson"}, {"s": '"src"'})
    assert len(data_file(plane, "feed.txt").read_text("utf-8").splitlines()) == 6

    read = run(plane, JSONExtractorDriver(), "back", {"path": "feed.txt", "format": "ndjson"})
    assert read.rows_read == 6

    with pytest.raises(DriverError) as unknown:
        run(plane, JSONWriterDriver(), "w2", {"path": "feed.txt"}, {"s": '"src"'})
    assert unknown.value.hint == (
        "set format: array or format: ndjson, or name the file .json or .ndjson"
    )


def test_broken_json_is_a_clean_error_with_a_hint(plane: FilePlane) -> None:
    data_file(plane, "bad.json").write_text('[{"id": 1}, {"id": ')

    with pytest.raises(DriverError) as failed:
        run(plane, JSONExtractorDriver(), "bad", {"path": "bad.json"})

    assert failed.value.category == "data"
    assert str(failed.value).startswith("bad.json is not a readable JSON file: ")
    assert failed.value.hint == "check that the file is JSON (its name and its content)"

    data_file(plane, "ok.json").write_text('[{"id": 1}]')
    with pytest.raises(DriverError) as pinned:
        run(plane, JSONExtractorDriver(), "x", {"path": "ok.json", "dtype": {"idd": "INTEGER"}})
    assert str(pinned.value) == "dtype names columns the file does not have: idd"
    assert pinned.value.hint == "columns in the file: id"


# -- atomic file writes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("driver", "name"), [(ParquetWriterDriver(), "out.parquet"), (JSONWriterDriver(), "out.json")]
)
def test_a_failure_half_way_leaves_the_old_file(plane: FilePlane, driver: Any, name: str) -> None:
    target = data_file(plane, name)
    target.write_bytes(b"old content")
    os.chmod(target, 0o640)
    plane.connection.execute(
        "CREATE VIEW boom AS SELECT i, CASE WHEN i < 300000 THEN 'row ' || i "
        "ELSE error('boom at ' || i) END AS s FROM range(400000) t(i)"
    )

    with pytest.raises(DriverError) as failed:
        run(plane, driver, "write", {"path": name}, {"b": '"boom"'})

    assert failed.value.category == "data"
    assert str(failed.value) == f"writing {name} failed: Invalid Input Error: boom at 300000"
    assert target.read_bytes() == b"old content"
    assert os.listdir(target.parent) == [name]

    run(plane, driver, "write", {"path": name}, {"s": '"src"'})
    assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode


def test_a_cancel_before_the_rename_leaves_the_old_file(plane: FilePlane) -> None:
    target = data_file(plane, "out.json")
    target.write_text("[]", "utf-8")

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
        run(plane, JSONWriterDriver(), "write", {"path": "out.json"}, {"s": '"src"'}, ctx)

    assert cancelled.value.category == "cancelled"
    assert target.read_text("utf-8") == "[]"
    assert os.listdir(target.parent) == ["out.json"]


# -- duckdb.writer -----------------------------------------------------------------------------


def database_rows(path: Path, table: str = "orders") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as db:
        db.execute("SET TimeZone = 'UTC'")
        return list(db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall())


def database_types(path: Path, table: str = "orders") -> list[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as db:
        return [(str(r[0]), str(r[1])) for r in db.execute(f"DESCRIBE {table}").fetchall()]


def write_db(plane: FilePlane, config: Mapping[str, Any], source: str = "src") -> StepResult:
    ctx = plane.context("load", None)
    return DuckDBWriterDriver().run(ctx, {"table": "orders", **config}, {"s": quote(source)})


def test_duckdb_writer_creates_the_file_and_keeps_types(plane: FilePlane) -> None:
    result = write_db(plane, {"path": "out/warehouse.duckdb", "write_mode": "replace"})

    target = plane.project_dir / "out" / "warehouse.duckdb"
    assert (result.rows_written, result.details["table"]) == (6, "main.orders")
    assert database_types(target) == TYPES
    assert database_rows(target) == ROWS
    assert os.listdir(target.parent) == ["warehouse.duckdb"]


def test_duckdb_writer_replace_and_append(plane: FilePlane) -> None:
    target = plane.project_dir / "w.duckdb"
    write_db(plane, {"path": "w.duckdb", "write_mode": "replace"})
    plane.connection.execute("CREATE TABLE more AS SELECT 'late' AS txt, 7 AS id")

    appended = write_db(plane, {"path": "w.duckdb"}, "more")  # by name, in any column order

    assert appended.rows_written == 1
    assert [row[:2] for row in database_rows(target)] == [(r[0], r[1]) for r in ROWS] + [
        (7, "late")
    ]
    write_db(plane, {"path": "w.duckdb", "write_mode": "replace"}, "more")
    assert database_types(target) == [("txt", "VARCHAR"), ("id", "INTEGER")]
    assert database_rows(target) == [("late", 7)]


def test_duckdb_writer_through_a_connection_and_a_schema(plane: FilePlane) -> None:
    target = plane.project_dir / "analytics.duckdb"
    ctx = plane.context("load", {"path": str(target)})

    DuckDBWriterDriver().run(ctx, {"table": "orders", "schema": "staging"}, {"s": '"src"'})

    assert database_rows(target, "staging.orders") == ROWS
    # a path in the step follows the file writers' rules even beside a connection
    with pytest.raises(DriverError) as refused:
        DuckDBWriterDriver().run(ctx, {"table": "t", "path": "run_logs/x.duckdb"}, {"s": '"src"'})
    assert "Osiris's own run_logs" in str(refused.value)


def test_a_failed_load_leaves_the_table_as_it_was(plane: FilePlane) -> None:
    target = plane.project_dir / "w.duckdb"
    write_db(plane, {"path": "w.duckdb"})
    plane.connection.execute(
        "CREATE VIEW boom AS SELECT i AS id, CASE WHEN i < 300000 THEN 'row ' || i "
        "ELSE error('boom at ' || i) END AS txt FROM range(400000) t(i)"
    )

    for mode in ("replace", "append"):
        with pytest.raises(DriverError) as failed:
            write_db(plane, {"path": "w.duckdb", "write_mode": mode}, "boom")
        assert failed.value.category == "data"
        assert "boom at 300000" in str(failed.value)
        assert database_rows(target) == ROWS
        with duckdb.connect(str(target), read_only=True) as db:
            assert [r[0] for r in db.execute("SHOW TABLES").fetchall()] == ["orders"]


def test_a_failed_first_load_leaves_no_file(plane: FilePlane) -> None:
    plane.connection.execute("CREATE VIEW boom AS SELECT error('no') AS x FROM range(3)")

    with pytest.raises(DriverError):
        write_db(plane, {"path": "new.duckdb"}, "boom")

    assert sorted(os.listdir(plane.project_dir)) == ["artifacts", "data"]


def test_append_with_other_columns_says_what_the_table_has(plane: FilePlane) -> None:
    write_db(plane, {"path": "w.duckdb"})
    plane.connection.execute("CREATE TABLE other AS SELECT 1 AS id, 'x' AS nickname")

    with pytest.raises(DriverError) as failed:
        write_db(plane, {"path": "w.duckdb", "write_mode": "append"}, "other")

    assert failed.value.category == "data"
    assert failed.value.hint is not None
    assert failed.value.hint.startswith("the table has: id INTEGER, txt VARCHAR, price DECIMAL")


def test_a_database_held_open_and_a_file_that_is_no_database(plane: FilePlane) -> None:
    (plane.project_dir / "notes.duckdb").write_text("not a database")
    with pytest.raises(DriverError) as bad:
        write_db(plane, {"path": "notes.duckdb"})
    assert bad.value.category == "config"
    assert bad.value.hint == (
        "point path at a DuckDB database file, or at a name that does not exist yet"
    )
    assert (plane.project_dir / "notes.duckdb").read_text() == "not a database"

    with pytest.raises(DriverError) as hidden:
        write_db(plane, {"path": ".osiris/x.duckdb"})
    assert "hidden" in str(hidden.value)
    with pytest.raises(DriverError) as none:
        write_db(plane, {})
    assert none.value.hint == (
        "set `connection: '@duckdb.<alias>'` or `path: output/warehouse.duckdb`"
    )


# -- on a data plane locked against files, as a run opens it -----------------------------------


def test_every_driver_works_on_a_locked_data_plane(tmp_path: Path) -> None:
    """Only the declared input file is readable and only the spill folder writable; the
    readers read the declared file, the writers stage in the spill folder and rename."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    open_plane = duckdb.connect()
    open_plane.execute(SOURCE)
    open_plane.execute(f"COPY src TO '{project / 'data' / 'in.parquet'}' (FORMAT parquet)")
    open_plane.close()

    spill = tmp_path / "spill"
    spill.mkdir()
    declared = ParquetExtractorDriver().files_read(
        {"path": "in.parquet"}, {"base_dir": str(project / "data")}, project
    )
    assert declared == [project / "data" / "in.parquet"]
    locked = duckdb.connect(config={"temp_directory": str(spill)})
    for setting in (
        f"SET allowed_directories = ['{spill}/']",
        f"SET allowed_paths = ['{declared[0]}']",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ):
        locked.execute(setting)
    plane = FilePlane(project, locked)
    try:
        run(plane, ParquetExtractorDriver(), "src", {"path": "in.parquet"})
        run(plane, JSONWriterDriver(), "json", {"path": "out.ndjson"}, {"s": '"src"'})
        run(plane, ParquetWriterDriver(), "pq", {"path": "out.parquet"}, {"s": '"src"'})
        write_db(plane, {"path": "w.duckdb", "write_mode": "replace"})
        with pytest.raises(DriverError) as undeclared:
            run(plane, JSONExtractorDriver(), "late", {"path": "out.ndjson"})
        assert "disabled by configuration" in str(undeclared.value)
    finally:
        locked.close()

    assert len(data_file(plane, "out.ndjson").read_text("utf-8").splitlines()) == 6
    assert database_rows(project / "w.duckdb") == ROWS
    assert sorted(os.listdir(project / "data")) == ["in.parquet", "out.ndjson", "out.parquet"]
    assert os.listdir(spill) == []
