"""A missing driver package is one line naming what to install, from every command —
never a traceback, and never after part of a run has already happened.

The package is made missing the way Python sees a missing package (`sys.modules[name] =
None` makes `import name` raise ModuleNotFoundError), in a fresh interpreter per command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = """oml_version: "0.1.0"
name: to-postgres
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: load
    component: postgres.writer
    mode: write
    inputs: {df: "${orders.df}"}
    config: {connection: "@postgres.local", table: orders, write_mode: replace}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "examples" / "osiris_connections.yaml", tmp_path)
    shutil.copy(ROOT / "examples" / "data" / "orders.csv", tmp_path / "data")
    (tmp_path / "to_postgres.yaml").write_text(PIPELINE)
    return tmp_path


def osiris_without(package: str, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import sys\n"
        f"sys.modules[{package!r}] = None\n"
        "from osiris_mcp.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
    )


def test_connections_doctor_names_the_missing_package(project: Path) -> None:
    done = osiris_without("psycopg", project, "connections", "doctor")
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode != 0
    assert "the Python package 'psycopg'" in done.stderr + done.stdout
    assert "reinstall osiris-oml" in done.stderr + done.stdout


def test_a_run_fails_before_any_step_when_a_writer_driver_cannot_load(project: Path) -> None:
    done = osiris_without("psycopg", project, "run", "to_postgres.yaml", "--json")
    assert "Traceback" not in done.stderr
    assert done.returncode == 1
    logs = sorted((project / "run_logs" / "to-postgres").iterdir())
    status = json.loads((logs[-1] / "status.json").read_text())
    steps = {s["id"]: s for s in status["steps"]}
    assert status["status"] == "failed"
    # the extract never ran: nothing is half done when the run could not have finished
    assert steps["orders"]["status"] == "skipped"
    assert steps["orders"]["rows_read"] == 0
    assert steps["load"]["status"] == "failed"
    assert steps["load"]["category"] == "config"
    assert "the Python package 'psycopg'" in steps["load"]["error"]


def test_a_missing_optional_package_names_its_extra() -> None:
    from runtime.packages import missing_package

    message = missing_package(ModuleNotFoundError("No module named 'e2b'", name="e2b"))
    assert message is not None and "pip install 'osiris-oml[e2b]'" in message
    assert missing_package(ModuleNotFoundError("x", name="compiler.nosuch")) is None
