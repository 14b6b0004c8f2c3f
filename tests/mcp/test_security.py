"""Security: paths stay inside the project, secrets never leave, the audit keeps no raw input."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from osiris_mcp.audit import configure_logging
from osiris_mcp.project import Project, UnsafePath, file_inside, pipeline_file
from tests.mcp.conftest import (
    CANARY,
    QUICKSTART,
    REVENUE,
    connect,
    everything_in,
    fails,
    make_server,
    ok,
)

pytestmark = pytest.mark.anyio

ESCAPING_NAMES = [
    "../escape",
    "../../etc/passwd",
    "/etc/passwd",
    "sub/dir",
    "..",
    ".hidden",
    "back\\slash",
    "nul\x00byte",
    "",
    "x" * 300,
    "pipelines/../../escape",
]


# -- the checks themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_pipeline_file_rejects_names_that_escape(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        pipeline_file(Project(tmp_path), name)


def test_pipeline_file_rejects_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "evil.yaml").symlink_to(tmp_path / "outside.yaml")
    with pytest.raises(UnsafePath):
        pipeline_file(Project(tmp_path), "evil")


@pytest.mark.parametrize(
    "relative",
    ["../x", "a/../../x", "/etc/passwd", "a\\b", ".env", "a/.hidden", "", "a//b", "a/./b"],
)
def test_file_inside_rejects_paths_that_escape(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UnsafePath):
        file_inside(tmp_path, relative)


def test_file_inside_rejects_a_symlink_out(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    (tmp_path / "base" / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafePath):
        file_inside(tmp_path / "base", "link.txt")


# -- through the protocol ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ESCAPING_NAMES)
async def test_oml_save_refuses_names_that_escape(project: Path, name: str) -> None:
    async with connect(make_server(project)) as client:
        code = await fails(client, "oml_save", {"name": name, "oml": QUICKSTART})
    assert code == "invalid_name"
    assert not (project.parent / "escape.yaml").exists()
    assert not (project / "pipelines").exists() or not any((project / "pipelines").iterdir())


async def test_oml_save_does_not_follow_a_symlink(client: Client, project: Path) -> None:
    outside = project.parent / "outside.yaml"
    outside.write_text("untouched")
    (project / "pipelines").mkdir()
    (project / "pipelines" / "evil.yaml").symlink_to(outside)
    arguments = {"name": "evil", "oml": QUICKSTART, "overwrite": True}
    assert await fails(client, "oml_save", arguments) == "invalid_name"
    assert outside.read_text() == "untouched"


async def refused(client: Client, uri: str) -> str:
    with pytest.raises(MCPError) as caught:
        await client.read_resource(uri)
    return str(caught.value)


async def test_every_resource_template_refuses_traversal(client: Client, project: Path) -> None:
    (project / "secret.txt").write_text(CANARY)
    plan = await ok(client, "oml_compile", {"oml": QUICKSTART})
    run = await ok(client, "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 60})
    manifest, run_id = plan["manifest_hash"], run["run_id"]
    bad = [
        "osiris://components/..%2F..%2Fsecret.txt",
        "osiris://components/.env",
        "osiris://discovery/disc_0123456789abcdef/..%2F..%2F..%2Fsecret.txt",
        "osiris://discovery/..%2F..%2Fsecret.txt/summary.json",
        "osiris://discovery/disc_0123456789abcdef/%2Fetc%2Fpasswd",
        f"osiris://manifests/{manifest}/../../../../secret.txt",
        f"osiris://manifests/{manifest}/cfg/%2E%2E/%2E%2E/%2E%2E/%2E%2E/secret.txt",
        f"osiris://manifests/{manifest}/%2Fetc%2Fpasswd",
        "osiris://manifests/..%2F..%2Fsecret.txt/manifest.yaml",
        f"osiris://runs/{run_id}/../../../secret.txt",
        f"osiris://runs/{run_id}/artifacts/..%2F..%2F..%2F..%2Fsecret.txt",
        f"osiris://runs/{run_id}/..%5C..%5Csecret.txt",
        "osiris://runs/..%2F..%2F/status.json",
        "osiris://examples/..%2F..%2Fpyproject",
        "osiris://examples/%2Fetc%2Fpasswd",
    ]
    for uri in bad:
        message = await refused(client, uri)
        assert CANARY not in message, uri
    good = await client.read_resource(f"osiris://runs/{run_id}/status.json")
    assert good.contents


async def test_a_symlink_in_a_run_folder_is_not_followed(client: Client, project: Path) -> None:
    plan = await ok(client, "oml_compile", {"oml": QUICKSTART})
    run = await ok(client, "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 60})
    (project / "secret.txt").write_text(CANARY)
    session = next((project / "run_logs").glob(f"*/{run['run_id']}"))
    (session / "artifacts" / "peek.txt").symlink_to(project / "secret.txt")
    message = await refused(client, f"osiris://runs/{run['run_id']}/artifacts/peek.txt")
    assert "invalid_name" in message and CANARY not in message


async def test_resources_of_unknown_things_are_not_found(client: Client) -> None:
    for uri in (
        "osiris://components/no.such",
        "osiris://discovery/disc_0123456789abcdef/summary.json",
        "osiris://manifests/" + "ab" * 32 + "/manifest.yaml",
        "osiris://runs/run_none/status.json",
        "osiris://examples/none",
    ):
        assert "not_found" in await refused(client, uri), uri
    schema = await client.read_resource("osiris://schema/oml")
    assert json.loads(schema.contents[0].text)["title"] == "OML v0.1.0 pipeline"  # type: ignore[union-attr]
    spec = await client.read_resource("osiris://components/mysql.writer")
    assert json.loads(spec.contents[0].text)["name"] == "mysql.writer"  # type: ignore[union-attr]
    example = await client.read_resource("osiris://examples/quickstart")
    assert "name: quickstart" in example.contents[0].text  # type: ignore[union-attr]


async def test_big_resources_are_capped(project: Path, mode: str) -> None:
    async with connect(make_server(project, max_resource_bytes=2048), mode) as client:
        plan = await ok(client, "oml_compile", {"oml": QUICKSTART})
        arguments = {"manifest_hash": plan["manifest_hash"], "wait_s": 60}
        run = await ok(client, "run_pipeline", arguments)
        session = next((project / "run_logs").glob(f"*/{run['run_id']}"))
        (session / "artifacts" / "big.txt").write_text("".join(f"line {i}\n" for i in range(2000)))
        (session / "artifacts" / "big.bin").write_bytes(bytes(range(256)) * 64)
        text = await client.read_resource(f"osiris://runs/{run['run_id']}/artifacts/big.txt")
        body = text.contents[0].text  # type: ignore[union-attr]
        assert body.startswith("line 0\nline 1\n") and "… truncated: the first" in body
        head = body.split("\n… truncated")[0]
        assert len(head.encode()) <= 2048 and head.endswith("\n")  # cut at a line boundary
        assert all(line.startswith("line ") for line in head.splitlines())
        message = await refused(client, f"osiris://runs/{run['run_id']}/artifacts/big.bin")
        assert "too_large" in message


# -- secrets -----------------------------------------------------------------------------------


def inline_secret_oml() -> str:
    return QUICKSTART.replace(
        "      path: data/orders.csv", f"      path: data/orders.csv\n      password: {CANARY}", 1
    )


@pytest.mark.db
async def test_the_canary_appears_nowhere(
    project: Path, shop: dict[str, Any], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Use the secret for real (discovery, a run), echo it back, fail with it: it never shows."""
    server = make_server(project, writes="confirm")
    configure_logging(project / ".osiris" / "mcp", server.state.secrets, logging.DEBUG)
    seen: list[str] = []
    try:
        async with connect(server, mode) as client:

            async def call(tool: str, arguments: dict[str, Any]) -> None:
                result = await client.call_tool(tool, arguments)
                seen.append(result.model_dump_json())

            await call("connections_list", {})
            await call("connections_doctor", {})
            await call("discovery_request", {"connection": "@mysql.shop", "samples": 5})
            await call("discovery_request", {"connection": CANARY})
            await call("oml_validate", {"oml": inline_secret_oml()})
            await call("oml_save", {"name": "leak", "oml": inline_secret_oml()})
            plan = await client.call_tool("oml_compile", {"oml": REVENUE})
            manifest_hash = plan.structured_content["manifest_hash"]  # type: ignore[index]
            arguments = {"manifest_hash": manifest_hash, "confirm_writes": True, "wait_s": 60}
            run = await client.call_tool("run_pipeline", arguments)
            seen.append(run.model_dump_json())
            run_id = run.structured_content["run_id"]  # type: ignore[index]
            for kind in ("events", "metrics", "bundle"):
                await call("run_logs", {"run_id": run_id, "kind": kind})
            await call("run_status", {"run_id": CANARY})
            await call("run_status", {"run_id": run_id})
            await call("runs_list", {})
            await call("memory_capture", {"consent": True, "text": f"the password is {CANARY}"})
            await call("guide_start", {"intent": f"use password {CANARY} for mysql"})
            for uri in (
                f"osiris://runs/{run_id}/events.jsonl",
                f"osiris://runs/{run_id}/status.json",
                f"osiris://runs/{run_id}/cfg/orders.json",
                f"osiris://manifests/{manifest_hash}/manifest.yaml",
            ):
                seen.append((await client.read_resource(uri)).model_dump_json())
            prompt = await client.get_prompt("debug_run", {"run_id": run_id})
            seen.append(prompt.model_dump_json())
    finally:
        for handler in list(logging.getLogger().handlers):
            handler.close()
            logging.getLogger().removeHandler(handler)
    assert run.structured_content["status"] == "success"  # type: ignore[index]
    for text in seen:
        assert CANARY not in text
    assert (project / ".osiris" / "mcp" / "audit.jsonl").stat().st_size > 0
    assert (project / ".osiris" / "mcp" / "server.log").stat().st_size > 0
    assert CANARY not in everything_in(project)  # audit, server log, caches, runs, memory
    assert CANARY not in caplog.text


