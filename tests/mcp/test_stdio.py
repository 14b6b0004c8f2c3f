"""End to end over stdio with the installed `osiris-mcp`, as Claude Desktop would start it.

Both protocol eras: the current per-request protocol (`auto` negotiates 2026-07-28) and a
client that only speaks the 2025-11-25 initialize handshake (`legacy`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.mcp.conftest import BROKEN, CANARY, REVENUE, everything_in, run_mysql

pytestmark = pytest.mark.anyio

OSIRIS_MCP = str(Path(sys.executable).with_name("osiris-mcp"))
PROTOCOLS = {"auto": "2026-07-28", "legacy": "2025-11-25"}


def server_parameters(project: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=OSIRIS_MCP, args=["--project", str(project), *extra], env=dict(os.environ)
    )


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


@pytest.mark.db
@pytest.mark.parametrize("mode", list(PROTOCOLS))
async def test_from_schema_to_finished_run(
    project: Path, shop: dict[str, Any], mode: str, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        # a client that cannot ask the user, whose user chose `--writes confirm`
        transport = stdio_client(server_parameters(project, "--writes", "confirm"), errlog=stderr)
        async with Client(transport, mode=mode) as client:
            assert client.protocol_version == PROTOCOLS[mode]
            assert len((await client.list_tools()).tools) == 19

            # what tables do I have?
            found = structured(
                await client.call_tool("discovery_request", {"connection": "@mysql.shop"})
            )
            assert {t["name"] for t in found["tables"]} == {"customers", "orders"}

            # a broken draft: the error at its line and column
            broken = structured(await client.call_tool("oml_validate", {"oml": BROKEN}))
            (diagnostic,) = broken["diagnostics"]
            assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == (
                "OML203",
                12,
                13,
            )
            fixed = structured(await client.call_tool("oml_validate", {"oml": REVENUE}))
            assert fixed["valid"] is True

            # save, compile, and run with the user's consent
            structured(await client.call_tool("oml_save", {"name": "revenue", "oml": REVENUE}))
            plan = structured(await client.call_tool("oml_compile", {"pipeline": "revenue"}))
            assert plan["requires_confirmation"] is True
            refused = await client.call_tool(
                "run_pipeline", {"manifest_hash": plan["manifest_hash"]}
            )
            assert refused.is_error and "[confirmation_required]" in refused.content[0].text  # type: ignore[union-attr]

            progress: list[float] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(done)

            arguments = {
                "manifest_hash": plan["manifest_hash"],
                "confirm_writes": True,
                "wait_s": 0,
            }
            run = structured(await client.call_tool("run_pipeline", arguments))
            status = run
            while not status["finished"]:
                status = structured(
                    await client.call_tool(
                        "run_status",
                        {"run_id": run["run_id"], "wait_s": 30},
                        progress_callback=on_progress,
                    )
                )
            assert status["status"] == "success", status
            assert progress or run["finished"]

            events = structured(await client.call_tool("run_logs", {"run_id": run["run_id"]}))
            assert events["items"][-1]["event_type"] == "execution.complete"
            resource = await client.read_resource(f"osiris://runs/{run['run_id']}/status.json")
            assert json.loads(resource.contents[0].text)["status"] == "success"  # type: ignore[union-attr]
            manifest = await client.read_resource(plan["manifest_uri"])
            assert "name: revenue" in manifest.contents[0].text  # type: ignore[union-attr]

    rows = run_mysql(shop, "SELECT customer_id, revenue FROM revenue_by_customer ORDER BY 1")
    assert [(r[0], str(r[1])) for r in rows] == [(1, "30.50"), (3, "99.99")]
    log = (project / ".osiris" / "mcp" / "server.log").read_text()
    assert "serving" in log
    audit = (project / ".osiris" / "mcp" / "audit.jsonl").read_text().splitlines()
    assert {json.loads(line)["name"] for line in audit} >= {"discovery_request", "run_pipeline"}
    assert CANARY not in stderr_path.read_text() and CANARY not in everything_in(project)


def test_nothing_but_protocol_on_stdout(project: Path) -> None:
    """A raw 2025-11-25 session: every line the server writes to stdout is JSON-RPC."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "oml_validate", "arguments": {"oml": BROKEN}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "run_status", "arguments": {"run_id": "nope"}},
        },
    ]
    process = subprocess.Popen(
        [OSIRIS_MCP, "--project", str(project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stdin is not None and process.stdout is not None
    replies: list[dict[str, Any]] = []
    try:
        for message in messages:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            if "id" in message:  # one answer per request, in order
                line = process.stdout.readline()
                replies.append(json.loads(line))  # every stdout line is JSON
        rest, stderr = process.communicate(timeout=60)  # closes stdin: the client is gone
    finally:
        process.kill()
    assert rest == ""  # nothing after the last answer either
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    by_id = {reply.get("id"): reply for reply in replies}
    assert by_id[1]["result"]["protocolVersion"] == "2025-11-25"
    assert by_id[1]["result"]["serverInfo"]["name"] == "osiris"
    assert len(by_id[2]["result"]["tools"]) == 19
    assert by_id[3]["result"]["structuredContent"]["valid"] is False
    assert by_id[4]["result"]["isError"] is True
    assert "serving" in stderr  # the log goes to stderr
    assert CANARY not in json.dumps(replies) + stderr


def test_the_project_comes_from_the_flag_then_osiris_home(tmp_path: Path) -> None:
    missing = subprocess.run(
        [OSIRIS_MCP, "--project", str(tmp_path / "nowhere")],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert missing.stdout == ""
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [OSIRIS_MCP],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OSIRIS_HOME": str(home)},
        cwd=tmp_path,
    )
    assert done.returncode == 0 and done.stdout == ""
    assert str(home) in done.stderr and (home / ".osiris" / "mcp" / "server.log").is_file()
