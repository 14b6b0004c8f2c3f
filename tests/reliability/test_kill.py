"""SIGKILL mid-run: the target is before or after (never half), status.json tells the truth,
nothing is left behind once the next run starts, and the re-run succeeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from runtime.sessions import list_runs

PIPELINE = """oml_version: "0.1.0"
name: big-copy
steps:
  - id: rows
    component: filesystem.csv_extractor
    mode: read
    config: {path: big.csv}
  - id: doubled
    component: duckdb.processor
    mode: transform
    inputs: {rows: "${rows.df}"}
    config: {query: "SELECT i, i * 2 AS j, md5(i::VARCHAR) AS h FROM rows ORDER BY h"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${doubled.df}"}
    config: {path: out/big_out.csv}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
    )
    duckdb.sql(f"COPY (SELECT range AS i FROM range(3000000)) TO '{tmp_path / 'big.csv'}' (HEADER)")
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "big_out.csv").write_text("before\n")
    return tmp_path


def _start(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "osiris_mcp.cli", "run", "p.yaml", "--project", "."],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_event(project: Path, kind: str, step: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for events in project.glob("run_logs/big-copy/*/events.jsonl"):
            for line in events.read_text().splitlines():
                event = json.loads(line)
                if event["event_type"] == kind and event.get("step_id") == step:
                    return events.parent
        time.sleep(0.01)
    raise AssertionError(f"no {kind} for {step} within {timeout} s")


@pytest.mark.parametrize("step", ["doubled", "write"])
def test_sigkill_mid_run(project: Path, step: str) -> None:
    process = _start(project)
    session = _wait_for_event(project, "execution.step.start", step)
    time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    output = (project / "out" / "big_out.csv").read_text()[:7]
    assert output in ("before\n", "i,j,h\n0")  # exactly before, or exactly after
    status = next(r for r in list_runs(project) if r["session_id"] == session.name)
    assert status["status"] == "failed"
    assert "ended without finishing" in status["error"]
    on_disk = json.loads((session / "status.json").read_text())
    assert on_disk["status"] == "failed" and "pid" not in on_disk
    assert not (session / "data_plane.duckdb").exists()

    rerun = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", "run", "p.yaml", "--project", ".", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["status"] == "success"
    assert sorted(p.name for p in (project / "out").iterdir()) == ["big_out.csv"]
    with (project / "out" / "big_out.csv").open() as handle:
        assert sum(1 for _ in handle) == 3_000_001
