"""Live progress: bars with percent and time left where the total is known, a spinner for
the server's own phases, one line per finished step — on a terminal only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.progress import LiveProgress


def event(kind: str, step: str, **data: Any) -> dict[str, Any]:
    return {"event_type": kind, "step_id": step, "data": data}


def drawn(events: list[dict[str, Any]], color: bool = True) -> str:
    """What the bars show after these events (one refresh), and the lines printed."""
    bars = LiveProgress(color=color)
    bars.console.record = True
    bars.console._force_terminal = True
    for each in events:
        bars.on_event(each)
    bars.console.print(bars.progress.get_renderable())
    return bars.console.export_text(styles=color)


def test_a_known_total_shows_percent_rows_and_rate() -> None:
    shown = drawn(
        [
            event("execution.step.start", "orders", component="mysql.extractor"),
            event("read.start", "orders", estimate=2_000_000),
            event("read.progress", "orders", rows=500_000),
        ]
    )
    assert "orders (mysql.extractor)" in shown
    assert "25%" in shown and "500,000 rows" in shown and "rows/s" in shown


def test_a_server_phase_is_a_spinner_and_a_finished_step_one_line() -> None:
    shown = drawn(
        [
            event("execution.step.start", "orders", component="mysql.extractor"),
            event("read.progress", "orders", rows=10),
            event("execution.step.complete", "orders", rows_read=10, duration_ms=1500),
            event("execution.step.start", "load", component="postgres.writer"),
            event("write.start", "load", total=10),
            event("write.progress", "load", rows=10),
            event("write.phase", "load", phase="merge"),
        ],
        color=False,
    )
    assert "✓ orders: 10 rows read in 1.50s" in shown
    assert "load: merging on the server…" in shown and "%" not in shown.split("merging")[1]


def test_no_color_means_no_colour_codes() -> None:
    steps = [
        event("execution.step.start", "x", component="duckdb.processor"),
        event("execution.step.error", "x", error="boom [not markup]"),
    ]
    assert "\x1b[" in drawn(steps, color=True)
    plain = drawn(steps, color=False)
    assert "\x1b[" not in plain and "✗ x: boom [not markup]" in plain


def _pipeline(rows: int) -> str:
    return f"""\
oml_version: "0.1.0"
name: progress
steps:
  - id: numbers
    component: duckdb.processor
    mode: transform
    config:
      query: SELECT range AS id, range * 2 AS doubled FROM range({rows})
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${{numbers.df}}"
    config:
      path: out/numbers.csv
"""


def _plain(screen: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)


def _in_a_terminal(project: Path, *argv: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `osiris` with a pseudo-terminal as its stdout and stderr, as a shell would."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("osiris")), *argv],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
    )
    (tmp_path / "p.yaml").write_text(_pipeline(3))
    return tmp_path


def test_a_terminal_sees_step_lines_and_a_pipe_sees_none(project: Path) -> None:
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    code, screen = _in_a_terminal(project, "run", "p.yaml", env=env)
    assert code == 0, screen
    shown = _plain(screen)
    assert "✓ numbers: 3 rows written" in shown and "✓ write: 3 rows written" in shown
    assert "\x1b[" in screen  # colour on a terminal

    code, plain = _in_a_terminal(project, "run", "p.yaml", "--no-color", env=env)
    assert code == 0 and "✓ write: 3 rows written" in _plain(plain)
    assert "\x1b[32m" not in plain and "\x1b[31m" not in plain  # no green, no red

    piped = subprocess.run(
        [str(Path(sys.executable).with_name("osiris")), "run", "p.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert piped.returncode == 0
    assert "✓" not in piped.stderr and "\x1b[" not in piped.stdout + piped.stderr
