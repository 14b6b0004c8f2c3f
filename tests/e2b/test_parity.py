"""Parity: the same plan run locally and through the E2B adapter gives the same observable run.

Same output files (or target table), the same status.json apart from ids and times, the
same sequence of events, the same metrics per step. The adapter runs through the local
process sandbox; the databases are real (the sandbox reaches them on 127.0.0.1).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main
from runtime.adapters import RunRequest
from runtime.adapters.e2b import E2BOptions, run_in_sandbox
from runtime.adapters.sandbox import LocalProcessTransport
from tests.e2b.conftest import (
    EXAMPLES,
    assert_parity,
    build,
    events,
    metrics,
    run_local,
    run_sandboxed,
)


def test_quickstart_parity(quickstart: Path, transport: LocalProcessTransport) -> None:
    build_dir = build(quickstart, (quickstart / "pipelines" / "quickstart.yaml").read_text())
    output = quickstart / "output" / "revenue_by_customer.csv"
    local = run_local(quickstart, build_dir)
    expected = output.read_bytes()
    output.unlink()

    sandboxed = run_sandboxed(quickstart, build_dir, transport)

    assert sandboxed.status == "success"
    assert output.read_bytes() == expected
    assert_parity(local, sandboxed)
    (sandbox,) = transport.created
    assert sandbox.killed and not Path(sandbox.root).exists()
    (overhead,) = [m for m in metrics(sandboxed) if m["metric"] == "e2b_overhead_ms"]
    assert overhead["unit"] == "ms" and overhead["tags"]["sandbox"] == "local"
    record = json.loads((sandboxed.session_dir / "e2b.json").read_text())
    assert record["data_files"] == [str(output)]
    assert record["wheel"].startswith("osiris_oml-") and record["exit_code"] == 0


def test_output_files_stay_in_the_sandbox_unless_asked(
    quickstart: Path, transport: LocalProcessTransport
) -> None:
    build_dir = build(quickstart, (quickstart / "pipelines" / "quickstart.yaml").read_text())
    sandboxed = run_sandboxed(quickstart, build_dir, transport, E2BOptions(data=False))
    assert sandboxed.status == "success"
    assert not (quickstart / "output").exists()
    path = sandboxed.steps[-1]["details"]["path"]  # reported as where a local run writes it
    assert path == str(quickstart.resolve() / "output" / "revenue_by_customer.csv")


def test_events_reach_the_local_session_while_the_run_goes(
    quickstart: Path, transport: LocalProcessTransport
) -> None:
    """Each event is in the local events.jsonl when it arrives, before the run is collected."""
    build_dir = build(quickstart, (quickstart / "pipelines" / "quickstart.yaml").read_text())
    seen: list[tuple[str, bool, str]] = []

    def on_event(event: dict[str, Any]) -> None:
        session = quickstart / "run_logs" / "quickstart" / event["session_id"]
        lines = (session / "events.jsonl").read_text().splitlines()
        local_status = json.loads((session / "status.json").read_text())["status"]
        seen.append((event["event_type"], json.loads(lines[-1]) == event, local_status))

    sandboxed = run_in_sandbox(
        RunRequest(build_dir, quickstart, on_event=on_event), E2BOptions(), transport
    )
    assert sandboxed.status == "success"
    assert [kind for kind, _, _ in seen] == [e["event_type"] for e in events(sandboxed)]
    assert all(in_file for _, in_file, _ in seen)
    assert {local_status for _, _, local_status in seen} == {"running"}


def test_osiris_run_e2b_accepts_what_osiris_run_accepts(
    quickstart: Path,
    sandbox_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OSIRIS_E2B_SANDBOX", "local")
    monkeypatch.setenv("OSIRIS_SANDBOX_CACHE", str(sandbox_cache))
    argv = [
        "run",
        str(quickstart / "pipelines" / "params_and_profiles.yaml"),
        "--project",
        str(quickstart),
        "--profile",
        "dev",
        "--param",
        "min_amount=60",
        "--parallel",
        "2",
        "--keep-data-plane",
        "--json",
    ]
    output = quickstart / "output" / "large_orders_dev.csv"
    assert main(argv) == 0
    local = json.loads(capsys.readouterr().out)
    expected = output.read_bytes()
    output.unlink()

    e2b = ["--e2b", "--e2b-data", "--e2b-timeout", "120", "--e2b-artifacts", "10MB"]
    assert main([*argv, *e2b]) == 0
    sandboxed = json.loads(capsys.readouterr().out)

    assert output.read_bytes() == expected
    assert sandboxed["status"] == local["status"] == "success"
    assert [s["rows_written"] for s in sandboxed["steps"]] == [
        s["rows_written"] for s in local["steps"]
    ]
    assert (Path(sandboxed["session_dir"]) / "data_plane.duckdb").is_file()
    kinds = [e["event_type"] for e in events_of(Path(sandboxed["session_dir"]))]
    assert kinds[:2] == ["compilation.start", "compilation.complete"]
    assert kinds[-1] == "execution.complete"


def events_of(session_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (session_dir / "events.jsonl").read_text().splitlines()]


# -- MariaDB → DuckDB → PostgreSQL ------------------------------------------------------------


def seed_orders(mysql: dict[str, Any]) -> None:
    import pymysql

    with (EXAMPLES / "data" / "orders.csv").open() as handle:
        rows = [
            (r["order_id"], r["customer_id"], r["amount"], r["status"], r["ordered_at"])
            for r in csv.DictReader(handle)
        ]
    conn = pymysql.connect(**mysql, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (order_id INT PRIMARY KEY, customer_id INT NOT NULL, "
            "amount DECIMAL(10,2) NOT NULL, status VARCHAR(16) NOT NULL, ordered_at DATETIME)"
        )
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", rows)
    conn.close()


def target_table(pg: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The loaded table's columns (name, type) and rows; then the table is dropped, so the
    next run starts from the same state (its status says whether it created the table)."""
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, numeric_precision, numeric_scale"
            " FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = 'daily_revenue' ORDER BY ordinal_position",
            (pg["schema"],),
        ).fetchall()
        rows = conn.execute(f'SELECT * FROM "{pg["schema"]}".daily_revenue ORDER BY 1').fetchall()
        conn.execute(f'DROP TABLE "{pg["schema"]}".daily_revenue')
    return columns, rows


