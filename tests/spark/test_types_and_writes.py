"""Types, partitioned reads and the database writers on Spark, against the real servers.

- DECIMAL, DATETIME/TIMESTAMP (naive and with a time zone), DATE, NULL against '' in CSV:
  Spark writes the very bytes DuckDB writes.
- A read of a whole table splits on its integer primary key.
- upsert and replace into PostgreSQL and MariaDB move the staged rows in one transaction;
  a write that fails mid-way leaves the target as it was and no stage table behind.
- A component Spark cannot run is refused before anything starts: exit 2, no traceback.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from tests.spark.conftest import TwoEngines

pytestmark = pytest.mark.db

TYPED = (
    "CREATE TABLE typed (id BIGINT PRIMARY KEY, price DECIMAL(12,2), tiny DECIMAL(6,4),"
    " stamp DATETIME(6), day DATE, label VARCHAR(20), note TEXT)",
    "INSERT INTO typed VALUES (1, 79.19, 0.0001, '2024-01-02 03:04:05.5', '2024-01-02', '', NULL),"
    " (2, -5.00, 0.0000, '2024-02-29 23:59:59', NULL, NULL, 'a \"quoted\", comma'),"
    " (3, NULL, NULL, NULL, '1999-12-31', 'x', ''),"
    " (4, 1234567890.10, 1.5, '2024-01-02 00:00:00.000001', '2024-01-03', 'line\\nbreak', 'ü')",
)


def write(engines: TwoEngines, name: str, text: str) -> Path:
    path = engines.root / "pipelines" / f"{name}.yaml"
    path.write_text(f'oml_version: "0.1.0"\nname: {name}\nsteps:\n{text}', encoding="utf-8")
    return path


def step(step_id: str, component: str, mode: str, config: str, needs: str = "") -> str:
    extra = f"    needs: [{needs}]\n" if needs else ""
    head = f"  - id: {step_id}\n    component: {component}\n    mode: {mode}\n"
    return f"{head}{extra}    config: {config}\n"


def test_mysql_types_to_csv_are_the_bytes_duckdb_writes(engines: TwoEngines) -> None:
    engines.source = TYPED
    pipeline = write(
        engines,
        "typed",
        step("read", "mysql.extractor", "read", "{table: typed}")
        + step("out", "filesystem.csv_writer", "write", "{path: output/typed.csv}", "read")
        + step(
            "calc",
            "duckdb.processor",
            "transform",
            '{query: "SELECT id, price * 2 AS doubled, stamp AS moment, day, label FROM read"}',
            "read",
        )
        + step("out2", "filesystem.csv_writer", "write", "{path: output/calc.csv}", "calc"),
    )
    build = engines.compile(pipeline)
    duck = engines.run(build, "duckdb")
    spark = engines.run(build, "spark")
    assert duck.status == spark.status == "success", spark.steps
    for name in ("output/typed.csv", "output/calc.csv"):
        assert sorted(spark.files[name]) == sorted(duck.files[name]), name
    rows = {line.split(",")[0]: line for line in duck.files["output/typed.csv"]}
    assert rows["1"] == '1,79.19,0.0001,2024-01-02T03:04:05.5,2024-01-02,"",'  # '' and NULL apart
    assert rows["3"] == '3,,,,1999-12-31,x,""'


#: Numbers whose DOUBLE and REAL prints differ between Java and DuckDB (Python's repr):
#: the exponent's form and where it starts, digits Java 17 adds, NaN and the infinities.
FLOATS = (
    "0.1", "1e-05", "0.0001", "0.001", "123", "10000000", "12345678.9", "1e15", "1e16",
    "1.5e16", "1e20", "-2.5e-07", "0.3333333333333333", "0", "-0.0", "nan", "inf", "-inf",
    "1e22", "3.4e38", "5.684341886080802e-14", "NaN", "-Infinity", "-1234567", "0.00015", "",
)  # fmt: skip


def test_doubles_and_reals_in_a_csv_are_the_text_duckdb_prints(engines: TwoEngines) -> None:
    rows = "".join(f"{i},{text}\n" for i, text in enumerate(FLOATS))
    (engines.root / "data" / "floats.csv").write_text(f"i,v\n{rows}", encoding="utf-8")
    query = "SELECT i, CAST(v AS DOUBLE) AS d, CAST(v AS REAL) AS r FROM read ORDER BY i"
    pipeline = write(
        engines,
        "floats",
        step(
            "read",
            "filesystem.csv_extractor",
            "read",
            "{path: data/floats.csv}",
        )
        + step("calc", "duckdb.processor", "transform", f'{{query: "{query}"}}', "read")
        + step("out", "filesystem.csv_writer", "write", "{path: output/floats.csv}", "calc"),
    )
    build = engines.compile(pipeline)
    duck = engines.run(build, "duckdb")
    spark = engines.run(build, "spark")
    assert duck.status == spark.status == "success", (duck.steps, spark.steps)
    assert spark.files["output/floats.csv"] == duck.files["output/floats.csv"]
    assert duck.files["output/floats.csv"][1:4] == ["0,0.1,0.1", "1,1e-05,1e-05", "2,0.0001,0.0001"]


def test_csv_null_and_empty_string_and_postgres_timestamptz(engines: TwoEngines) -> None:
    (engines.root / "data" / "blanks.csv").write_text(
        'id,name,amount\n1,"",1.50\n2,,2.25\n3,"a,b",\n', encoding="utf-8"
    )
    engines.source = ()
    pipeline = write(
        engines,
        "blanks",
        step("read", "filesystem.csv_extractor", "read", "{path: data/blanks.csv}")
        + step("to_pg", "postgres.writer", "write", "{table: blanks, write_mode: replace}", "read")
        + step(
            "back",
            "postgres.extractor",
            "read",
            "{query: \"SELECT id, name, amount, TIMESTAMPTZ '2024-01-02 03:04:05.25+02' AS at"
            ' FROM blanks"}',
            "to_pg",
        )
        + step("out", "filesystem.csv_writer", "write", "{path: output/blanks.csv}", "back"),
    )
    build = engines.compile(pipeline)
    duck = engines.run(build, "duckdb")
    spark = engines.run(build, "spark")
    assert duck.status == spark.status == "success", spark.steps
    assert sorted(spark.files["output/blanks.csv"]) == sorted(duck.files["output/blanks.csv"])
    assert spark.tables["pg.blanks"] == duck.tables["pg.blanks"]
    assert sorted(spark.files["output/blanks.csv"])[:2] == [
        '1,"",1.50,2024-01-02T01:04:05.25+00:00',
        "2,,2.25,2024-01-02T01:04:05.25+00:00",
    ]


#: A table of 1,000 rows keyed on an INT, for the split reads.
NUMBERS = (
    "CREATE TABLE numbers (n INT PRIMARY KEY, triple INT)",
    "INSERT INTO numbers VALUES " + ", ".join(f"({i}, {i * 3})" for i in range(1, 1001)),
)


def _split_read(engines: TwoEngines, config: str) -> tuple[dict[str, Any], list[str]]:
    """Read `numbers` with the step config `config` in 3 partitions on Spark: the read
    step's outcome, and the rows it wrote to a Parquet file."""
    engines.source = NUMBERS
    pipeline = write(
        engines,
        "split",
        step("read", "mysql.extractor", "read", config)
        + step("out", "filesystem.parquet_writer", "write", "{path: output/n.parquet}", "read"),
    )
    spark = engines.run(engines.compile(pipeline), "spark", **{"osiris.jdbc.partitions": "3"})
    assert spark.status == "success", spark.steps
    return next(s for s in spark.steps if s["id"] == "read"), spark.files["output/n.parquet"]