async def test_an_internal_error_is_coded_and_logged_without_secrets(
    project: Path, mode: str
) -> None:
    server = make_server(project)
    configure_logging(project / ".osiris" / "mcp", server.state.secrets)
    (project / "pipelines").write_text("a file where the folder should be")
    try:
        async with connect(server, mode) as client:
            code = await fails(client, "oml_save", {"name": "x", "oml": QUICKSTART})
    finally:
        for handler in list(logging.getLogger().handlers):
            handler.close()
            logging.getLogger().removeHandler(handler)
    assert code == "internal"
    log = (project / ".osiris" / "mcp" / "server.log").read_text()
    assert "tool oml_save failed unexpectedly" in log and CANARY not in log


# -- the audit log -----------------------------------------------------------------------------


async def test_the_audit_log_summarizes_and_never_stores_raw_input(
    client: Client, project: Path
) -> None:
    await ok(client, "oml_validate", {"oml": QUICKSTART})
    await fails(client, "run_status", {"run_id": "run_none"})
    await ok(client, "memory_capture", {"consent": True, "text": "Call Jane at +44 20 7946 0958"})
    await client.read_resource("osiris://examples/quickstart")
    lines = [
        json.loads(line)
        for line in (project / ".osiris" / "mcp" / "audit.jsonl").read_text().splitlines()
    ]
    by_name = {line["name"]: line for line in lines}
    validate = by_name["oml_validate"]
    assert validate["kind"] == "tool" and validate["outcome"] == "ok"
    assert validate["args"]["oml"]["bytes"] == len(QUICKSTART.encode())
    assert len(validate["args"]["oml"]["sha256"]) == 64
    assert validate["bytes_in"] > len(QUICKSTART) and validate["bytes_out"] > 0
    assert validate["duration_ms"] >= 0 and validate["error_code"] is None
    status = by_name["run_status"]
    assert status["outcome"] == "error" and status["error_code"] == "unknown_run"
    assert status["args"] == {"run_id": "run_none"}
    memory = by_name["memory_capture"]
    assert memory["args"]["text"] == {"bytes": len("Call Jane at +44 20 7946 0958")}
    resource = by_name["examples"]
    assert resource["kind"] == "resource" and resource["uri"] == "osiris://examples/quickstart"
    raw = (project / ".osiris" / "mcp" / "audit.jsonl").read_text()
    assert "revenue_by_customer" not in raw and "7946" not in raw and "Jane" not in raw
    assert oct(os.stat(project / ".osiris" / "mcp" / "audit.jsonl").st_mode & 0o777) == "0o600"
