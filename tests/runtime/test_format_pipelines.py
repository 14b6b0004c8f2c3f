"""Pipelines through `osiris run` with the Parquet, JSON and DuckDB-file components, and
their exact results: Parquet → duckdb.processor → JSON, and CSV → duckdb.writer."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from osiris_mcp.cli import main

CONNECTIONS = """\
connections:
  filesystem:
    local:
      default: true
      base_dir: data
  duckdb:
    warehouse:
      path: output/warehouse.duckdb
"""

PARQUET_TO_JSON = """\
oml_version: "0.1.0"
name: parquet_to_json
steps:
  - id: orders
    component: filesystem.parquet_extractor
    mode: read
    config:
      path: orders.parquet
  - id: revenue
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${orders.df}"}
    config:
      query: |
        SELECT customer, sum(amount) AS revenue, max(placed_at) AS last_order, min(note) AS note
        FROM orders WHERE status = 'paid' GROUP BY customer ORDER BY customer
  - id: write
    component: filesystem.json_writer
    mode: write
    inputs: {df: "${revenue.df}"}
    config:
      path: out/revenue.json
"""

CSV_TO_DUCKDB = """\
oml_version: "0.1.0"
name: csv_to_duckdb
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config:
      path: orders.csv
  - id: load
    component: duckdb.writer
    mode: write
    inputs: {df: "${orders.df}"}
    config:
      connection: "@duckdb.warehouse"
      table: orders
      write_mode: replace
"""

ORDERS_CSV = """\
id,customer,amount,status,placed_at,note
1,ada,79.19,paid,2024-01-02 03:04:05,
2,ada,0.10,paid,2024-03-01 10:00:00,""
3,alan,12.50,refunded,2024-02-01 00:00:00,late
4,grace,1000.00,paid,2024-02-29 23:59:59,ünïcødé 😀
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(ORDERS_CSV, "utf-8")
    with duckdb.connect() as db:
        db.execute(
            "COPY (SELECT * FROM read_csv(?, types={'amount': 'DECIMAL(10,2)'}, "
            "allow_quoted_nulls=false)) TO ? (FORMAT parquet)",
            [str(tmp_path / "data" / "orders.csv"), str(tmp_path / "data" / "orders.parquet")],
        )
    return tmp_path


def run_pipeline(project: Path, name: str, text: str, capsys: Any) -> dict[str, Any]:
    (project / f"{name}.yaml").write_text(text)
    argv = ["run", str(project / f"{name}.yaml"), "--project", str(project), "--json"]
    code = main(argv)
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == 0, result
    return result


def test_parquet_through_duckdb_to_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_pipeline(project, "parquet_to_json", PARQUET_TO_JSON, capsys)

    assert [(s["id"], s["status"], s["rows_written"]) for s in result["steps"]] == [
        ("orders", "success", 4),
        ("revenue", "success", 2),
        ("write", "success", 2),
    ]
    text = (project / "data" / "out" / "revenue.json").read_text("utf-8")
    assert json.loads(text, parse_float=Decimal) == [
        {
            "customer": "ada",
            "revenue": Decimal("79.29"),
            "last_order": "2024-03-01 10:00:00.000000",
            "note": "",  # min() skips the NULL: the empty string stays apart from it
        },
        {
            "customer": "grace",
            "revenue": Decimal("1000"),
            "last_order": "2024-02-29 23:59:59.000000",
            "note": "ünïcødé 😀",
        },
    ]


def test_csv_into_a_duckdb_database_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_pipeline(project, "csv_to_duckdb", CSV_TO_DUCKDB, capsys)

    assert [(s["id"], s["rows_written"]) for s in result["steps"]] == [("orders", 4), ("load", 4)]
    target = project / "output" / "warehouse.duckdb"
    with duckdb.connect(str(target), read_only=True) as db:
        described = [(r[0], r[1]) for r in db.execute("DESCRIBE orders").fetchall()]
        rows = db.execute("SELECT * FROM orders ORDER BY id").fetchall()
    assert described == [
        ("id", "BIGINT"),
        ("customer", "VARCHAR"),
        ("amount", "DECIMAL(18,2)"),
        ("status", "VARCHAR"),
        ("placed_at", "TIMESTAMP"),
        ("note", "VARCHAR"),
    ]
    assert [(r[0], r[2], r[5]) for r in rows] == [
        (1, Decimal("79.19"), None),
        (2, Decimal("0.10"), ""),
        (3, Decimal("12.50"), "late"),
        (4, Decimal("1000.00"), "ünïcødé 😀"),
    ]

    again = run_pipeline(project, "csv_to_duckdb", CSV_TO_DUCKDB, capsys)  # replace: same rows
    assert again["status"] == "success"
    with duckdb.connect(str(target), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone() == (4,)
