"""A read step whose only consumer is a writer streams its rows into it (runtime/streams.py):
the file is byte for byte the one written through a data-plane table (`--keep-outputs`
makes every table, so it turns streaming off), on the real servers, every type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris_mcp.cli import main
from tests.components.databases import mysql_sql, postgres_sql


def project(tmp_path: Path, family: str, fields: dict[str, Any]) -> Path:
    connections = {
        "connections": {
            family: {"db": {**fields, "default": True}},
            "filesystem": {"local": {"default": True, "base_dir": "out"}},
        }
    }
    (tmp_path / "osiris_connections.yaml").write_text(yaml.safe_dump(connections))
    (tmp_path / "out").mkdir()
    return tmp_path


def pipeline(
    folder: Path,
    family: str,
    query: str,
    *,
    writer: str = "filesystem.csv_writer",
    write: dict[str, Any] | None = None,
    **extract: Any,
) -> Path:
    """A read of `query` from `family` and its one writer (by default into out/rows.csv)."""
    config = {"connection": f"@{family}.db", "query": query, **extract}
    write = write or {"connection": "@filesystem.local", "path": "rows.csv"}
    text = {
        "oml_version": "0.1.0",
        "name": "streamed",
        "steps": [
            {"id": "read", "component": f"{family}.extractor", "mode": "read", "config": config},
            {
                "id": "write",
                "component": writer,
                "mode": "write",
                "inputs": {"df": "${read.df}"},
                "config": write,
            },
        ],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    return path


def run(folder: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    code = main(["run", str(folder / "pipeline.yaml"), "--project", str(folder), "--json", *flags])
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    result["code"] = code
    return result


def both_ways(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], bytes, dict[str, Any], bytes]:
    """The run streamed and the run through a table, with the file each wrote."""
    streamed = run(folder, capsys)
    assert streamed["code"] == 0, streamed
    streamed_bytes = (folder / "out" / "rows.csv").read_bytes()
    tabled = run(folder, capsys, "--keep-outputs")
    assert tabled["code"] == 0, tabled
    return streamed, streamed_bytes, tabled, (folder / "out" / "rows.csv").read_bytes()


def step(result: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in result["steps"] if s["id"] == step_id)


MYSQL_TYPES = """CREATE TABLE t (
  id INT PRIMARY KEY, big BIGINT UNSIGNED, tiny TINYINT(1), money DECIMAL(20,6),
  ratio DOUBLE, approx FLOAT, label VARCHAR(40), note TEXT, day DATE,
  at DATETIME(6), stamp TIMESTAMP NULL, span TIME, raw VARBINARY(8), doc JSON,
  kind ENUM('a','b'), flags BIT(3)
)"""
MYSQL_ROWS = [
    "(1, 18446744073709551615, 1, -12345678901234.123456, 0.1, 1.5, 'plain', 'x', "
    "'2024-02-29', '2024-01-02 03:04:05.500000', '2024-01-02 03:04:05', '-838:59:59', "
    "x'00ff', '{\"a\": [1, 2]}', 'a', b'101')",
    "(2, 0, 0, 0.000001, -1e300, -0.0, 'comma, \"quote\"', 'line\\nbreak', '0001-01-01', "
    "'9999-12-31 23:59:59.999999', NULL, '12:34:56.5', '', 'null', 'b', b'000')",
    "(3, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]


def test_mysql_rows_stream_into_the_same_csv_bytes_as_through_a_table(
    tmp_path: Path, mysql_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    mysql_sql(mysql_db, MYSQL_TYPES, f"INSERT INTO t VALUES {', '.join(MYSQL_ROWS)}")
    folder = project(tmp_path, "mysql", mysql_db)
    pipeline(folder, "mysql", "SELECT * FROM t ORDER BY id")

    streamed, streamed_bytes, tabled, tabled_bytes = both_ways(folder, capsys)

    assert step(streamed, "read")["details"]["streamed_to"] == "write"
    assert "streamed_to" not in step(tabled, "read")["details"]
    assert streamed_bytes == tabled_bytes
    assert streamed_bytes.count(b"\n") == 5  # header, 3 rows, one with a line break
    assert b'"comma, ""quote"""' in streamed_bytes and b',"",' in streamed_bytes
    for result in (streamed, tabled):
        assert [(s["status"], s["rows_read"]) for s in result["steps"]] == [("success", 3)] * 2


def rows_ending_in_a_zero_date(mysql_db: dict[str, Any]) -> None:
    """Table `t`: 299 good rows (three batches of 100 go to the writer), then a zero date
    connectorx cannot read, so the read falls back to the next reader mid-stream."""
    mysql_sql(
        mysql_db,
        "SET SESSION sql_mode = ''",
        "CREATE TABLE t (id INT, day DATE)",
        "INSERT INTO t SELECT seq, '2024-01-02' + INTERVAL seq DAY FROM seq_1_to_299",
        "INSERT INTO t VALUES (300, '0000-00-00')",
    )


