"""Streamable HTTP for teams: `osiris-mcp --http 127.0.0.1:PORT` behind a bearer token,
driven by the SDK's own HTTP client."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.mcp.conftest import QUICKSTART
from tests.mcp.test_stdio import OSIRIS_MCP, structured

pytestmark = pytest.mark.anyio
TOKEN = "test-token-4f1c9a2be7d3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def http_server(project: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    stderr = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(
        [OSIRIS_MCP, "--project", str(project), "--http", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, "OSIRIS_MCP_TOKEN": TOKEN},
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the port to answer: an event, not a guess of seconds
            try:
                httpx2.get(url, timeout=1)
                break
            except httpx2.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "stderr.txt").read_text())
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        stderr.close()
    log = (tmp_path / "stderr.txt").read_text()
    assert TOKEN not in log  # from the environment: never printed, never logged


async def test_a_client_over_http_validates_compiles_and_runs(http_server: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(http_server, http_client=http)) as client,
    ):
        assert len((await client.list_tools()).tools) == 19
        assert structured(await client.call_tool("oml_validate", {"oml": QUICKSTART}))["valid"]
        plan = structured(await client.call_tool("oml_compile", {"oml": QUICKSTART}))
        run = structured(
            await client.call_tool(
                "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 60}
            )
        )
        assert run["status"] == "success"


async def test_http_without_the_token_is_refused(http_server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = httpx2.post(
            http_server,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={**headers, "Accept": "application/json, text/event-stream"},
            timeout=10,
        )
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_generated_token_is_printed_once(project: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OSIRIS_MCP_TOKEN"}
    process = subprocess.Popen(
        [OSIRIS_MCP, "--project", str(project), "--http", f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    try:
        first = process.stderr.readline()
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=30)
    assert "bearer token" in first
    token = first.rsplit(" ", 1)[-1].strip()
    assert len(token) >= 32
    assert token not in rest  # printed once, never logged
    assert token not in (project / ".osiris" / "mcp" / "server.log").read_text()
