"""The disk fills up mid-write: a tiny tmpfs where it can be mounted, and everywhere a
file-size limit (RLIMIT_FSIZE) on the run's process, which fails writes the same way.

The CSV writer stages its file beside the target; the database writers stage their
bulk-load files in the temporary folder; a transform past its memory limit spills into
the session folder. Either way the step fails as an `io` error, the target is as it
was, no temporary file is left, and once there is room the re-run succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from tests.conftest import POSTGRES
from tests.reliability.harness import (
    Project,
    Tmpfs,
    assert_failed_at,
    assert_succeeded,
    numbered_rows_csv,
    postgres_staging_tables,
)
from tests.reliability.test_kill_spill import SORT

ROWS = 200_000  # about 9 MB of CSV
LIMIT = 1 << 20  # the file-size limit: 1 MiB
TO_CSV = """oml_version: "0.1.0"
name: to-csv
steps:
  - id: rows
    component: filesystem.csv_extractor
    mode: read
    config: {path: rows.csv}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${rows.df}"}
    config: {path: out/rows.csv, write_mode: WRITE_MODE}
"""
BEFORE = "id,h\n0,zero\n"


def _no_room(failed: dict[str, Any]) -> None:
    assert failed["category"] == "io", failed
    assert "No space left on device" in failed["error"] or "too large" in failed["error"], failed


@pytest.mark.parametrize("write_mode", ["replace", "append"])
@pytest.mark.parametrize("full", ["tmpfs", "file-size-limit"])
def test_csv_writer_on_a_full_disk(
    tmp_path: Path, tiny_disk: Callable[[Path, str], Tmpfs], full: str, write_mode: str
) -> None:
    project = Project.make(tmp_path)
    numbered_rows_csv(project.root / "rows.csv", ROWS)
    out = project.root / "out"
    disk = tiny_disk(out, "1m") if full == "tmpfs" else None
    out.mkdir(exist_ok=True)
    target = out / "rows.csv"
    target.write_text(BEFORE)
    pipeline = project.pipeline("p", TO_CSV.replace("WRITE_MODE", write_mode))

    result = project.run(pipeline, file_size_limit=LIMIT if disk is None else None)

    assert target.read_text() == BEFORE
    _no_room(assert_failed_at(result, "write", "io"))
    assert sorted(p.name for p in out.iterdir()) == ["rows.csv"]
    assert project.leftover_files() == []

    if disk is not None:
        disk.grow("64m")
    assert_succeeded(project.run(pipeline))
    with target.open() as handle:
        assert sum(1 for _ in handle) == ROWS + 1 + (1 if write_mode == "append" else 0)
    assert sorted(p.name for p in out.iterdir()) == ["rows.csv"]
    assert project.leftover_files() == []


TO_POSTGRES = """oml_version: "0.1.0"
name: to-postgres
steps:
  - id: rows
    component: filesystem.csv_extractor
    mode: read
    config: {path: rows.csv}
  - id: write
    component: postgres.writer
    mode: write
    inputs: {df: "${rows.df}"}
    config: {table: target, write_mode: replace, batch_size: 50000}
"""


@pytest.mark.db
@pytest.mark.parametrize("full", ["tmpfs", "file-size-limit"])
def test_database_writer_with_a_full_temporary_disk(
    tmp_path: Path, tiny_disk: Callable[[Path, str], Tmpfs], pg_db: dict[str, Any], full: str
) -> None:
    """The bulk-load files of a database writer go to the temporary folder: full, the
    write fails before its transaction commits."""
    schema = pg_db["schema"]
    target = f'"{schema}".target'
    project = Project.make(tmp_path, postgres=pg_db)
    numbered_rows_csv(project.root / "rows.csv", ROWS)
    scratch = project.tmp
    disk = tiny_disk(scratch, "256k") if full == "tmpfs" else None
    pipeline = project.pipeline("p", TO_POSTGRES)
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {target} (id bigint PRIMARY KEY, h text)")
        admin.execute(f"INSERT INTO {target} VALUES (0, 'zero')")

        result = project.run(pipeline, file_size_limit=LIMIT // 4 if disk is None else None)

        assert admin.execute(f"SELECT * FROM {target}").fetchall() == [(0, "zero")]
        _no_room(assert_failed_at(result, "write", "io"))
        assert project.leftover_files() == []
        assert postgres_staging_tables(admin, schema, temporary=False) == []

        if disk is not None:
            disk.grow("64m")
        assert_succeeded(project.run(pipeline))
        row = admin.execute(f"SELECT count(*), min(id), max(id) FROM {target}").fetchone()
    assert row == (ROWS, 1, ROWS)
    assert project.leftover_files() == []


def test_transform_spilling_onto_a_full_disk(
    tmp_path: Path, tiny_disk: Callable[[Path, str], Tmpfs]
) -> None:
    """Past its memory limit DuckDB spills into the session folder: when that disk is
    full the step fails as `io` (not as an SQL error), and the spill goes with the run."""
    project = Project.make(tmp_path)
    duckdb.sql(f"COPY (SELECT range AS i FROM range(3000000)) TO '{project.root / 'big.csv'}'")
    (project.root / "out").mkdir()
    (project.root / "out" / "sorted.csv").write_text("before\n")
    disk = tiny_disk(project.root / "run_logs", "2m")
    pipeline = project.pipeline("p", SORT)

    result = project.run(pipeline, OSIRIS_MEMORY_LIMIT="64MB")

    failed = assert_failed_at(result, "sorted", "io")
    assert failed["error"].startswith("the query ran out of disk space to spill to"), failed
    assert (project.root / "out" / "sorted.csv").read_text() == "before\n"
    assert project.leftover_files() == []

    disk.grow("512m")
    assert_succeeded(project.run(pipeline))
    with (project.root / "out" / "sorted.csv").open() as handle:
        assert sum(1 for _ in handle) == 3_000_001
    assert project.leftover_files() == []


GENERATED = """oml_version: "0.1.0"
name: session-logs
steps:
  - id: numbers
    component: duckdb.processor
    mode: transform
    config: {query: "SELECT range AS n FROM range(3)"}
  - id: more
    component: duckdb.processor
    mode: transform
    needs: [numbers]
    config: {query: "SELECT n, n * n AS square FROM numbers"}
  - id: save
    component: filesystem.csv_writer
    mode: write
    needs: [more]
    config: {path: out/squares.csv}