def test_a_value_the_fast_reader_cannot_read_restarts_the_file_with_the_next_reader(
    tmp_path: Path, mysql_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rows_ending_in_a_zero_date(mysql_db)
    folder = project(tmp_path, "mysql", mysql_db)
    pipeline(folder, "mysql", "SELECT * FROM t ORDER BY id", batch_size=100)

    streamed, streamed_bytes, _, tabled_bytes = both_ways(folder, capsys)

    details = step(streamed, "read")["details"]
    assert (details["reader"], details["streamed_to"]) == ("pymysql", "write")
    assert streamed_bytes == tabled_bytes
    lines = streamed_bytes.decode().splitlines()
    assert (lines[0], lines[1], lines[-1], len(lines)) == ("id,day", "1,2024-01-03", "300,", 301)
    events = Path(streamed["session_dir"], "events.jsonl").read_text()
    assert '"read.fallback"' in events


POSTGRES_TYPES = """CREATE TABLE t (
  id int PRIMARY KEY, big bigint, money numeric(20,6), ratio double precision,
  flag boolean, label text, day date, at timestamp(6), zoned timestamptz,
  span interval, raw bytea, doc jsonb, tags text[], ident uuid
)"""
POSTGRES_ROWS = """INSERT INTO t VALUES
 (1, 9223372036854775807, -12345678901234.123456, 0.1, true, 'comma, "quote"',
  '2024-02-29', '2024-01-02 03:04:05.5', '2024-01-02 03:04:05+02', '1 day 02:03:04',
  '\\x00ff', '{"a": [1, 2]}', ARRAY['x', NULL], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
 (2, 0, 0.000001, -1e300, false, '', '0001-01-01', 'infinity', '-infinity', '-1 mon',
  '', 'null', '{}', NULL),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""


def test_postgres_rows_stream_into_the_same_csv_bytes_as_through_a_table(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    postgres_sql(pg_db, POSTGRES_TYPES, POSTGRES_ROWS)
    folder = project(tmp_path, "postgres", pg_db)
    pipeline(folder, "postgres", "SELECT * FROM t ORDER BY id")

    streamed, streamed_bytes, _, tabled_bytes = both_ways(folder, capsys)

    assert step(streamed, "read")["details"]["streamed_to"] == "write"
    assert streamed_bytes == tabled_bytes
    assert streamed_bytes.count(b"\n") == 4


def test_an_unconstrained_numeric_is_loaded_whole_first_for_its_scale(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path, "postgres", pg_db)
    pipeline(folder, "postgres", "SELECT * FROM (VALUES (1.5::numeric), (2.25)) AS v(n)")

    result = run(folder, capsys)

    assert result["code"] == 0, result
    assert "streamed_to" not in step(result, "read")["details"]
    assert (folder / "out" / "rows.csv").read_text() == "n\n1.50\n2.25\n"


def test_a_read_failing_midway_fails_the_reader_and_leaves_the_old_file(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path, "postgres", pg_db)
    # the division fails at the 5,000th row, after batches have gone to the writer
    query = "SELECT g, 1 / (5000 - g) AS q FROM generate_series(1, 10000) AS g"
    pipeline(folder, "postgres", query, batch_size=100)
    (folder / "out" / "rows.csv").write_text("old,file\n")

    result = run(folder, capsys)

    assert result["code"] != 0
    read, write = step(result, "read"), step(result, "write")
    assert (read["status"], write["status"]) == ("failed", "skipped")
    assert "division by zero" in read["error"]
    assert write["reason"] == "upstream step 'read' failed"
    assert (folder / "out" / "rows.csv").read_text() == "old,file\n"
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["rows.csv"]


def test_many_batches_make_one_file_and_the_step_keeps_its_sample(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path, "postgres", pg_db)
    query = "SELECT g, 'row ' || g AS label FROM generate_series(1, 1000) AS g ORDER BY g"
    pipeline(folder, "postgres", query, batch_size=100)

    streamed, streamed_bytes, _, tabled_bytes = both_ways(folder, capsys)

    assert streamed_bytes == tabled_bytes
    lines = streamed_bytes.decode().splitlines()
    assert (lines[0], lines[1], lines[-1], len(lines)) == (
        "g,label",
        "1,row 1",
        "1000,row 1000",
        1001,
    )
    kept = Path(streamed["session_dir"], "artifacts", "read", "output.json")
    info = json.loads(kept.read_text())
    assert (info["rows"], info["kept_rows"], info["whole"]) == (1000, 100, False)


def test_no_rows_still_write_the_header(
    tmp_path: Path, mysql_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    mysql_sql(mysql_db, "CREATE TABLE t (id INT, label VARCHAR(8))")
    folder = project(tmp_path, "mysql", mysql_db)
    pipeline(folder, "mysql", "SELECT * FROM t")

    streamed, streamed_bytes, _, tabled_bytes = both_ways(folder, capsys)

    assert step(streamed, "read")["details"]["streamed_to"] == "write"
    assert streamed_bytes == tabled_bytes == b"id,label\n"


# ---- into PostgreSQL: each batch is COPYed while the reader reads the next


def into_postgres(
    tmp_path: Path,
    family: str,
    source: dict[str, Any],
    target: dict[str, Any],
    query: str,
    **write: Any,
) -> Path:
    """A project reading `query` from `family` and writing it into PostgreSQL's `target`."""
    connections = {"connections": {family: {"db": {**source, "default": True}}}}
    if family != "postgres":
        connections["connections"]["postgres"] = {"db": {**target, "default": True}}
    (tmp_path / "osiris_connections.yaml").write_text(yaml.safe_dump(connections))
    into = {"connection": "@postgres.db", "table": "target", **write}
    pipeline(tmp_path, family, query, writer="postgres.writer", write=into, batch_size=100)
    return tmp_path


@pytest.mark.parametrize("mode", ["replace", "upsert", "append"])
def test_mysql_rows_stream_into_postgres_exactly_in_every_write_mode(
    tmp_path: Path,
    mysql_db: dict[str, Any],
    pg_db: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    mysql_sql(
        mysql_db,
        "CREATE TABLE t (id INT PRIMARY KEY, money DECIMAL(20,6), at DATETIME(6), note TEXT)",
        "INSERT INTO t SELECT seq, seq / 7, '2024-01-02' + INTERVAL seq SECOND, "
        "IF(seq % 3 = 0, NULL, IF(seq % 3 = 1, '', CONCAT('n', seq))) FROM seq_1_to_1000",
    )
    postgres_sql(
        pg_db,
        "CREATE TABLE target (id int PRIMARY KEY, money numeric(20,6), at timestamp, note text)",
        "INSERT INTO target VALUES (0, 0, NULL, 'kept'), (5, 0, NULL, 'stale')"
        if mode != "append"
        else "INSERT INTO target VALUES (0, 0, NULL, 'kept')",
    )
    folder = into_postgres(
        tmp_path,
        "mysql",
        mysql_db,
        pg_db,
        "SELECT * FROM t ORDER BY id",
        write_mode=mode,
        primary_key="id",
    )

    result = run(folder, capsys)

    assert result["code"] == 0, result
    assert step(result, "read")["details"]["streamed_to"] == "write"
    assert [(s["status"], s["rows_written"]) for s in result["steps"]] == [("success", 1000)] * 2
    copied = postgres_sql(pg_db, "SELECT * FROM target WHERE id > 0 ORDER BY id")
    assert copied == mysql_sql(mysql_db, "SELECT * FROM t ORDER BY id")
    kept = postgres_sql(pg_db, "SELECT note FROM target WHERE id = 0")
    assert kept == ([] if mode == "replace" else [("kept",)])


def test_a_reader_starting_again_mid_stream_loads_each_row_into_postgres_once(
    tmp_path: Path,
    mysql_db: dict[str, Any],
    pg_db: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows_ending_in_a_zero_date(mysql_db)
    postgres_sql(pg_db, "CREATE TABLE target (id int, day date)")
    folder = into_postgres(
        tmp_path, "mysql", mysql_db, pg_db, "SELECT * FROM t ORDER BY id", write_mode="replace"
    )

    result = run(folder, capsys)

    assert result["code"] == 0, result
    assert step(result, "read")["details"]["reader"] == "pymysql"
    assert '"read.fallback"' in Path(result["session_dir"], "events.jsonl").read_text()
    rows = postgres_sql(pg_db, "SELECT count(*), count(DISTINCT id), count(day) FROM target")
    assert rows == [(300, 300, 299)]


def test_a_read_failing_midway_leaves_the_postgres_table_as_it_was(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    postgres_sql(pg_db, "CREATE TABLE target (g int, q int)", "INSERT INTO target VALUES (0, 0)")
    # the division fails at the 5,000th row, after batches have gone to the writer
    query = "SELECT g, 1 / (5000 - g) AS q FROM generate_series(1, 10000) AS g"
    folder = into_postgres(tmp_path, "postgres", pg_db, pg_db, query, write_mode="replace")

    result = run(folder, capsys)

    read, write = step(result, "read"), step(result, "write")
    assert (read["status"], write["status"]) == ("failed", "skipped")
    assert "division by zero" in read["error"]
    assert postgres_sql(pg_db, "SELECT * FROM target") == [(0, 0)]


def test_a_writer_failing_after_the_whole_read_leaves_the_read_a_success(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path, "postgres", pg_db)
    write = {"connection": "@filesystem.local", "path": "rows.csv", "write_mode": "append"}
    pipeline(folder, "postgres", "SELECT g FROM generate_series(1, 300) AS g", write=write)
    (folder / "out" / "rows.csv").write_text("other,header\n1,2\n")

    result = run(folder, capsys)

    assert result["code"] != 0
    read, written = step(result, "read"), step(result, "write")
    assert (read["status"], read["rows_read"]) == ("success", 300)
    assert written["status"] == "failed" and "header differs" in written["error"]
    assert (folder / "out" / "rows.csv").read_text() == "other,header\n1,2\n"
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["rows.csv"]
