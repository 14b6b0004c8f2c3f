"""The five kinds of pipeline in 0.5.7's docs, as our examples, run end to end.

Each example runs through `osiris run` against the real MariaDB (the source) and the real
PostgreSQL standing in for Supabase (a Supabase connection with explicit host fields, as
tests/components/test_supabase_drivers.py does); the test then reads back the exact rows.
"""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main
from tests.compat.pending import PENDING

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "pipelines"

SOURCE = (
    "CREATE TABLE directors (director_id INT PRIMARY KEY, name VARCHAR(80), country CHAR(2))",
    "CREATE TABLE movies (movie_id INT PRIMARY KEY, title VARCHAR(120), release_year INT,"
    " director_id INT, box_office_usd DECIMAL(12,2))",
    "CREATE TABLE reviews (review_id INT PRIMARY KEY, movie_id INT, score INT)",
    "INSERT INTO directors VALUES (1, 'Agnès Varda', 'FR'), (2, 'Akira Kurosawa', 'JP'),"
    " (3, 'Nobody Yet', NULL)",
    "INSERT INTO movies VALUES (10, 'Cléo from 5 to 7', 1962, 1, 1200000.50),"
    " (11, 'The Gleaners and I', 2000, 1, 350000.25), (20, 'Ikiru', 1952, 2, 55000.00),"
    " (30, 'Orphan Reel', 1999, NULL, NULL)",
    "INSERT INTO reviews VALUES (100, 10, 5), (101, 20, 4), (102, 20, 5)",
)


def _no_mark(test: Any) -> Any:
    return test


def pending(name: str) -> Any:
    """xfail(strict) while the example waits for a branch listed in tests/compat/pending.py."""
    reason = PENDING.get(name)
    return pytest.mark.xfail(strict=True, reason=reason) if reason else _no_mark


def mysql(db: dict[str, Any], *statements: str) -> None:
    import pymysql

    with pymysql.connect(**db, autocommit=True) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def pg(db: dict[str, Any], query: str) -> list[tuple[Any, ...]]:
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**db)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{db["schema"]}"')
        return [tuple(row) for row in conn.execute(query).fetchall()]


@pytest.fixture
def project(tmp_path: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any]) -> Path:
    """A project whose @mysql is a fresh movies database and whose @supabase is local PG."""
    mysql(mysql_db, *SOURCE)
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  mysql:\n"
        "    movies:\n"
        "      default: true\n"
        f"      host: {mysql_db['host']}\n      port: {mysql_db['port']}\n"
        f"      user: {mysql_db['user']}\n      password: ${{MYSQL_PASSWORD:-}}\n"
        f"      database: {mysql_db['database']}\n"
        "  supabase:\n"
        "    main:\n"
        "      default: true\n"
        "      url: https://abcdefghijklmnop.supabase.co\n"
        f"      host: {pg_db['host']}\n      port: {pg_db['port']}\n"
        f"      user: {pg_db['user']}\n      password: ${{PG_PASSWORD:-}}\n"
        f"      database: {pg_db['database']}\n      schema: {pg_db['schema']}\n"
        "      sslmode: disable\n"
        "  filesystem:\n"
        "    local:\n"
        "      default: true\n"
        "      base_dir: .\n",
        encoding="utf-8",
    )
    (tmp_path / "pipelines").mkdir()
    for path in EXAMPLES.glob("mysql_*.yaml"):
        (tmp_path / "pipelines" / path.name).write_bytes(path.read_bytes())
    return tmp_path


def run(project: Path, name: str, *extra: str) -> dict[str, Any]:
    out = io.StringIO()
    argv = ["run", str(project / "pipelines" / f"{name}.yaml"), "--project", str(project)]
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json", *extra])
    result: dict[str, Any] = json.loads(out.getvalue())
    assert code == 0 and result["status"] == "success", result
    return result


TOTALS = [
    (1, "Agnès Varda", 2, Decimal("1550000.75")),
    (2, "Akira Kurosawa", 1, Decimal("55000.00")),
]


