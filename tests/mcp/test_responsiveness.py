"""A long real database read under a real client over stdio: the server keeps answering,
progress keeps flowing, and a cancel (or the client leaving) stops the query on the server.

The read is a join that makes the server count 10^10 rows: it would run for hours, so
every assertion is about the order of events — a call is answered while the server
still runs the query; after the cancel the query is gone — never about seconds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from tests.mcp.conftest import CANARY, CANARY_VARIABLE, run_mysql
from tests.mcp.test_stdio import server_parameters, structured

pytestmark = [pytest.mark.anyio, pytest.mark.db]

GRIND = {
    "mysql": "SELECT count(*) AS n FROM seq_1_to_100000 AS a, seq_1_to_100000 AS b",
    "postgres": "SELECT count(*) AS n FROM generate_series(1, 100000) AS a, "
    "generate_series(1, 100000) AS b",
}


def long_read(family: str) -> str:
    """Reads for hours, then replaces the table `kept` (which must stay as it is)."""
    return f"""\
oml_version: "0.1.0"
name: long_read
steps:
  - id: grind
    component: {family}.extractor
    mode: read
    config:
      connection: "@{family}.slow"
      query: {GRIND[family]}
  - id: keep
    component: {family}.writer
    mode: write
    inputs:
      df: "${{grind.df}}"
    config:
      connection: "@{family}.slow"
      table: kept
      write_mode: replace
"""


class Server:
    """One family's database: its connection block, and how to look at it from outside."""

    def __init__(self, family: str, fields: dict[str, Any]) -> None:
        self.family = family
        self.fields = fields

    def connection_block(self) -> str:
        f = self.fields
        lines = [
            f"  {self.family}:",
            "    slow:",
            f"      host: {f['host']}",
            f"      port: {f['port']}",
            f"      user: {f['user']}",
            f"      password: ${{{CANARY_VARIABLE}}}",
            f"      database: {f['database']}",
        ]
        if self.family == "postgres":
            lines.append(f"      schema: {f['schema']}")
        return "connections:\n" + "\n".join(lines) + "\n"

    def run(self, *statements: str) -> list[Any]:
        if self.family == "mysql":
            return run_mysql(self.fields, *statements)
        import psycopg

        f = self.fields
        with psycopg.connect(
            host=f["host"], port=f["port"], user=f["user"], dbname=f["database"], autocommit=True
        ) as conn:
            conn.execute(f'SET search_path = "{f["schema"]}"')
            rows: list[Any] = []
            for statement in statements:
                cursor = conn.execute(statement)
                rows = list(cursor.fetchall()) if cursor.description else []
            return rows

    def queries_of(self, run_id: str) -> list[str]:
        """The statements of this run the server is executing now (found by the run's tag)."""
        tag = f"%osiris-run-{run_id}%"
        if self.family == "mysql":
            rows = self.run(
                "SELECT INFO FROM information_schema.PROCESSLIST "
                f"WHERE INFO LIKE '{tag}' AND ID <> CONNECTION_ID()"
            )
        else:
            rows = self.run(
                "SELECT query FROM pg_stat_activity WHERE state = 'active' "
                f"AND query LIKE '{tag}' AND pid <> pg_backend_pid()"
            )
        return [str(row[0]) for row in rows]


@pytest.fixture(params=["mysql", "postgres"])
def server(request: pytest.FixtureRequest, project: Path) -> Server:
    if request.param == "mysql":
        fields = request.getfixturevalue("canary_user")
    else:
        fields = request.getfixturevalue("pg_db")  # trust auth: the canary is accepted
    database = Server(request.param, fields)
    (project / "osiris_connections.yaml").write_text(database.connection_block())
    if request.param == "mysql":
        database.run("CREATE TABLE kept (n BIGINT)", "INSERT INTO kept VALUES (42)")
    else:
        database.run("CREATE TABLE kept (n bigint)", "INSERT INTO kept VALUES (42)")
    return database


async def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 120) -> None:
    """Wait until `check()` holds (polled off the event loop); the bound only stops a
    broken test from hanging — it is not what the test measures."""
    deadline = time.monotonic() + timeout_s
    while not await anyio.to_thread.run_sync(check):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        await anyio.sleep(0.1)


async def start_long_read(client: Client, server: Server, **arguments: Any) -> str:
    plan = structured(await client.call_tool("oml_compile", {"oml": long_read(server.family)}))
    assert plan["ok"], plan["diagnostics"]
    run = structured(
        await client.call_tool(
            "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 0, **arguments}
        )
    )
    run_id = str(run["run_id"])
    await wait_for("the read to run on the server", lambda: bool(server.queries_of(run_id)))
    return run_id


