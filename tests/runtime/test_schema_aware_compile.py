"""Discovery feeds the compiler: a wrong column is caught before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pymysql
import pytest

from osiris_mcp.cli import main

pytestmark = pytest.mark.db


@pytest.fixture
def project(tmp_path: Path, mysql_db: dict[str, Any]) -> Path:
    with pymysql.connect(**mysql_db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE customers "
            "(customer_id INT PRIMARY KEY, name VARCHAR(50), country CHAR(2))"
        )
        cur.execute(
            "CREATE TABLE orders (order_id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2))"
        )
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  mysql:\n    main:\n      default: true\n      host: 127.0.0.1\n"
        "      port: 3306\n      user: root\n      password: ''\n"
        f"      database: {mysql_db['database']}\n"
        "  filesystem:\n    local: {default: true, base_dir: .}\n"
    )
    return tmp_path


def write_pipeline(project: Path, query: str) -> Path:
    path = project / "p.yaml"
    path.write_text(
        'oml_version: "0.1.0"\nname: schema-check\nsteps:\n'
        "  - id: extract\n    component: mysql.extractor\n    mode: read\n    config:\n"
        '      connection: "@mysql.main"\n      query: |\n'
        + "".join(f"        {line}\n" for line in query.splitlines())
        + "  - id: write\n    component: filesystem.csv_writer\n    mode: write\n"
        '    inputs: {df: "${extract.df}"}\n    config: {path: out.csv}\n'
    )
    return path


def test_a_missing_column_fails_with_a_suggestion_only_with_the_catalog(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_pipeline(project, "SELECT o.order_id, o.custmer_id\nFROM orders AS o")
    # before discovery there is no catalog: the compile passes
    assert main(["compile", str(path), "--project", str(project)]) == 0
    capsys.readouterr()
    assert main(["discover", "@mysql.main", "--project", str(project), "--json"]) == 0
    discovery_id = json.loads(capsys.readouterr().out)["discovery_id"]
    timeline = (project / ".osiris" / "discovery" / discovery_id / "events.jsonl").read_text()
    kinds = [json.loads(line)["event_type"] for line in timeline.splitlines()]
    assert kinds[0] == "discovery.start" and kinds[-1] == "discovery.complete"
    assert "discovery.cache_miss" in kinds and kinds.count("discovery.schema") == 2
    assert main(["validate", str(path), "--project", str(project), "--json"]) == 1
    diagnostics = json.loads(capsys.readouterr().out)["diagnostics"]
    first = diagnostics[0]
    assert (first["code"], first["line"], first["column"]) == ("SQL408", 10, 30)
    assert "did you mean 'customer_id'?" in first["hint"]
    assert main(["compile", str(path), "--project", str(project), "--catalog", "off"]) == 0
    # the build compiled before discovery is not reused now that a catalog exists
    assert main(["compile", str(path), "--project", str(project)]) == 2
    assert "error[SQL408]" in capsys.readouterr().out


def test_an_unknown_table_is_reported_and_lineage_carries_types(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["discover", "@mysql.main", "--project", str(project)]) == 0
    capsys.readouterr()
    bad = write_pipeline(project, "SELECT name FROM customer")
    assert main(["validate", str(bad), "--project", str(project), "--json"]) == 1
    first = json.loads(capsys.readouterr().out)["diagnostics"][0]
    assert first["code"] == "SQL407" and "customers" in first["hint"]
    good = write_pipeline(project, "SELECT c.customer_id, c.name FROM customers AS c")
    assert main(["compile", str(good), "--project", str(project), "--json"]) == 0
    build = Path(json.loads(capsys.readouterr().out)["build_dir"])
    lineage = json.loads((build / "lineage.json").read_text())
    assert lineage["extract"]["customer_id"]["type"] == "integer"
    assert lineage["extract"]["name"]["sources"] == ["customers.name"]
