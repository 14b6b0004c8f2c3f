"""`osiris run --limit N`: the pipeline on at most N rows per source, writing no target;
what each writer would write lands in run_logs/samples/ for a look."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from tests.cli.projects import make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def sample(project: Path, *extra: str) -> list[str]:
    pipeline = str(project / "pipelines" / "cities.yaml")
    return ["run", pipeline, "--project", str(project), *extra]


def test_a_sample_run_reads_n_rows_and_writes_only_the_scratch_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(sample(project, "--limit", "2")) == 0
    out = capsys.readouterr().out
    assert "no target was written" in out
    assert not (project / "output").exists()  # the writer's file was never made
    (written,) = project.glob("run_logs/samples/cities/*/write_cities.csv")
    # only Ada (London) and Grace (New York) were read: one person per city
    assert written.read_text().splitlines() == ['"city","people"', '"London",1', '"New York",1']
    assert not list(project.glob("run_logs/cities/*"))  # not a run of the pipeline

    assert main(sample(project, "--limit", "10", "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "success" and result["limit"] == 10
    assert [s["rows"] for s in result["samples"]] == [3]  # London 2, New York, Vienna
    assert [s["status"] for s in result["steps"]] == ["success", "success"]


def test_a_limit_below_one_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(sample(project, "--limit", "0")) == 2
    err = capsys.readouterr().err
    assert "--limit must be at least 1" in err and "Traceback" not in err
