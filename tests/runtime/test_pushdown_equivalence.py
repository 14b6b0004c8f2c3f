"""Pushdown on real servers: the optimized build and the unoptimized one write the same rows.

Predicate pushdown needs column types, so each test first discovers the source; the
optimized build must actually contain the rewrites, or the comparison proves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from osiris_mcp.cli import main

pytestmark = pytest.mark.db

ROWS = [
    (1, 7, "79.19", "paid", "Ann"),
    (2, 7, "5.00", "paid", None),
    (3, 8, "120.50", "refunded", "Bob"),
    (4, 9, "50.00", "paid", ""),
    (5, 9, None, "paid", "Cy"),
    (6, 10, "99.99", "pending", "Dee"),
    (7, 10, "250.00", "paid", "Ed"),
]
PIPELINE = """oml_version: "0.1.0"
name: pushdown
steps:
  - id: orders
    component: {family}.extractor
    mode: read
    config:
      connection: "@{family}.main"
      query: SELECT id, customer_id, amount, status, note FROM orders
  - id: big_paid
    component: duckdb.processor
    mode: transform
    inputs: {{orders: "${{orders.df}}"}}
    config:
      query: |
        SELECT id, amount FROM orders
        WHERE amount >= 50 AND status = 'paid' AND customer_id <> 8
        ORDER BY id
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {{df: "${{big_paid.df}}"}}
    config: {{path: "out/${{params.name}}.csv"}}
params:
  name: {{type: string, default: out}}
"""


def connections(project: Path, family: str, fields: dict[str, Any]) -> None:
    lines = [f"      {k}: {json.dumps(v)}" for k, v in fields.items()]
    (project / "osiris_connections.yaml").write_text(
        f"connections:\n  {family}:\n    main:\n      default: true\n"
        + "\n".join(lines)
        + "\n  filesystem:\n    local: {default: true, base_dir: .}\n"
    )


def compile_and_run(
    project: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, Any]:
    path = project / "p.yaml"
    assert main(["compile", str(path), "--project", str(project), "--json", *extra]) == 0
    compiled = json.loads(capsys.readouterr().out)
    name = "optimized" if "--no-optimize" not in extra else "plain"
    run = ["run", compiled["build_dir"], "--project", str(project), "--json"]
    assert main(run) == 0, capsys.readouterr()
    capsys.readouterr()
    compiled["output"] = (project / "out" / "out.csv").read_text()
    (project / "out" / "out.csv").rename(project / "out" / f"{name}.csv")
    return compiled


def check(project: Path, capsys: pytest.CaptureFixture[str], family: str) -> None:
    (project / "p.yaml").write_text(PIPELINE.format(family=family))
    assert main(["discover", f"@{family}.main", "--project", str(project), "--json"]) == 0
    capsys.readouterr()
    optimized = compile_and_run(project, capsys)
    plain = compile_and_run(project, capsys, "--no-optimize")
    kinds = {r["kind"] for r in optimized["rewrites"]}
    assert {"predicate_pushdown", "projection_pruning"} <= kinds, optimized["rewrites"]
    assert plain["rewrites"] == []
    assert optimized["output"] == plain["output"] == "id,amount\n1,79.19\n4,50.00\n7,250.00\n"


def test_mysql(
    tmp_path: Path, mysql_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pymysql.connect(**mysql_db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2), "
            "status VARCHAR(16), note VARCHAR(32))"
        )
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", ROWS)
    connections(tmp_path, "mysql", mysql_db)
    check(tmp_path, capsys, "mysql")


def test_postgres(
    tmp_path: Path, pg_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg_db)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{pg_db["schema"]}"')
        conn.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric(10,2), "
            "status varchar(16), note varchar(32))"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", ROWS)
        conn.execute("ANALYZE orders")
    connections(tmp_path, "postgres", pg_db)
    check(tmp_path, capsys, "postgres")
