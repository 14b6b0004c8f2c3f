"""Secret canaries through the MCP server, as an LLM client drives it.

The canary project's every kind of secret is used for real over MCP — the doctor,
discovery of each connection (samples included), runs that fail in their drivers and the
run that succeeds — and then read back every way a client can: tool results, run logs
(events, metrics, bundle), resources (runs, compiled plans, discovery artifacts), the
debug prompt. A client that echoes a secret back (as a run id, a connection, free text,
inline OML) gets it masked too. No canary may be in any of those, in the audit log, the
server log (DEBUG), or any file of the project. tests/mcp/test_security.py holds the
narrower first version of this test (one plain MySQL password).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from mcp import Client

from osiris_mcp.audit import configure_logging
from tests.mcp.conftest import connect, make_server
from tests.security.conftest import (
    CANARIES,
    FAILURES,
    MYSQL_PASSWORD,
    CanaryProject,
    assert_no_leak,
    leaking_files,
    pg_url,
)

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class Recorder:
    """Calls tools and reads resources, keeping every answer's full JSON."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: list[tuple[str, str]] = []

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        self.seen.append((f"{tool} {sorted(arguments)}", result.model_dump_json()))
        return result.structured_content or {}

    async def read(self, uri: str) -> str:
        try:
            found = await self.client.read_resource(uri)
        except Exception as err:  # a refusal is an answer too: it must not leak either
            self.seen.append((uri, str(err)))
            return ""
        text = found.model_dump_json()
        self.seen.append((uri, text))
        return text

    async def run(self, pipeline: str, **arguments: Any) -> dict[str, Any]:
        plan = await self.call("oml_compile", {"pipeline": pipeline})
        assert plan.get("ok"), plan
        run = await self.call(
            "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 120, **arguments}
        )
        run_id = run["run_id"]
        await self.call("run_status", {"run_id": run_id, "wait_s": 60})
        for kind in ("events", "metrics", "bundle"):
            await self.call("run_logs", {"run_id": run_id, "kind": kind})
        found = await self.client.read_resource(f"osiris://runs/{run_id}/status.json")
        status: dict[str, Any] = json.loads(found.contents[0].text)  # type: ignore[union-attr]
        for name in ("status.json", "events.jsonl", "metrics.jsonl", "manifest.yaml"):
            await self.read(f"osiris://runs/{run_id}/{name}")
        for step in status["steps"]:
            await self.read(f"osiris://runs/{run_id}/cfg/{step['id']}.json")
        for name in ("manifest.yaml", "meta.json", "lineage.json"):
            await self.read(f"osiris://manifests/{plan['manifest_hash']}/{name}")
        prompt = await self.client.get_prompt("debug_run", {"run_id": run_id})
        self.seen.append(("debug_run", prompt.model_dump_json()))
        return status


async def test_no_canary_leaves_through_the_mcp_server(
    canary_project: CanaryProject,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = canary_project
    for name, value in project.env.items():
        if name.startswith("CANARY_"):
            monkeypatch.setenv(name, value)
    server = make_server(project.root, writes="confirm")  # confirm_writes counts
    configure_logging(project.root / ".osiris" / "mcp", server.state.secrets, logging.DEBUG)
    try:
        async with connect(server) as client:
            tools = Recorder(client)
            await tools.call("connections_list", {})
            doctor = await tools.call("connections_doctor", {})
            assert not doctor["ok"]  # the failing aliases fail, and say so without secrets

            failed = {}
            for name in FAILURES:
                status = await tools.run(name)
                failed[name] = (status["status"], status["steps"][0].get("category"))
            assert failed == {name: ("failed", c) for name, (_, c) in FAILURES.items()}

            await tools.call("oml_validate", {"pipeline": "transfer"})
            status = await tools.run("transfer", confirm_writes=True)
            assert status["status"] == "success", status

            for ref in ("@mysql.canary", "@supabase.canary", "@supabase.pw", "@postgres.canary"):
                found = await tools.call("discovery_request", {"connection": ref, "samples": 5})
                await tools.read(found["summary_uri"])
                await tools.read(found["catalog_uri"])
                for table in found["tables"]:
                    await tools.read(table["artifact_uri"])
            for ref in ("@mysql.wrong", "@mysql.down", "@supabase.down", "@postgres.ghost"):
                await tools.call("discovery_request", {"connection": ref})
            await tools.call("runs_list", {})

            # a client that sends a secret back gets it masked
            for canary in CANARIES:
                await tools.call("run_status", {"run_id": canary.value})
                await tools.call("discovery_request", {"connection": canary.value})
                await tools.call("guide_start", {"intent": f"connect with {canary.value}"})
            await tools.call(
                "memory_capture",
                {"consent": True, "text": f"the DSN is {pg_url(MYSQL_PASSWORD.value)}"},
            )
            inline = (
                'oml_version: "0.1.0"\nname: inline\nsteps:\n  - id: a\n'
                "    component: mysql.extractor\n    mode: read\n    config:\n"
                '      query: "SELECT 1 AS one"\n'
                f"      password: {json.dumps(MYSQL_PASSWORD.value)}\n"
            )
            await tools.call("oml_validate", {"oml": inline})
            await tools.call("oml_save", {"name": "inline", "oml": inline})
            await tools.call("oml_compile", {"oml": inline})
    finally:
        for handler in list(logging.getLogger().handlers):
            handler.close()
            logging.getLogger().removeHandler(handler)

    assert len(tools.seen) > 100
    for where, text in tools.seen:
        assert_no_leak(text, where)
    state = project.root / ".osiris" / "mcp"
    assert (state / "audit.jsonl").stat().st_size > 0 and (state / "server.log").stat().st_size > 0
    assert leaking_files(project.root) == {}  # audit, server log, caches, runs, memory, builds
    assert_no_leak(caplog.text, "the log records")
