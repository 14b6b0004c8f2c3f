"""Raw JSON-RPC over stdio, in every protocol version the server accepts.

No SDK on the client side: the bytes a client of that era would send, and what comes back.
Content blocks follow the negotiated version (`resource_link` exists from 2025-06-18 on);
malformed lines, incomplete prompts and unknown step ids get proper errors, never a
traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.conftest import CANARY, QUICKSTART
from tests.mcp.test_stdio import OSIRIS_MCP

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSION = "2026-07-28"


class RawSession:
    """One `osiris-mcp` process spoken to line by line."""

    def __init__(self, project: Path) -> None:
        self.process = subprocess.Popen(
            [OSIRIS_MCP, "--project", str(project)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        self.envelope: dict[str, Any] | None = None
        self._next_id = 100

    def send(self, message: dict[str, Any] | str) -> None:
        assert self.process.stdin is not None
        line = message if isinstance(message, str) else json.dumps(message)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        reply: dict[str, Any] = json.loads(self.process.stdout.readline())
        return reply

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        params = dict(params or {})
        if self.envelope is not None:  # the modern era: every request carries its envelope
            params["_meta"] = self.envelope
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        while True:
            reply = self.receive()
            if reply.get("id") == self._next_id:
                return reply

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        reply = self.request("tools/call", {"name": tool, "arguments": arguments})
        result: dict[str, Any] = reply["result"]
        return result

    def close(self) -> str:
        try:
            _, stderr = self.process.communicate(timeout=60)
        finally:
            self.process.kill()
        return stderr


def open_session(project: Path, version: str) -> RawSession:
    session = RawSession(project)
    if version == MODERN_VERSION:
        session.envelope = {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        }
        return session
    reply = session.request(
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    )
    assert reply["result"]["protocolVersion"] == version
    session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


@pytest.mark.parametrize("version", [*HANDSHAKE_VERSIONS, MODERN_VERSION])
def test_every_protocol_version(project: Path, version: str) -> None:
    session = open_session(project, version)
    try:
        tools = session.request("tools/list")["result"]["tools"]
        assert "oml_compile" in {t["name"] for t in tools}

        compiled = session.call("oml_compile", {"oml": QUICKSTART})
        assert not compiled.get("isError"), compiled
        types = [block["type"] for block in compiled["content"]]
        manifest_uri = compiled["structuredContent"]["manifest_uri"]
        if version >= "2025-06-18":
            assert types == ["text", "resource_link"]
            assert compiled["content"][1]["uri"] == manifest_uri
        else:  # the same pointer, as text the client's era knows
            assert types == ["text", "text"]
            assert manifest_uri in compiled["content"][1]["text"]

        # malformed JSON: a JSON-RPC parse error, and the session goes on
        session.send('{"jsonrpc": "2.0", "id": 7, "method": ')
        assert session.receive() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "Parse error: the line is not valid JSON"},
        }
        # a prompt without its argument: invalid params
        prompt = session.request("prompts/get", {"name": "debug_run", "arguments": {}})
        assert prompt["error"]["code"] == -32602 and "run_id" in prompt["error"]["message"]

        run = session.call(
            "run_pipeline", {"manifest_hash": compiled["structuredContent"]["manifest_hash"]}
        )
        assert not run.get("isError"), run
        run_id = run["structuredContent"]["run_id"]
        status = session.call("run_status", {"run_id": run_id, "wait_s": 60})
        assert status["structuredContent"]["status"] == "success"
        unknown = session.call("run_logs", {"run_id": run_id, "step_id": "revenu"})
        assert unknown["isError"] is True
        text = unknown["content"][0]["text"]
        assert "[unknown_step]" in text and "'revenue'" in text  # did you mean
    finally:
        stderr = session.close()
    assert "Traceback" not in stderr and CANARY not in stderr


def test_a_line_that_is_json_but_not_json_rpc(project: Path) -> None:
    session = open_session(project, "2025-11-25")
    try:
        session.send({"id": 9, "hello": "world"})
        reply = session.receive()
        assert reply["id"] == 9 and reply["error"]["code"] == -32600
        assert session.request("tools/list")["result"]["tools"]  # still serving
    finally:
        stderr = session.close()
    assert "Traceback" not in stderr


def test_the_result_cap_applies_to_every_result(project: Path) -> None:
    """A result that is not a listing (here the OML schema) is refused whole over the cap."""
    import anyio

    from tests.mcp.conftest import connect, error_text, make_server

    async def check() -> None:
        async with connect(make_server(project, max_result_bytes=2048)) as client:
            result = await client.call_tool("oml_schema_get", {})
            assert result.is_error and "[too_large]" in error_text(result)
            assert "--max-result-bytes" in error_text(result)

    anyio.run(check)
