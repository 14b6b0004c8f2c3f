"""Many `osiris run` processes at once in one project, on loopback only.

Twenty runs of a quick-start-like pipeline, each with its own output path: every session
keeps to itself (its events carry its own session_id, its output is right) and loses
nothing (its events are the same complete sequence as a run alone). And processes
compiling one pipeline at once, which share its build folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import (
    Project,
    assert_complete_events,
    assert_succeeded,
    events,
    finish,
)

ROOT = Path(__file__).resolve().parents[2]
RUNS = 20
QUICKSTART = (ROOT / "examples" / "pipelines" / "quickstart.yaml").read_text("utf-8")
PIPELINE = (
    QUICKSTART.replace("name: quickstart\n", "name: quickstart-load\n").replace(
        "path: output/revenue_by_customer.csv", 'path: "${params.output}"'
    )
    + "params:\n  output: {type: string, default: output/revenue_by_customer.csv}\n"
)
STEPS = ["customers", "orders", "revenue", "write_revenue"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project.make(tmp_path)
    shutil.copytree(ROOT / "examples" / "data", project.root / "data")
    return project


def _timeline(session: Path) -> list[tuple[str, str | None]]:
    return [(e["event_type"], e.get("step_id")) for e in events(session)]


def _metrics(session: Path) -> list[tuple[str, str | None, Any]]:
    lines = (session / "metrics.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    return [(m["metric"], m.get("step_id"), m["value"]) for m in records if "rows" in m["metric"]]


@pytest.mark.long
def test_twenty_concurrent_runs(project: Project) -> None:
    pipeline = project.pipeline("quickstart", PIPELINE)
    alone = project.run(pipeline, "--param", "output=output/alone.csv")
    assert_succeeded(alone)
    expected = (project.root / "output" / "alone.csv").read_text()
    assert len(expected.splitlines()) == 9
    reference = Path(alone["session_dir"])

    outputs = [f"output/run_{n:02d}.csv" for n in range(RUNS)]
    processes = [project.start(pipeline, "--param", f"output={out}") for out in outputs]
    results = [finish(process) for process in processes]

    assert len({result["run_id"] for result in results}) == RUNS
    for out, result in zip(outputs, results, strict=True):
        assert_succeeded(result)
        session = Path(result["session_dir"])
        assert session.name == result["run_id"]
        assert_complete_events(session, STEPS)
        assert _timeline(session) == _timeline(reference)
        assert _metrics(session) == _metrics(reference)
        write = next(s for s in result["steps"] if s["id"] == "write_revenue")
        assert write["details"]["path"] == str(project.root / out)
        assert (project.root / out).read_text() == expected
    assert len(project.sessions()) == RUNS + 1
    assert sorted(p.name for p in (project.root / "output").iterdir()) == sorted(
        [Path(out).name for out in outputs] + ["alone.csv"]
    )
    assert project.leftover_files() == []


def _write_and_load(build: str, files: dict[str, bytes], start: Any, rounds: int) -> list[str]:
    """What `osiris run FILE` does once it compiled: write the build folder, load the plan
    from it; `rounds` times, in a process released with the others by the barrier."""
    import compiler.manifest  # noqa: F401  (what Build.load imports: loaded before the start)
    from runtime.builds import Build, write_build

    problems = []
    start.wait()
    for _ in range(rounds):
        try:
            Build.load(write_build(files, Path(build)))
        except Exception as err:
            problems.append(f"{type(err).__name__}: {err}")
    return problems


def test_processes_compiling_one_plan_share_its_build_folder(tmp_path: Path) -> None:
    """Runs of one pipeline started together all compile it into the same build folder:
    none may fail, nor read the folder while another swaps it."""
    import multiprocessing

    from compiler.compile import default_context
    from compiler.emit import compile_source

    compiled = compile_source(PIPELINE.encode(), default_context(), "p.yaml")
    assert compiled.ok
    build = tmp_path / "build" / compiled.pipeline_name / compiled.manifest_short
    context = multiprocessing.get_context("spawn")
    writers = 6
    start = context.Manager().Barrier(writers)
    with context.Pool(writers) as pool:
        jobs = [
            pool.apply_async(_write_and_load, (str(build), dict(compiled.files), start, 50))
            for _ in range(writers)
        ]
        problems = [problem for job in jobs for problem in job.get(timeout=120)]
    assert problems == []
    assert [p.name for p in build.parent.iterdir()] == [build.name]  # nothing half-swapped
