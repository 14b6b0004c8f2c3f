"""`osiris mcp run` — what 0.5.7 users' client configs start — is `osiris-mcp`, over stdio.

Driven by the SDK's real client through the installed `osiris` command, in both protocol
eras, with `--project` and with 0.5.7's `--base-path`; and a raw session shows that
nothing but protocol reaches stdout.
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

from tests.mcp.conftest import CANARY, QUICKSTART

pytestmark = pytest.mark.anyio

OSIRIS = str(Path(sys.executable).with_name("osiris"))
PROTOCOLS = {"auto": "2026-07-28", "legacy": "2025-11-25"}


@pytest.mark.parametrize(("mode", "flag"), [("auto", "--project"), ("legacy", "--base-path")])
async def test_osiris_mcp_run_serves_like_osiris_mcp(
    project: Path, mode: str, flag: str, tmp_path: Path
) -> None:
    parameters = StdioServerParameters(
        command=OSIRIS, args=["mcp", "run", flag, str(project)], env=dict(os.environ)
    )
    with (tmp_path / "stderr.txt").open("w") as stderr:
        async with Client(stdio_client(parameters, errlog=stderr), mode=mode) as client:
            assert client.protocol_version == PROTOCOLS[mode]
            assert len((await client.list_tools()).tools) == 17
            checked = await client.call_tool("oml_validate", {"oml": QUICKSTART})
            assert not checked.is_error
            assert checked.structured_content["valid"] is True  # type: ignore[index]
            listed = await client.call_tool("connections_list", {})
            refs = [c["ref"] for c in listed.structured_content["connections"]]  # type: ignore[index]
            assert "@mysql.shop" in refs  # the connections file of the project served
    log = (project / ".osiris" / "mcp" / "server.log").read_text("utf-8")
    assert f"serving {project}" in log  # the project named by the flag, not the cwd
    assert CANARY not in (tmp_path / "stderr.txt").read_text() + log


async def test_a_0_5_7_claude_desktop_config_still_starts_the_server(
    project: Path, tmp_path: Path
) -> None:
    """0.5.7's `osiris mcp clients` wrote `{"command": "<venv>/bin/python3", "args": ["-m",
    "osiris.cli.mcp_entrypoint", "--base-path", "<project>"]}` (measured by running it)."""
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "osiris.cli.mcp_entrypoint", "--base-path", str(project)],
        env=dict(os.environ),
        cwd=tmp_path,  # not the project, nor this repository: the package must be installed
    )
    with (tmp_path / "stderr.txt").open("w") as stderr:
        async with Client(stdio_client(parameters, errlog=stderr), mode="legacy") as client:
            assert len((await client.list_tools()).tools) == 17
            checked = await client.call_tool("oml_validate", {"oml": QUICKSTART})
            assert checked.structured_content["valid"] is True  # type: ignore[index]
    assert f"serving {project}" in (project / ".osiris" / "mcp" / "server.log").read_text()


def test_osiris_mcp_run_writes_nothing_but_protocol(project: Path) -> None:
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
    ]
    process = subprocess.Popen(
        [OSIRIS, "mcp", "run"],
        cwd=project,  # 0.5.7's configs start it without a flag, from the project's folder
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OSIRIS_HOME"},
    )
    assert process.stdin is not None and process.stdout is not None
    replies: list[dict[str, Any]] = []
    try:
        for message in messages:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            if "id" in message:
                replies.append(json.loads(process.stdout.readline()))
        rest, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert rest == ""
    assert process.returncode == 0
    assert replies[0]["result"]["serverInfo"]["name"] == "osiris"
    assert len(replies[1]["result"]["tools"]) == 17
    assert f"serving {project}" in stderr


def test_osiris_mcp_run_refuses_a_missing_project(tmp_path: Path) -> None:
    result = subprocess.run(
        [OSIRIS, "mcp", "run", "--base-path", str(tmp_path / "nowhere")],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert f"--project {tmp_path / 'nowhere'}: no such folder" in result.stderr


def test_osiris_mcp_run_selftest(tmp_path: Path) -> None:
    result = subprocess.run(
        [OSIRIS, "mcp", "run", "--selftest"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "ok"
