"""The Spark engine's tests: ONE local[2] SparkSession for the whole pytest session (a JVM
costs ~10 s to start on 2 cores), which the adapter reuses (runtime/spark/session.py), and
a harness that runs one plan on DuckDB and on Spark from the same starting state and
returns what each left behind: every output file and every table of both databases.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.compat.test_examples_057 import SOURCE
from tests.conftest import MYSQL, POSTGRES
from tests.spark_session import spark

__all__ = ["spark"]  # the tests' one session (tests/spark_session.py)

#: What a plan both engines run is compiled for.
BOTH = ("duckdb", "spark")


def connections_yaml(mysql_db: dict[str, Any], pg_db: dict[str, Any]) -> str:
    """@mysql (aliases movies, db_movies, warehouse) on the test database, @supabase and
    @postgres on the test schema, @filesystem in the project."""
    my = (
        f"      host: {mysql_db['host']}\n      port: {mysql_db['port']}\n"
        f"      user: {mysql_db['user']}\n      password: ${{MYSQL_PASSWORD:-}}\n"
        f"      database: {mysql_db['database']}\n"
    )
    pg = (
        f"      host: {pg_db['host']}\n      port: {pg_db['port']}\n"
        f"      user: {pg_db['user']}\n      password: ${{PG_PASSWORD:-}}\n"
        f"      database: {pg_db['database']}\n      schema: {pg_db['schema']}\n"
    )
    return (
        "connections:\n  mysql:\n"
        f"    movies:\n      default: true\n{my}"
        f"    db_movies:\n{my}    local:\n{my}    warehouse:\n{my}"
        "  supabase:\n    main:\n      default: true\n"
        f"      url: https://abcdefghijklmnop.supabase.co\n{pg}      sslmode: disable\n"
        f"  postgres:\n    analytics:\n      default: true\n{pg}    local:\n{pg}"
        "  filesystem:\n    local:\n      default: true\n      base_dir: .\n"
    )


@dataclass
class Outcome:
    status: str
    steps: list[dict[str, Any]]
    files: dict[str, list[str]]
    tables: dict[str, list[tuple[str, ...]]]
    session_dir: Path


@dataclass
class TwoEngines:
    """A project with both databases, reset to the same state before each engine's run."""

    root: Path
    mysql: dict[str, Any]
    pg: dict[str, Any]
    source: tuple[str, ...] = SOURCE

    def reset(self) -> None:
        import psycopg
        import pymysql

        with pymysql.connect(**self.mysql, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            for (name,) in cur.fetchall():
                cur.execute(f"DROP TABLE `{name}`")
            for statement in self.source:
                cur.execute(statement)
        info = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.pg["schema"]}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{self.pg["schema"]}"')
        shutil.rmtree(self.root / "output", ignore_errors=True)

    def compile(self, pipeline: Path, *params: str, engines: tuple[str, ...] = BOTH) -> Path:
        """The build of `pipeline` for `engines` (`osiris compile --engine spark`): a plan
        the Spark engine runs has each transform's Spark SQL in it."""
        from runtime.app import compile_context, compile_to_disk

        values = dict(p.split("=", 1) for p in params)
        context = compile_context(self.root, values or None, engines=engines)
        outcome = compile_to_disk(pipeline.read_bytes(), context, str(pipeline), self.root, None)
        assert outcome.ok, outcome.diagnostics_dicts()
        return Path(outcome.build_dir)

    def run(self, build: Path, engine: str, **conf: str) -> Outcome:
        from runtime.adapters import RunRequest

        self.reset()
        request = RunRequest(build_dir=build, project=self.root)
        if engine == "spark":
            from runtime.spark.engine import SparkOptions, run_build_on_spark

            collected = run_build_on_spark(request, SparkOptions("local[2]", conf))
        else:
            from runtime.adapters.local import run_build

            collected = run_build(request)
        return Outcome(
            collected.status,
            collected.steps,
            self.files(),
            self.tables(),
            collected.session_dir,
        )

    def files(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for path in (
            sorted((self.root / "output").rglob("*")) if (self.root / "output").exists() else []
        ):
            if path.is_file():
                found[str(path.relative_to(self.root))] = file_rows(path)
        return found

    def tables(self) -> dict[str, list[tuple[str, ...]]]:
        import psycopg
        import pymysql

        found: dict[str, list[tuple[str, ...]]] = {}
        with pymysql.connect(**self.mysql) as conn, conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            for (name,) in cur.fetchall():
                cur.execute(f"SELECT * FROM `{name}`")
                found[f"mysql.{name}"] = [tuple(map(text, row)) for row in cur.fetchall()]
        info = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
        with psycopg.connect(info) as conn:
            names = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self.pg["schema"],),
            ).fetchall()
            for (name,) in names:
                rows = conn.execute(f'SELECT * FROM "{self.pg["schema"]}"."{name}"').fetchall()
                found[f"pg.{name}"] = [tuple(map(text, row)) for row in rows]
        return found


def text(value: Any) -> str:
    return "NULL" if value is None else str(value)


def file_rows(path: Path) -> list[str]:
    """A file's rows as text: CSV and JSON lines as written, Parquet rows as values."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return [",".join(table.column_names)] + [
            repr(tuple(row.values())) for row in table.to_pylist()
        ]
    return path.read_text("utf-8").splitlines()


def ordered(build: Path) -> bool:
    """Whether a transform of the plan orders its rows (then order is compared too)."""
    return any(
        re.search(r"\border\s+by\b", path.read_text("utf-8"), re.I)
        for path in (build / "cfg").glob("*.json")
    )


def same_rows(left: list[Any], right: list[Any], keep_order: bool) -> bool:
    """Row for row: in order when the SQL ordered them, else as multisets (a CSV's header
    stays first either way)."""
    if keep_order:
        return left == right
    head = 1 if left and right and isinstance(left[0], str) else 0
    return left[:head] == right[:head] and sorted(left[head:]) == sorted(right[head:])


@pytest.fixture
def engines(
    tmp_path: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any], spark: Any
) -> TwoEngines:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "osiris_connections.yaml").write_text(connections_yaml(mysql_db, pg_db), "utf-8")
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "data", root / "data")
    return TwoEngines(root, mysql_db, pg_db)


def csv_cells(text_: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_)))


_ = MYSQL