async def test_calls_are_answered_during_a_long_read_and_cancel_stops_it(
    project: Path, server: Server, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        transport = stdio_client(server_parameters(project, "--writes", "allow"), errlog=stderr)
        async with Client(transport) as client:
            run_id = await start_long_read(client, server)

            # Every other call is answered while the server is still running the read.
            for _ in range(5):
                structured(await client.call_tool("connections_list", {}))
                structured(await client.call_tool("oml_schema_get", {}))
            progress: list[str | None] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(message)

            # PostgreSQL's writer takes streamed rows (runtime/streams.py): it runs beside
            # the read, waiting for its first rows; MySQL's waits for the read to end
            writer = ["step keep: running"] if server.family == "postgres" else []
            expected = ["step grind: running", *writer]
            for _ in range(20):  # on a loaded machine the writer may start a moment later
                status = structured(
                    await client.call_tool(
                        "run_status",
                        {"run_id": run_id, "wait_s": 0.5},
                        progress_callback=on_progress,
                    )
                )
                assert status["status"] == "running" and not status["finished"]
                if expected[-1] in progress:
                    break
            # a notification carries the run's latest message: when the writer started
            # before the first call, the read's own "running" was never the latest
            assert expected[-1] in progress and set(progress) <= set(expected), progress
            assert server.queries_of(run_id), "the read ended before the calls were answered"

            cancelled = structured(
                await client.call_tool("run_cancel", {"run_id": run_id, "wait_s": 60})
            )
            assert cancelled["cancel_requested"] is True
            assert cancelled["status"] == "cancelled", cancelled
            grind = next(s for s in cancelled["steps"] if s["id"] == "grind")
            assert grind["status"] == "cancelled"
            await wait_for("the query to leave the server", lambda: not server.queries_of(run_id))
            events = structured(await client.call_tool("run_logs", {"run_id": run_id}))
            kinds = [e["event_type"] for e in events["items"]]
            assert "execution.cancelled" in kinds and "execution.step.complete" not in kinds

    assert [tuple(row) for row in server.run("SELECT n FROM kept")] == [(42,)]  # untouched
    audit = [json.loads(line) for line in (project / ".osiris/mcp/audit.jsonl").open()]
    calls = [a for a in audit if a["name"] == "connections_list"]
    assert len(calls) == 5 and all(isinstance(a["queue_ms"], float) for a in calls)
    assert CANARY not in stderr_path.read_text()


async def test_a_client_that_leaves_cancels_its_runs(project: Path, server: Server) -> None:
    async with Client(stdio_client(server_parameters(project, "--writes", "allow"))) as client:
        run_id = await start_long_read(client, server)
    # the server ended with its client; on its way out it stopped the run and its query
    await wait_for("the query to leave the server", lambda: not server.queries_of(run_id))
    (status_file,) = project.glob(f"run_logs/long_read/{run_id}/status.json")
    await wait_for(
        "the run to end cancelled",
        lambda: json.loads(status_file.read_text())["status"] == "cancelled",
    )
    assert [tuple(row) for row in server.run("SELECT n FROM kept")] == [(42,)]


async def test_a_detached_run_outlives_its_client_and_is_cancelled_later(
    project: Path, server: Server
) -> None:
    async with Client(stdio_client(server_parameters(project, "--writes", "allow"))) as client:
        run_id = await start_long_read(client, server, detach=True)
    assert server.queries_of(run_id)  # the server is gone, the run goes on
    async with Client(stdio_client(server_parameters(project))) as client:
        status = structured(await client.call_tool("run_status", {"run_id": run_id}))
        assert status["status"] == "running"
        cancelled = structured(
            await client.call_tool("run_cancel", {"run_id": run_id, "wait_s": 60})
        )
        assert cancelled["cancel_requested"] is True and cancelled["status"] == "cancelled"
    await wait_for("the query to leave the server", lambda: not server.queries_of(run_id))
    assert [tuple(row) for row in server.run("SELECT n FROM kept")] == [(42,)]
    assert os.environ.get(CANARY_VARIABLE) == CANARY


async def test_ctrl_c_on_the_command_line_stops_the_query_on_the_server(
    project: Path, server: Server
) -> None:
    """`osiris run` in a terminal, Ctrl-C while the server runs the read: the terminal sends
    SIGINT to the whole foreground group (the CLI and its worker process) — so does this."""
    import signal
    import subprocess
    import sys

    (project / "long_read.yaml").write_text(long_read(server.family))
    osiris = str(Path(sys.executable).with_name("osiris"))
    process = subprocess.Popen(
        [osiris, "run", "long_read.yaml"],
        cwd=project,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_for("the run to start", lambda: bool(list(project.glob("run_logs/*/*/"))))
        (session,) = project.glob("run_logs/long_read/*/")
        run_id = session.name
        await wait_for("the read to run on the server", lambda: bool(server.queries_of(run_id)))
        os.killpg(process.pid, signal.SIGINT)
        out, err = await anyio.to_thread.run_sync(lambda: process.communicate(timeout=120))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    assert "Traceback" not in out + err and CANARY not in out + err
    assert "cancelled" in out + err
    await wait_for("the query to leave the server", lambda: not server.queries_of(run_id))
    status = json.loads((session / "status.json").read_text())
    assert status["status"] == "cancelled" and status["finished_at"]
    assert [tuple(row) for row in server.run("SELECT n FROM kept")] == [(42,)]  # untouched
