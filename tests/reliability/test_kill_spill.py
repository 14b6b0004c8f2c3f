"""SIGKILL while the data plane spills to disk: the spill files go with the dead run.

With a small memory limit DuckDB spills a big sort into the session's `.spill` folder,
which the run removes when it ends — unless it is killed. The first reader of the dead
run's status (`osiris logs`, `list_runs`) marks it failed and removes what it left.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import duckdb

from runtime.sessions import list_runs
from tests.reliability.harness import Project, assert_succeeded

SORT = """oml_version: "0.1.0"
name: big-sort
steps:
  - id: rows
    component: filesystem.csv_extractor
    mode: read
    config: {path: big.csv}
  - id: sorted
    component: duckdb.processor
    mode: transform
    inputs: {rows: "${rows.df}"}
    config: {query: "SELECT i, md5(i::VARCHAR) AS h FROM rows ORDER BY h"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${sorted.df}"}
    config: {path: out/sorted.csv}
"""


def test_sigkill_while_spilling(tmp_path: Path) -> None:
    project = Project.make(tmp_path)
    duckdb.sql(f"COPY (SELECT range AS i FROM range(3000000)) TO '{project.root / 'big.csv'}'")
    pipeline = project.pipeline("p", SORT)

    run = project.start(pipeline, OSIRIS_MEMORY_LIMIT="64MB")
    session, _ = project.wait_for("execution.step.start", "sorted")
    deadline = time.monotonic() + 60
    while not any((session / ".spill").glob("*")):
        assert time.monotonic() < deadline and run.poll() is None, "the sort did not spill"
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert (session / ".spill").is_dir()  # what the killed run left

    status = next(r for r in list_runs(project.root) if r["session_id"] == session.name)
    assert status["status"] == "failed" and "ended without finishing" in status["error"]
    assert [s["status"] for s in status["steps"]] == ["success", "failed", "cancelled"]
    assert project.leftover_files() == []  # no .spill, no data plane

    assert_succeeded(project.run(pipeline))
    with (project.root / "out" / "sorted.csv").open() as handle:
        assert sum(1 for _ in handle) == 3_000_001
    assert project.leftover_files() == []