@pending("mysql_duckdb_supabase_append")
def test_append_adds_a_batch_per_run(project: Path, pg_db: dict[str, Any]) -> None:
    run(project, "mysql_duckdb_supabase_append")
    run(project, "mysql_duckdb_supabase_append", "--param", "batch=second")
    rows = pg(
        pg_db,
        "SELECT batch, director_id, director, films, box_office_usd FROM director_totals "
        "ORDER BY batch, director_id",
    )
    assert rows == [("initial", *t) for t in TOTALS] + [("second", *t) for t in TOTALS]


@pending("mysql_duckdb_supabase_replace")
def test_replace_keeps_only_the_latest_totals(
    project: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any]
) -> None:
    run(project, "mysql_duckdb_supabase_replace")
    mysql(mysql_db, "UPDATE movies SET box_office_usd = 60000.00 WHERE movie_id = 20")
    run(project, "mysql_duckdb_supabase_replace")
    rows = pg(pg_db, "SELECT director_id, director, films, box_office_usd FROM director_totals")
    assert sorted(rows) == [TOTALS[0], (2, "Akira Kurosawa", 1, Decimal("60000.00"))]


@pending("mysql_to_csv_all_tables")
def test_csv_for_every_table(project: Path) -> None:
    result = run(project, "mysql_to_csv_all_tables")
    assert [s["rows_written"] for s in result["steps"] if s["id"].startswith("write-")] == [3, 4, 3]
    output = project / "output"
    assert (output / "directors.csv").read_text("utf-8").splitlines() == [
        "director_id,name,country",
        "1,Agnès Varda,FR",
        "2,Akira Kurosawa,JP",
        "3,Nobody Yet,",
    ]
    assert (output / "movies.csv").read_text("utf-8").splitlines() == [
        "movie_id,title,release_year,director_id,box_office_usd",
        "10,Cléo from 5 to 7,1962,1,1200000.50",
        "11,The Gleaners and I,2000,1,350000.25",
        "20,Ikiru,1952,2,55000.00",
        "30,Orphan Reel,1999,,",
    ]
    assert (output / "reviews.csv").read_text("utf-8").splitlines() == [
        "review_id,movie_id,score",
        "100,10,5",
        "101,20,4",
        "102,20,5",
    ]


@pending("mysql_to_supabase_all_tables")
def test_supabase_copy_of_every_table(project: Path, pg_db: dict[str, Any]) -> None:
    run(project, "mysql_to_supabase_all_tables")
    run(
        project, "mysql_to_supabase_all_tables"
    )  # replace: a second run leaves the same rows, not twice as many
    assert pg(pg_db, "SELECT * FROM directors ORDER BY director_id") == [
        (1, "Agnès Varda", "FR"),
        (2, "Akira Kurosawa", "JP"),
        (3, "Nobody Yet", None),
    ]
    assert pg(pg_db, "SELECT * FROM movies ORDER BY movie_id") == [
        (10, "Cléo from 5 to 7", 1962, 1, Decimal("1200000.50")),
        (11, "The Gleaners and I", 2000, 1, Decimal("350000.25")),
        (20, "Ikiru", 1952, 2, Decimal("55000.00")),
        (30, "Orphan Reel", 1999, None, None),
    ]
    assert pg(pg_db, "SELECT * FROM reviews ORDER BY review_id") == [
        (100, 10, 5),
        (101, 20, 4),
        (102, 20, 5),
    ]


@pending("mysql_to_supabase")
def test_upsert_updates_and_adds_by_primary_key(
    project: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any]
) -> None:
    run(project, "mysql_to_supabase")
    mysql(
        mysql_db,
        "UPDATE movies SET title = 'Ikiru (restored)' WHERE movie_id = 20",
        "INSERT INTO movies VALUES (40, 'Late Addition', 2024, 2, 10.10)",
    )
    run(project, "mysql_to_supabase")
    assert pg(pg_db, "SELECT * FROM movies ORDER BY movie_id") == [
        (10, "Cléo from 5 to 7", 1962, Decimal("1200000.50")),
        (11, "The Gleaners and I", 2000, Decimal("350000.25")),
        (20, "Ikiru (restored)", 1952, Decimal("55000.00")),
        (30, "Orphan Reel", 1999, None),
        (40, "Late Addition", 2024, Decimal("10.10")),
    ]
