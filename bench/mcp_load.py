"""MCP server latency while a run holds a long database read, seen from a real stdio client.

For MariaDB and PostgreSQL in turn: start `osiris-mcp`, run a plan whose extract makes the
server count 10^10 rows (hours of work), and while the server runs that query, call
`connections_list`, `oml_validate` and `run_status` back to back for `--seconds`
(default 60), timing each answer; then `run_cancel` and time how long until the query is
gone from `SHOW PROCESSLIST` / `pg_stat_activity` (an upper bound: it includes
run_cancel waiting for the run to end `cancelled`). Prints p50 / p99 / max per tool, the
progress notifications received, and the cancel time.

    python bench/mcp_load.py [--seconds 60] [--family mysql|postgres]

Needs MariaDB (root, no password) and PostgreSQL (trust) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import anyio  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from bench.common import ROOT, percentile  # noqa: E402

OSIRIS_MCP = str(Path(sys.executable).with_name("osiris-mcp"))
GRIND = {
    "mysql": "SELECT count(*) AS n FROM seq_1_to_100000 AS a, seq_1_to_100000 AS b",
    "postgres": "SELECT count(*) AS n FROM generate_series(1, 100000) AS a, "
    "generate_series(1, 100000) AS b",
}
CONNECTIONS = """\
connections:
  mysql:
    bench:
      host: 127.0.0.1
      port: 3306
      user: root
      password: ""
      database: test
  postgres:
    bench:
      host: 127.0.0.1
      port: 5432
      user: postgres
      database: test
"""
VALIDATE = (ROOT / "examples" / "pipelines" / "quickstart.yaml").read_text("utf-8")


def plan(family: str) -> str:
    return f"""\
oml_version: "0.1.0"
name: mcp_load
steps:
  - id: grind
    component: {family}.extractor
    mode: read
    config:
      connection: "@{family}.bench"
      query: {GRIND[family]}
  - id: keep
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${{grind.df}}"
    config:
      path: output/never.csv
"""


def queries_of(family: str, run_id: str) -> int:
    """How many statements of this run the database server is executing."""
    tag = f"%osiris-run-{run_id}%"
    if family == "mysql":
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM information_schema.PROCESSLIST "
                    "WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                    (tag,),
                )
                return int(cursor.fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE %s AND pid <> pg_backend_pid()",
            (tag,),
        ).fetchone()
        return int(row[0]) if row else 0


async def measure(family: str, seconds: float) -> dict[str, Any]:
    project = Path(tempfile.mkdtemp(prefix="osiris-bench-load-"))
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    params = StdioServerParameters(
        command=OSIRIS_MCP, args=["--project", str(project)], env=dict(os.environ)
    )
    latencies: dict[str, list[float]] = {
        "connections_list": [],
        "oml_validate": [],
        "run_status": [],
    }
    progress: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    try:
        with open(os.devnull, "w") as quiet:
            async with Client(stdio_client(params, errlog=quiet)) as client:
                compiled = await client.call_tool("oml_compile", {"oml": plan(family)})
                manifest_hash = compiled.structured_content["manifest_hash"]  # type: ignore[index]
                run = await client.call_tool(
                    "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 0}
                )
                run_id = run.structured_content["run_id"]  # type: ignore[index]
                while not await anyio.to_thread.run_sync(queries_of, family, run_id):
                    await anyio.sleep(0.05)
                calls: list[tuple[str, dict[str, Any]]] = [
                    ("connections_list", {}),
                    ("oml_validate", {"oml": VALIDATE}),
                    ("run_status", {"run_id": run_id}),
                ]
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    for tool, arguments in calls:
                        t0 = time.perf_counter()
                        result = await client.call_tool(
                            tool, arguments, progress_callback=on_progress
                        )
                        latencies[tool].append((time.perf_counter() - t0) * 1000)
                        assert not result.is_error, result.content
                    await client.call_tool(
                        "run_status",
                        {"run_id": run_id, "wait_s": 0.2},
                        progress_callback=on_progress,
                    )
                still_running = await anyio.to_thread.run_sync(queries_of, family, run_id)
                t0 = time.perf_counter()
                cancelled = await client.call_tool("run_cancel", {"run_id": run_id, "wait_s": 60})
                while await anyio.to_thread.run_sync(queries_of, family, run_id):
                    await anyio.sleep(0.01)
                cancel_ms = (time.perf_counter() - t0) * 1000
                status = cancelled.structured_content["status"]  # type: ignore[index]
    finally:
        shutil.rmtree(project, ignore_errors=True)
    return {
        "latencies": latencies,
        "progress": len(progress),
        "still_running": bool(still_running),
        "cancel_ms": cancel_ms,
        "status": status,
    }


def report(family: str, figures: dict[str, Any], seconds: float) -> None:
    print(f"\n{family}: {seconds:.0f} s of calls while the server ran the read")
    every: list[float] = []
    for tool, values in figures["latencies"].items():
        every += values
        print(
            f"  {tool:<17} n={len(values):<5} p50 {percentile(values, 50):7.1f} ms   "
            f"p99 {percentile(values, 99):7.1f} ms   max {max(values):7.1f} ms"
        )
    print(
        f"  {'all calls':<17} n={len(every):<5} p50 {percentile(every, 50):7.1f} ms   "
        f"p99 {percentile(every, 99):7.1f} ms   max {max(every):7.1f} ms"
    )
    print(f"  progress notifications received: {figures['progress']}")
    print(f"  read still running on the server after the calls: {figures['still_running']}")
    print(
        f"  run_cancel → query gone from the server: {figures['cancel_ms']:.0f} ms "
        f"(run status: {figures['status']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--family", choices=sorted(GRIND), action="append")
    args = parser.parse_args()
    for family in args.family or sorted(GRIND):
        report(family, anyio.run(measure, family, args.seconds), args.seconds)


if __name__ == "__main__":
    main()