@pytest.mark.db
def test_mysql_duckdb_postgres_parity(
    tmp_path: Path,
    mysql_db: dict[str, Any],
    pg_db: dict[str, Any],
    transport: LocalProcessTransport,
) -> None:
    seed_orders(mysql_db)
    project = tmp_path / "db-project"
    project.mkdir()
    (project / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  mysql:\n    local:\n      default: true\n      host: 127.0.0.1\n      port: 3306\n"
        f"      user: root\n      password: ${{MYSQL_PASSWORD:-}}\n"
        f"      database: {mysql_db['database']}\n"
        "  postgres:\n    local:\n      default: true\n      host: 127.0.0.1\n      port: 5432\n"
        "      user: postgres\n      password: ${PG_PASSWORD:-}\n      database: test\n"
        f"      schema: {pg_db['schema']}\n"
    )
    source = (EXAMPLES / "pipelines" / "mysql_to_postgres.yaml").read_text()
    build_dir = build(project, source)

    local = run_local(project, build_dir)
    assert local.status == "success", local.steps
    loaded_locally = target_table(pg_db)
    sandboxed = run_sandboxed(project, build_dir, transport)
    loaded_in_sandbox = target_table(pg_db)

    assert loaded_in_sandbox == loaded_locally
    assert loaded_locally[1], "the pipeline loaded no rows"
    assert_parity(local, sandboxed)
    assert [e["event_type"] for e in events(sandboxed)][:3] == ["connection.resolve"] * 2 + [
        "execution.start"
    ]


def test_a_base_dir_outside_the_project_maps_both_ways(
    tmp_path: Path, transport: LocalProcessTransport
) -> None:
    """Files under a base_dir outside the project go up to the sandbox and their paths
    come back as the local ones."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "in").mkdir(parents=True)
    (elsewhere / "in" / "orders.csv").write_bytes((EXAMPLES / "data" / "orders.csv").read_bytes())
    project = tmp_path / "outside-project"
    project.mkdir()
    (project / "osiris_connections.yaml").write_text(
        f"connections:\n  filesystem:\n    shared: {{default: true, base_dir: {elsewhere}}}\n"
    )
    source = (
        'oml_version: "0.1.0"\nname: outside\nsteps:\n'
        "  - id: orders\n    component: filesystem.csv_extractor\n    mode: read\n"
        "    config: {path: in/orders.csv}\n"
        "  - id: copy\n    component: filesystem.csv_writer\n    mode: write\n"
        '    inputs: {df: "${orders.df}"}\n    config: {path: out/orders.csv}\n'
    )
    build_dir = build(project, source)
    local = run_local(project, build_dir)
    output = elsewhere / "out" / "orders.csv"
    expected = output.read_bytes()
    output.unlink()

    sandboxed = run_sandboxed(project, build_dir, transport)

    assert sandboxed.status == "success"
    assert output.read_bytes() == expected
    assert sandboxed.steps[1]["details"]["path"] == str(output)
    assert_parity(local, sandboxed)
