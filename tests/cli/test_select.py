"""`osiris run --select`: part of a plan, its left-out inputs reused from the last run of
the same plan when it kept them, computed again when not — never stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from tests.cli.projects import make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def run(project: Path, *extra: str) -> list[str]:
    pipeline = str(project / "pipelines" / "cities.yaml")
    return ["run", pipeline, "--project", str(project), "--json", *extra]


def statuses(capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[str, bool]]:
    result = json.loads(capsys.readouterr().out)
    return {
        s["id"]: (s["status"], bool((s.get("details") or {}).get("reused_from")))
        for s in result["steps"]
    }


def test_a_selected_step_runs_its_inputs_when_nothing_is_kept(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run(project, "--select", "cities")) == 0
    assert statuses(capsys) == {
        "people": ("success", False),  # no earlier run to reuse: it ran
        "cities": ("success", False),
        "write_cities": ("skipped", False),
    }
    assert not (project / "output").exists()


def test_a_kept_output_is_reused_and_downstream_runs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run(project, "--keep-outputs")) == 0
    capsys.readouterr()
    assert main(run(project, "--select", "cities+")) == 0
    assert statuses(capsys) == {
        "people": ("success", True),  # loaded from the last run
        "cities": ("success", False),
        "write_cities": ("success", False),
    }
    assert (project / "output" / "cities.csv").read_text().splitlines() == [
        "city,people",
        "London,2",
        "New York,1",
        "Vienna,1",
    ]
    # a source file changed since that run: its output is stale, so the step reads again
    (project / "data" / "people.csv").write_text("id,name,city\n9,Zed,Oslo\n")
    assert main(run(project, "--select", "cities+")) == 0
    assert statuses(capsys)["people"] == ("success", False)
    assert (project / "output" / "cities.csv").read_text().splitlines() == ["city,people", "Oslo,1"]


def test_an_unknown_step_is_refused_with_the_closest_name(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run(project, "--select", "citys")) == 2
    err = capsys.readouterr().err
    assert "no step 'citys'" in err and "did you mean 'cities'?" in err
    assert not (project / "run_logs" / "cities").exists() or not list(
        (project / "run_logs" / "cities").glob("*/status.json")
    )
