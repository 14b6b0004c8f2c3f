"""`osiris discover` as a user sees it: the summary table, JSON, drift, errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parents[2]

SCHEMA = [
    "CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(80), name VARCHAR(40))",
    "CREATE TABLE order_lines (order_id INT, line INT, qty INT, PRIMARY KEY (order_id, line))",
    "CREATE VIEW named AS SELECT id, name FROM customers",
    "INSERT INTO customers VALUES (1, 'ada@example.com', 'Ada'), (2, 'alan@example.com', 'Alan')",
    "ANALYZE TABLE customers",
]


def run_mysql(fields: dict[str, Any], *statements: str) -> None:
    import pymysql

    conn = pymysql.connect(**fields, autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def project(tmp_path: Path, mysql_db: dict[str, Any]) -> Path:
    run_mysql(mysql_db, *SCHEMA)
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  mysql:\n"
        "    shop:\n"
        "      default: true\n"
        f"      host: {mysql_db['host']}\n"
        f"      port: {mysql_db['port']}\n"
        f"      user: {mysql_db['user']}\n"
        "      password: ''\n"
        f"      database: {mysql_db['database']}\n"
        "    down:\n"
        "      host: 127.0.0.1\n"
        "      port: 1\n"
        "      user: someone\n"
        "      password: ${DOWN_PASSWORD:-Canary-pw-0042}\n"
        "      database: shop\n"
    )
    return tmp_path


def discover(project: Path, *args: str) -> int:
    return main(["discover", *args, "--project", str(project)])


def test_summary_table_then_the_cache(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert discover(project, "@mysql.shop") == 0
    first = capsys.readouterr().out.splitlines()
    did = first[0].rsplit(" ", 1)[-1]

    assert first == [
        f"@mysql.shop: 3 tables (1 view), read from the source · {did}",
        "TABLE        KIND   ROWS  COLUMNS  PRIMARY KEY",
        "customers    table     2        3  id",
        "named        view      —        2  —",
        "order_lines  table     0        3  order_id, line",
        f"rows are estimates from engine statistics · full JSON in .osiris/discovery/{did}/",
    ]
    assert (project / ".osiris" / "discovery" / did / "summary.json").is_file()

    assert discover(project, "@mysql") == 0  # the family's default alias, same source
    again = capsys.readouterr().out.splitlines()
    assert again[0] == f"@mysql.shop: 3 tables (1 view), from the cache (schema unchanged) · {did}"
    assert again[1:] == first[1:]


def test_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["@mysql.shop", "--json", "--tables", "cust*", "--samples", "1"]
    assert discover(project, *argv) == 0
    result = json.loads(capsys.readouterr().out)

    assert result["cached"] is False
    assert result["artifacts_dir"] == f".osiris/discovery/{result['discovery_id']}"
    assert result["options"] == {"samples": 1, "schemas": [], "tables": ["cust*"]}
    assert [(t["name"], t["row_estimate"], t["columns"]) for t in result["tables"]] == [
        ("customers", 2, 3)
    ]
    artifact = project / result["artifacts_dir"] / result["tables"][0]["artifact"]
    assert json.loads(artifact.read_text())["samples"] == [{"id": 1, "email": "***", "name": "Ada"}]


def test_diff_shows_drift_since_the_cached_entry(
    project: Path, mysql_db: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert discover(project, "@mysql.shop", "--diff") == 1
    assert capsys.readouterr().err == (
        "osiris: nothing cached for @mysql.shop yet: run `osiris discover @mysql.shop` first\n"
    )
    assert discover(project, "@mysql.shop") == 0
    assert discover(project, "@mysql.shop", "--diff") == 0
    capsys.readouterr()
    run_mysql(mysql_db, "ALTER TABLE customers ADD COLUMN phone VARCHAR(20), MODIFY name TEXT")

    assert discover(project, "@mysql.shop", "--diff") == 0
    db = mysql_db["database"]
    changes = [
        f"  + column {db}.customers.phone",
        f"  ~ column {db}.customers.name: varchar(40) → text",
        f"  ~ column {db}.named.name: varchar(40) → text",  # the view follows its table
    ]
    assert capsys.readouterr().out.splitlines() == [
        "@mysql.shop: 3 changes since the cached discovery",
        *changes,
    ]
    assert discover(project, "@mysql.shop") == 0  # the refresh reports the same drift
    out = capsys.readouterr().out.splitlines()
    assert "read from the source" in out[0]
    assert out[-5:-1] == ["changed since the cached discovery:", *changes]


def test_an_unreachable_source_exits_1_with_category_and_hint(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert discover(project, "@mysql.down", "--timeout", "60") == 1  # refused, not timed out
    err = capsys.readouterr().err.splitlines()

    assert err == [
        "osiris: discovery failed (network): @mysql.down: Can't connect to MySQL server on "
        "'127.0.0.1' ([Errno 111] Connection refused)",
        "  hint: check the host and port of @mysql.down, and that the server runs and is reachable",
    ]


def test_unknown_alias_is_a_config_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert discover(project, "@mysql.shopp", "--json") == 1
    assert json.loads(capsys.readouterr().out) == {
        "error": {
            "message": f"no connection @mysql.shopp in {project / 'osiris_connections.yaml'}",
            "category": "config",
            "hint": "did you mean @mysql.shop?",
        }
    }


@pytest.mark.parametrize(
    "argv",
    [["@mysql.x.y"], ["@mysql.shop", "--samples", "101"], ["@mysql.shop", "--timeout", "0"]],
)
def test_usage_errors_exit_2(project: Path, argv: list[str]) -> None:
    try:
        code = discover(project, *argv)
    except SystemExit as exit_:  # argparse rejects --samples itself
        code = int(exit_.code or 0)
    assert code == 2


def test_the_command_module_stays_light() -> None:
    probe = (
        "import argparse, sys, osiris_mcp.commands.discover as command;"
        "command.add_arguments(argparse.ArgumentParser());"
        "heavy = {'pymysql', 'psycopg', 'duckdb', 'diskcache', 'sqlalchemy'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n"


def test_tables_shows_their_columns_and_json_lists_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert discover(project, "@mysql.shop", "--tables", "order_lines") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[4:9] == [
        "order_lines",
        "COLUMN    TYPE     NULLABLE  KEY",
        "order_id  int(11)  no        PK",
        "line      int(11)  no        PK",
        "qty       int(11)  yes",
    ]

    assert discover(project, "@mysql.shop", "--tables", "cust*", "--json") == 0
    table = json.loads(capsys.readouterr().out)["tables"][0]
    assert table["columns"] == 3
    assert table["column_details"] == [
        {"name": "id", "type": "int(11)", "nullable": False, "key": "PK"},
        {"name": "email", "type": "varchar(80)", "nullable": True, "key": None},
        {"name": "name", "type": "varchar(40)", "nullable": True, "key": None},
    ]
