"""Concurrent writers to one CSV target never lose rows: each append (and replace) reads
the old file and renames its result over it under an advisory lock on the folder.

Without it, two appends that both read the old file and rename their own union over it
keep only the last one's rows (found once in seven trials with 3,000,000 rows). Here the
writers are separate processes, each a real run of the CSV writer on its own data plane,
started together on a barrier file so their writes overlap.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

WRITER = """
import sys, time
from pathlib import Path
import duckdb
from components.filesystem_csv_writer.driver import CSVWriterDriver
from tests.components.filectx import FilePlane

project, tag, rows, mode = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
plane = FilePlane(project, duckdb.connect(str(project / f"plane_{tag}.duckdb")))
plane.connection.execute(
    f"CREATE TABLE t AS SELECT '{tag}' AS writer, range AS n FROM range({rows})"
)
ready = project / f"ready_{tag}"
ready.write_text("")
while not (project / "go").exists():  # every writer starts together
    time.sleep(0.001)
CSVWriterDriver().run(
    plane.context("w"), {"path": "out/target.csv", "write_mode": mode}, {"df": "t"}
)
"""


def _write_together(project: Path, writers: int, rows: int, mode: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(project), f"w{index}", str(rows), mode],
            cwd=ROOT,
        )
        for index in range(writers)
    ]
    while len(list(project.glob("ready_*"))) < writers:
        if any(process.poll() not in (None, 0) for process in processes):
            break
    (project / "go").write_text("")
    assert [process.wait(timeout=300) for process in processes] == [0] * writers
    for leftover in (*project.glob("ready_*"), project / "go"):
        leftover.unlink()


@pytest.mark.parametrize("trial", range(3))
def test_concurrent_appends_keep_every_row(tmp_path: Path, trial: int) -> None:
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    _write_together(project, writers=4, rows=200_000, mode="append")
    lines = (project / "out" / "target.csv").read_text().splitlines()
    assert lines[0] == "writer,n"
    body = lines[1:]
    assert len(body) == 4 * 200_000
    assert {line.split(",")[0] for line in body} == {"w0", "w1", "w2", "w3"}
    assert sorted(p.name for p in (project / "out").iterdir()) == ["target.csv"]


def test_concurrent_replaces_leave_one_whole_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    _write_together(project, writers=4, rows=100_000, mode="replace")
    body = (project / "out" / "target.csv").read_text().splitlines()[1:]
    assert len(body) == 100_000
    assert len({line.split(",")[0] for line in body}) == 1  # one writer's file, whole