"""


def _cli(project: Project, pipeline: Path, *extra: str, limit: int | None) -> Any:
    import subprocess
    import sys

    from tests.reliability.harness import _file_size_limit

    return subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", "run", pipeline.name, *extra],
        cwd=project.root,
        env={**__import__("os").environ, "TMPDIR": str(project.tmp)},
        capture_output=True,
        text=True,
        preexec_fn=None if limit is None else _file_size_limit(limit),
        timeout=300,
    )


def _osiris(project: Project, *argv: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", *argv],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _status(project: Project) -> dict[str, Any]:
    import json

    [status] = (project.root / "run_logs").glob("*/*/status.json")
    return dict(json.loads(status.read_text()))


def test_a_log_the_disk_refuses_ends_the_run_failed_with_one_clean_line(tmp_path: Path) -> None:
    """events.jsonl outgrows the limit mid-run: the steps still finish, the run says why it
    failed in one line and status.json (small, room kept for it) ends `failed`."""
    project = Project.make(tmp_path)
    pipeline = project.pipeline("p", GENERATED)
    done = _cli(project, pipeline, limit=2500)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "osiris: error: cannot write events.jsonl" in done.stderr
    assert "hint: free space on that disk" in done.stderr
    status = _status(project)
    assert status["status"] == "failed" and status["finished_at"]
    assert status["error"].startswith("cannot write events.jsonl")
    assert [s["status"] for s in status["steps"]] == ["success"] * 3
    assert (project.root / "out" / "squares.csv").read_text().splitlines()[1:] == [
        "0,0",
        "1,1",
        "2,4",
    ]


def test_a_run_with_no_room_for_its_log_folder_never_starts(
    tmp_path: Path, tiny_disk: Callable[[Path, str], Tmpfs]
) -> None:
    project = Project.make(tmp_path)
    pipeline = project.pipeline("p", GENERATED)
    assert _cli(project, pipeline, "--json", limit=None).returncode == 0  # builds the plan
    logs = project.root / "run_logs"
    disk = tiny_disk(logs, "16k")
    (logs / "filler").write_bytes(b"\0" * 12_000)
    done = _cli(project, pipeline, limit=None)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "osiris: error: cannot" in done.stderr and "No space left on device" in done.stderr
    as_json = _cli(project, pipeline, "--json", limit=None)
    assert as_json.returncode == 1 and "Traceback" not in as_json.stdout + as_json.stderr
    listed = _osiris(project, "logs", "list")  # reading the logs of a full disk still works
    assert listed.returncode == 0 and "Traceback" not in listed.stdout + listed.stderr
    assert "session-logs" in listed.stdout and "failed" in listed.stdout
    (logs / "filler").unlink()
    disk.grow("8m")
    assert _cli(project, pipeline, limit=None).returncode == 0


def test_compile_on_a_full_disk_says_where_without_calling_it_a_bug(
    tmp_path: Path, tiny_disk: Callable[[Path, str], Tmpfs]
) -> None:
    import subprocess
    import sys

    project = Project.make(tmp_path)
    pipeline = project.pipeline("p", GENERATED)
    disk = tiny_disk(project.root / "build", "16k")
    (disk.path / "filler").write_bytes(b"\0" * 16_000)
    done = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", "compile", pipeline.name],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "cannot write the build to" in done.stderr and "No space left" in done.stderr
    assert "bug" not in done.stderr and "Traceback" not in done.stderr