def test_a_whole_table_read_splits_on_its_primary_key(engines: TwoEngines) -> None:
    read, (header, *rows) = _split_read(engines, "{table: numbers}")
    assert (read["rows_read"], read["details"]["partitions"]) == (1000, 3)
    assert header == "n,triple"
    assert sorted(rows) == sorted(repr((i, i * 3)) for i in range(1, 1001))


def test_a_read_that_leaves_the_key_out_still_splits_on_it(engines: TwoEngines) -> None:
    """A query not selecting the key (as projection pruning leaves it) reads the key under a
    private name to split on, and drops it: the rows and columns the query asks for."""
    query = '{query: "SELECT triple FROM numbers WHERE n > 10"}'
    read, (header, *rows) = _split_read(engines, query)
    assert (read["rows_read"], read["details"]["partitions"]) == (990, 3)
    assert header == "triple"
    assert sorted(rows) == sorted(repr((i * 3,)) for i in range(11, 1001))


TARGET_MYSQL = (
    "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(8) NOT NULL, score DECIMAL(5,1))",
    "INSERT INTO people VALUES (1, 'Ada', 1.0), (2, 'Grace', 2.0)",
)
TARGET_PG = (
    "CREATE TABLE {schema}.people (id INT PRIMARY KEY, name VARCHAR(8) NOT NULL,"
    " score NUMERIC(5,1))",
    "INSERT INTO {schema}.people VALUES (1, 'Ada', 1.0), (2, 'Grace', 2.0)",
)


