"""`osiris mcp clients` and `osiris mcp selftest`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from osiris_mcp.cli import main

OSIRIS = str(Path(sys.executable).with_name("osiris"))
OSIRIS_MCP = str(Path(sys.executable).with_name("osiris-mcp"))


def test_clients_prints_every_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mcp", "clients", "--project", str(tmp_path), "--json"]) == 0
    configs = json.loads(capsys.readouterr().out)
    assert set(configs) == {"claude-desktop", "claude-code", "cursor", "vscode", "http"}
    desktop = configs["claude-desktop"]["config"]["mcpServers"]["osiris"]
    assert desktop == {"command": OSIRIS_MCP, "args": ["--project", str(tmp_path)]}
    assert Path(desktop["command"]).is_absolute()
    assert configs["claude-desktop"]["where"].endswith("claude_desktop_config.json")
    assert configs["claude-code"]["command"] == (
        f"claude mcp add osiris -- {OSIRIS_MCP} --project {tmp_path}"
    )
    assert configs["cursor"]["config"] == {"mcpServers": {"osiris": desktop}}
    assert configs["vscode"]["config"] == {"servers": {"osiris": {"type": "stdio", **desktop}}}
    assert configs["vscode"]["where"] == str(tmp_path / ".vscode" / "mcp.json")
    shared = configs["claude-code"]
    assert shared["project_command"] == (
        f"claude mcp add --scope project osiris -- {OSIRIS_MCP} --project {tmp_path}"
    )
    assert shared["project_file"] == str(tmp_path / ".mcp.json")
    assert shared["project_config"] == {"mcpServers": {"osiris": {"type": "stdio", **desktop}}}
    http = configs["http"]
    assert http["server_command"] == f"{OSIRIS_MCP} --project {tmp_path} --http 127.0.0.1:8765"
    remote = http["config"]["mcpServers"]["osiris"]
    assert remote["type"] == "http" and remote["url"] == "http://127.0.0.1:8765/mcp"
    assert remote["headers"] == {"Authorization": "Bearer ${OSIRIS_MCP_TOKEN}"}
    assert "--transport http" in http["command"]


def test_clients_as_text_for_one_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "clients", "--client", "claude-desktop", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Claude Desktop — ")
    pasted = out.split("\n", 1)[1].split("\n\n")[0]
    assert json.loads(pasted)["mcpServers"]["osiris"]["args"] == ["--project", str(tmp_path)]
    assert ".env" in out


def test_the_printed_command_starts_the_server(tmp_path: Path) -> None:
    configs = subprocess.run(
        [OSIRIS, "mcp", "clients", "--json", "--project", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    server = json.loads(configs.stdout)["claude-desktop"]["config"]["mcpServers"]["osiris"]
    done = subprocess.run(
        [server["command"], *server["args"]], input="", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == ""
    assert (tmp_path / ".osiris" / "mcp" / "server.log").is_file()


def test_selftest(tmp_path: Path) -> None:
    done = subprocess.run(
        [OSIRIS, "mcp", "selftest", "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert [p["protocol"] for p in report["protocols"]] == ["2026-07-28", "2025-11-25"]
    for checks in report["protocols"]:
        assert checks["tools"] == 19
        assert checks["oml_validate_ok"] and checks["oml_compile_ok"]
        assert len(checks["manifest_hash"]) == 64
    text = subprocess.run([OSIRIS, "mcp", "selftest"], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and text.stdout.rstrip().endswith("ok")
    assert "protocol 2025-11-25: 19 tools listed" in text.stdout


def test_mcp_without_an_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp"]) == 2
    assert "clients|selftest" in capsys.readouterr().err
