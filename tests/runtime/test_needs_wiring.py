"""Pipelines wired the 0.5.7 way run: `needs` carries data, `df_<id>` names it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "movies.csv").write_text("id,title,year\n1,Alien,1979\n2,Heat,1995\n")
    (tmp_path / "data" / "ratings.csv").write_text("id,stars\n1,5\n2,4\n")
    return tmp_path


def run(project: Path, oml: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    path = project / "p.yaml"
    path.write_text(oml)
    code = main(["run", str(path), "--project", str(project), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    result: dict[str, Any] = json.loads(captured.out)
    assert result["status"] == "success"
    return result


def csv_lines(project: Path, name: str) -> list[str]:
    return (project / "output" / name).read_text().splitlines()


HEAD = 'oml_version: "0.1.0"\nname: movies\nsteps:\n'
EXTRACTS = """\
  - id: extract-movies
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/movies.csv}
  - id: extract-ratings
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/ratings.csv}
"""


def test_two_hyphenated_upstreams_joined_by_df_names_then_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oml = (
        HEAD
        + EXTRACTS
        + """\
  - id: rated
    component: duckdb.processor
    mode: transform
    needs: [extract-movies, extract-ratings]
    config:
      query: |
        SELECT m.title, r.stars
        FROM df_extract_movies AS m JOIN df_extract_ratings AS r USING (id)
        ORDER BY m.id
  - id: write-rated
    component: filesystem.csv_writer
    mode: write
    needs: [rated]
    config: {path: output/rated.csv}
"""
    )
    run(project, oml, capsys)

    assert csv_lines(project, "rated.csv") == ["title,stars", "Alien,5", "Heat,4"]


def test_the_previous_step_is_the_upstream_and_the_run_warns(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oml = (
        HEAD
        + EXTRACTS
        + """\
  - id: recent
    component: duckdb.processor
    mode: transform
    needs: [extract-movies]
    config: {query: "SELECT title FROM \\"extract-movies\\" WHERE year > 1990"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    config: {path: output/recent.csv}
"""
    )
    path = project / "p.yaml"
    path.write_text(oml)
    assert main(["validate", str(path), "--project", str(project)]) == 0
    shown = capsys.readouterr()
    assert "warning[OML212]: step 'write' names no upstream" in shown.out + shown.err
    assert "add the line: needs: [recent]" in shown.out + shown.err

    run(project, oml, capsys)
    assert csv_lines(project, "recent.csv") == ["title", "Heat"]


def test_ids_that_sanitize_alike_are_read_by_their_hashed_names(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def df(step_id: str) -> str:
        return "df_a_b_" + hashlib.sha256(step_id.encode()).hexdigest()[:8]

    oml = (
        HEAD
        + f"""\
  - {{id: a-b, component: filesystem.csv_extractor, mode: read, config: {{path: data/movies.csv}}}}
  - {{id: a_b, component: filesystem.csv_extractor, mode: read, config: {{path: data/ratings.csv}}}}
  - id: both
    component: duckdb.processor
    mode: transform
    needs: [a-b, a_b]
    config:
      query: SELECT title, stars FROM {df("a-b")} JOIN {df("a_b")} USING (id) ORDER BY id
  - {{id: out, component: filesystem.csv_writer, mode: write, needs: [both],
     config: {{path: output/both.csv}}}}
"""
    )
    run(project, oml, capsys)

    assert csv_lines(project, "both.csv") == ["title,stars", "Alien,5", "Heat,4"]


def test_a_transform_with_no_upstream_generates_its_rows(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oml = (
        HEAD
        + """\
  - id: numbers
    component: duckdb.processor
    mode: transform
    config: {query: "SELECT range AS n, range * range AS square FROM range(4)"}
  - {id: save, component: filesystem.csv_writer, mode: write, needs: [numbers],
     config: {path: output/squares.csv}}
"""
    )
    result = run(project, oml, capsys)

    assert csv_lines(project, "squares.csv") == ["n,square", "0,0", "1,1", "2,4", "3,9"]
    assert [(s["id"], s["rows_written"]) for s in result["steps"]] == [("numbers", 4), ("save", 4)]


def test_mariadb_to_duckdb_to_postgres_wired_by_needs(
    tmp_path: Path,
    mysql_db: dict[str, Any],
    pg_db: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import psycopg
    import pymysql

    with pymysql.connect(**mysql_db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(10,2), status TEXT)")
        cur.execute(
            "INSERT INTO orders VALUES (1, 10.50, 'paid'), (2, 99.99, 'open'), (3, 20.00, 'paid')"
        )
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n"
        f"  mysql:\n    shop: {{host: {mysql_db['host']}, port: {mysql_db['port']}, "
        f"user: {mysql_db['user']}, password: '', database: {mysql_db['database']}}}\n"
        f"  postgres:\n    dw: {{host: {pg_db['host']}, port: {pg_db['port']}, "
        f"user: {pg_db['user']}, database: {pg_db['database']}, schema: {pg_db['schema']}}}\n"
    )
    oml = """\
oml_version: "0.1.0"
name: Orders to the warehouse
steps:
  - id: extract-orders
    component: mysql.extractor
    mode: read
    config: {connection: "@mysql.shop", query: "SELECT id, total, status FROM orders"}
  - id: paid
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config:
      query: SELECT id, total FROM df_extract_orders WHERE status = 'paid' ORDER BY id
  - id: load
    component: postgres.writer
    mode: write
    needs: [paid]
    config: {connection: "@postgres.dw", table: paid_orders, write_mode: replace}
"""
    run(tmp_path, oml, capsys)

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg_db)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            f'SELECT id, total::text FROM "{pg_db["schema"]}".paid_orders ORDER BY id'
        ).fetchall()
    assert rows == [(1, "10.50"), (3, "20.00")]
    assert [d.name for d in (tmp_path / "run_logs").iterdir()] == ["Orders_to_the_warehouse"]
    assert [d.name for d in (tmp_path / "build").iterdir()] == ["Orders_to_the_warehouse"]


def test_an_absolute_csv_path_under_a_declared_base_dir_runs(
    project: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path_factory.mktemp("exports")
    (elsewhere / "movies.csv").write_text("id,title\n1,Alien\n")
    (project / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
        f"    exports: {{base_dir: {elsewhere}}}\n"
    )
    oml = (
        HEAD
        + f"""\
  - {{id: read, component: filesystem.csv_extractor, mode: read,
     config: {{connection: "@filesystem.exports", path: {elsewhere / "movies.csv"}}}}}
  - {{id: save, component: filesystem.csv_writer, mode: write, needs: [read],
     config: {{path: output/copy.csv}}}}
"""
    )
    run(project, oml, capsys)
    assert csv_lines(project, "copy.csv") == ["id,title", "1,Alien"]

    # without `connection:` the declared connection whose base_dir holds the file serves it
    (project / "output" / "copy.csv").unlink()
    run(project, oml.replace('connection: "@filesystem.exports", ', ""), capsys)
    assert csv_lines(project, "copy.csv") == ["id,title", "1,Alien"]

    path = project / "p.yaml"
    path.write_text(oml.replace(f"{elsewhere}/movies.csv", "/etc/hostname"))
    assert main(["validate", str(path), "--project", str(project)]) == 1
    shown = capsys.readouterr()
    assert "error[SEC504]" in shown.out + shown.err
    assert "declare a filesystem connection" in shown.out + shown.err