def _pg(engines: TwoEngines, *statements: str) -> None:
    import psycopg

    info = "host={host} port={port} user={user} dbname={database}".format(**engines.pg)
    with psycopg.connect(info, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.format(schema=f'"{engines.pg["schema"]}"'))


def _run_write(engines: TwoEngines, family: str, mode: str, csv_text: str) -> Any:
    (engines.root / "data" / "people.csv").write_text(csv_text, encoding="utf-8")
    engines.source = TARGET_MYSQL if family == "mysql" else ()
    key = ", primary_key: id" if mode == "upsert" else ""
    pipeline = write(
        engines,
        f"{family}_{mode}",
        step("read", "filesystem.csv_extractor", "read", "{path: data/people.csv}")
        + step(
            "load",
            f"{family}.writer",
            "write",
            f"{{table: people, write_mode: {mode}{key}}}",
            "read",
        ),
    )
    build = engines.compile(pipeline)
    original = engines.reset

    def reset() -> None:  # the PostgreSQL target is made after the schema is
        original()
        if family == "postgres":
            _pg(engines, *TARGET_PG)

    engines.reset = reset  # type: ignore[method-assign]
    return engines.run(build, "spark")


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_upsert_updates_and_adds_by_key(engines: TwoEngines, family: str) -> None:
    outcome = _run_write(engines, family, "upsert", "id,name,score\n2,Hopper,2.5\n3,Turing,3.0\n")
    assert outcome.status == "success", outcome.steps
    table = outcome.tables[f"{'mysql' if family == 'mysql' else 'pg'}.people"]
    assert sorted(table) == [("1", "Ada", "1.0"), ("2", "Hopper", "2.5"), ("3", "Turing", "3.0")]
    assert not [name for name in outcome.tables if "_osiris_" in name]


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_replace_leaves_exactly_the_new_rows(engines: TwoEngines, family: str) -> None:
    outcome = _run_write(engines, family, "replace", "id,name,score\n7,Hedy,7.5\n")
    assert outcome.status == "success", outcome.steps
    table = outcome.tables[f"{'mysql' if family == 'mysql' else 'pg'}.people"]
    assert table == [("7", "Hedy", "7.5")]


def test_a_killed_runs_postgres_stage_is_dropped_by_the_next_write(engines: TwoEngines) -> None:
    """A run killed mid-load leaves its stage table; the next write to the target drops it
    (no session holds its lock) and leaves a live write's stage alone."""
    import json

    import psycopg

    info = "host={host} port={port} user={user} dbname={database}".format(**engines.pg)
    live = psycopg.connect(info, autocommit=True)  # a write still loading its stage
    original = engines.reset

    def reset() -> None:
        original()
        _pg(
            engines,
            "CREATE TABLE {schema}._osiris_spk_people_deadbeef (id INT)",
            "CREATE TABLE {schema}._osiris_spk_people_cafe0123 (id INT)",
        )
        live.execute("SELECT pg_advisory_lock(hashtext('osiris_spark_stage_cafe0123'))")

    engines.reset = reset  # type: ignore[method-assign]
    try:
        outcome = _run_write(engines, "postgres", "replace", "id,name,score\n7,Hedy,7.5\n")
    finally:
        live.close()
    assert outcome.status == "success", outcome.steps
    assert outcome.tables["pg.people"] == [("7", "Hedy", "7.5")]
    stages = sorted(name for name in outcome.tables if "_osiris_" in name)
    assert stages == ["pg._osiris_spk_people_cafe0123"], stages
    events = (outcome.session_dir / "events.jsonl").read_text("utf-8").splitlines()
    cleanups = [json.loads(e) for e in events if '"write.cleanup"' in e]
    assert [c["data"]["dropped"] for c in cleanups] == [["_osiris_spk_people_deadbeef"]], cleanups


