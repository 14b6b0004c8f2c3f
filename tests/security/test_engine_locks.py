"""The run's DuckDB data plane refuses files on its own, the compiler bypassed.

Each query goes straight to the duckdb.processor driver on a data plane opened exactly as
a run opens it (runtime/adapters/local.py `open_data_plane`), as a hand-edited build or a
checker bug would send it. The engine, not the checker, must refuse: reading a file by a
quoted path a CTE name disguises, by a table function, through `query()`; turning on
profiling or logging, which write files anywhere (over a build's meta.json); attaching a
database. Afterwards every file of the project is as it was, and nothing new exists.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from components.duckdb_processor.driver import DuckDBProcessorDriver
from components.filesystem_csv_extractor.driver import CSVExtractorDriver
from components.protocol import DriverError
from runtime.adapters.local import open_data_plane
from tests.components.stepcontext import RecordingContext

SECRET = "engine-lock-canary-Q7r2"

ATTACKS = [
    # a CTE of the same name makes the path look like a defined table to a name check
    'SELECT * FROM "{secret}" UNION ALL '
    '(WITH "{secret}" AS (SELECT 1 AS a) SELECT * FROM "{secret}")',
    'SELECT x FROM (SELECT * FROM "{events}") UNION ALL '
    '(WITH "{events}" AS (SELECT 1 AS x) SELECT x FROM "{events}")',
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_text('{project}/.env')",
    "SELECT * FROM read_blob('{project}/.spill/../secret.csv')",
    "SELECT * FROM '{events}'",
    "SELECT * FROM query_table('{secret}')",
    "SELECT * FROM query('SELECT * FROM read_text(''{project}/.env'')')",
    "SELECT * FROM glob('{project}/*')",
    # profiling and logging write files wherever their settings say
    "SELECT * FROM enable_profiling()",
    "SELECT * FROM enable_logging()",
    "SELECT * FROM enable_logging(storage_path = '{project}/build/b/meta.json')",
    "SELECT * FROM query('SET profiling_output = ''{project}/build/b/meta.json''')",
    "SELECT * FROM query('ATTACH ''{project}/other.duckdb''')",
    "SELECT * FROM sqlite_scan('{project}/other.db', 't')",
]


def _project(root: Path) -> Path:
    project = root / "project"
    (project / "build" / "b").mkdir(parents=True)
    (project / "build" / "b" / "meta.json").write_text('{"meta": true}\n')
    (project / "run_logs" / "p" / "r1").mkdir(parents=True)
    (project / "run_logs" / "p" / "r1" / "events.jsonl").write_text(f'{{"x": "{SECRET}"}}\n')
    (project / ".env").write_text(f"PASSWORD={SECRET}\n")
    (project / "secret.csv").write_text(f"a\n{SECRET}\n")
    (project / "declared.csv").write_text("id,name\n1,ada\n2,alan\n")
    return project


def _files(project: Path) -> dict[str, str]:
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".spill" not in path.parts
    }


def _context(plane: Any, project: Path, step_id: str) -> RecordingContext:
    artifacts = project / "run_logs" / "p" / "r2" / step_id
    artifacts.mkdir(parents=True, exist_ok=True)
    return RecordingContext(
        data_plane=plane.cursor(),
        connection={"base_dir": str(project)},
        artifacts_dir=artifacts,
        project_dir=project,
        step_id=step_id,
        output_table=f'"{step_id}"',
    )


@pytest.fixture
def locked(tmp_path: Path) -> tuple[Any, Path]:
    project = _project(tmp_path)
    plane = open_data_plane(
        None, project / "run_logs" / "p" / "r2" / ".spill", files_read=[project / "declared.csv"]
    )
    plane.execute("CREATE TABLE src AS SELECT 1 AS id")
    yield plane, project
    plane.close()


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_data_plane_refuses_files_on_its_own(locked: tuple[Any, Path], attack: str) -> None:
    plane, project = locked
    query = attack.format(
        project=project,
        secret=project / "secret.csv",
        events=project / "run_logs" / "p" / "r1" / "events.jsonl",
    )
    before = _files(project)
    ctx = _context(plane, project, "attack")
    with pytest.raises(DriverError) as refused:
        DuckDBProcessorDriver().run(ctx, {"query": query}, {"src": '"src"'})
    message = str(refused.value)
    assert SECRET not in message
    assert any(
        words in message
        for words in ("disabled by configuration", "configuration has been locked", "single SELECT")
    ), message
    assert _files(project) == before  # nothing written, nothing replaced


def test_what_the_plan_declares_still_reads_and_transforms(locked: tuple[Any, Path]) -> None:
    """The CSV extractor reads its declared file on the locked plane; transforms still work."""
    plane, project = locked
    ctx = _context(plane, project, "extract")
    result = CSVExtractorDriver().run(ctx, {"path": "declared.csv"}, {})
    assert result.rows_read == 2
    transform = _context(plane, project, "names")
    DuckDBProcessorDriver().run(
        transform,
        {"query": "SELECT upper(name) AS n FROM extract ORDER BY n"},
        {"extract": '"extract"'},
    )
    assert transform.rows() == [("ADA",), ("ALAN",)]


def test_an_undeclared_file_is_refused_even_to_the_extractor(locked: tuple[Any, Path]) -> None:
    """Only the files the plan declared at the start of the run are open to DuckDB."""
    plane, project = locked
    (project / "late.csv").write_text("a\n1\n")
    with pytest.raises(DriverError) as refused:
        CSVExtractorDriver().run(_context(plane, project, "late"), {"path": "late.csv"}, {})
    assert "disabled by configuration" in str(refused.value)