@pytest.mark.parametrize("mode", ["replace", "upsert", "append"])
@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_a_write_failing_mid_way_leaves_the_target_untouched(
    engines: TwoEngines, family: str, mode: str
) -> None:
    """The third row's name does not fit VARCHAR(8): the move from the stage fails after
    rows were inserted, the one transaction rolls back, the stage is dropped."""
    outcome = _run_write(
        engines, family, mode, "id,name,score\n5,Ok,1.0\n6,Fine,2.0\n9,Far too long a name,3.0\n"
    )
    assert outcome.status == "failed"
    failed = next(s for s in outcome.steps if s["id"] == "load")
    assert failed["status"] == "failed" and failed.get("category") in ("data", "sql"), failed
    table = outcome.tables[f"{'mysql' if family == 'mysql' else 'pg'}.people"]
    assert sorted(table) == [("1", "Ada", "1.0"), ("2", "Grace", "2.0")]
    assert not [name for name in outcome.tables if "_osiris_" in name], outcome.tables


def test_a_component_spark_cannot_run_is_refused_before_the_run(tmp_path: Path) -> None:
    from osiris_mcp.cli import main

    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n", "utf-8"
    )
    (tmp_path / "p.yaml").write_text(
        'oml_version: "0.1.0"\nname: refused\nsteps:\n'
        + step("gen", "duckdb.processor", "transform", '{query: "SELECT 1 AS one"}')
        + step("keep", "duckdb.writer", "write", "{path: out.duckdb, table: t}", "gen"),
        "utf-8",
    )
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(
            ["run", str(tmp_path / "p.yaml"), "--project", str(tmp_path), "--engine", "spark"]
        )
    assert code == 2
    assert "cannot run step keep (duckdb.writer)" in err.getvalue()
    assert "--engine duckdb" in err.getvalue() and "Traceback" not in err.getvalue()
    assert not (tmp_path / "run_logs").exists()


def test_json_and_parquet_files_round_trip_as_on_duckdb(engines: TwoEngines) -> None:
    """CSV → NDJSON → JSON reader (the exact path) → Parquet → Parquet reader → CSV with
    CRLF and nonnumeric quoting (the exact path again): each file as DuckDB writes it."""
    engines.source = ()
    pipeline = write(
        engines,
        "files",
        step("orders", "filesystem.csv_extractor", "read", "{path: data/orders.csv}")
        + step("json", "filesystem.json_writer", "write", "{path: output/o.ndjson}", "orders")
        + step("back", "filesystem.json_extractor", "read", "{path: output/o.ndjson}", "json")
        + step("pq", "filesystem.parquet_writer", "write", "{path: output/o.parquet}", "back")
        + step("again", "filesystem.parquet_extractor", "read", "{path: output/o.parquet}", "pq")
        + step(
            "out",
            "filesystem.csv_writer",
            "write",
            "{path: output/o.csv, newline: crlf, quoting: nonnumeric}",
            "again",
        ),
    )
    build = engines.compile(pipeline)
    duck = engines.run(build, "duckdb")
    spark = engines.run(build, "spark")
    assert duck.status == spark.status == "success", spark.steps
    assert sorted(spark.files) == ["output/o.csv", "output/o.ndjson", "output/o.parquet"]
    for name, rows in duck.files.items():
        assert sorted(spark.files[name]) == sorted(rows), name
    assert (engines.root / "output" / "o.csv").read_bytes().count(b"\r\n") == 61
