"""`osiris preview FILE STEP`: a step's first rows from a scratch run that writes nothing."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from tests.cli.projects import make_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the scratch run goes
    return make_project(tmp_path / "project")


def preview(project: Path, step: str, *extra: str, pipeline: str = "cities.yaml") -> list[str]:
    path = str(project / "pipelines" / pipeline)
    return ["preview", path, step, "--project", str(project), *extra]


def assert_nothing_left(project: Path) -> None:
    """No output file, no run in run_logs/, no scratch folder left behind."""
    assert not (project / "output").exists()
    assert not (project / "run_logs").exists()
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_preview_prints_the_steps_rows(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(preview(project, "cities")) == 0
    assert capsys.readouterr().out.splitlines() == [
        "city      people",
        "--------  ------",
        "London         2",
        "New York       1",
        "Vienna         1",
        "",
        "cities: all 3 rows (nothing was written)",
    ]
    assert_nothing_left(project)


def test_preview_json_and_rows(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(preview(project, "people", "--rows", "2", "--json")) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["columns"] == ["id", "name", "city"]
    assert shown["rows"] == [[1, "Ada", "London"], [2, "Grace", "New York"]]
    assert shown["total_rows"] == 4
    assert main(preview(project, "people", "--rows", "1")) == 0
    assert capsys.readouterr().out.endswith("people: first 1 of 4 rows (nothing was written)\n")
    assert_nothing_left(project)


def test_a_broken_step_elsewhere_does_not_stop_a_preview(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a second extract of a file that is not there: the full run fails on it
    pipeline = project / "pipelines" / "cities.yaml"
    (project / "pipelines" / "two.yaml").write_text(
        pipeline.read_text() + "\n  - id: missing\n"
        "    component: filesystem.csv_extractor\n"
        "    mode: read\n"
        "    config: {path: data/missing.csv}\n"
    )
    assert main(preview(project, "cities", "--json", pipeline="two.yaml")) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == [
        ["London", 2],
        ["New York", 1],
        ["Vienna", 1],
    ]
    assert main(preview(project, "missing", pipeline="two.yaml")) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("osiris: error: step 'missing' failed (")
    assert err[1].startswith("  hint: ") and len(err) == 2
    assert_nothing_left(project)


def test_unknown_step_says_did_you_mean(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(preview(project, "citys")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "osiris: error: no step 'citys' in pipeline 'cities'",
        "  hint: did you mean 'cities'? the steps are: people, cities, write_cities",
    ]


def test_a_writer_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(preview(project, "write_cities")) == 2
    pipeline = project / "pipelines" / "cities.yaml"
    assert capsys.readouterr().err.splitlines() == [
        "osiris: error: step 'write_cities' is a writer (filesystem.csv_writer): "
        "a preview never writes",
        f"  hint: preview its input instead: osiris preview {pipeline} cities",
    ]
    assert_nothing_left(project)


def test_bad_input_is_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(preview(project, "cities", "--rows", "0")) == 2
    assert capsys.readouterr().err == "osiris: error: --rows must be at least 1\n"
    broken = project / "pipelines" / "broken.yaml"
    broken.write_text('oml_version: "0.1.0"\nname: broken\nsteps: []\n')
    assert main(preview(project, "cities", pipeline="broken.yaml")) == 2
    err = capsys.readouterr().err
    assert "error[OML107]" in err and "hint:" in err and "Traceback" not in err
    assert_nothing_left(project)


def test_preview_of_a_build_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = str(project / "pipelines" / "cities.yaml")
    assert main(["compile", pipeline, "--project", str(project), "--json"]) == 0
    build_dir = json.loads(capsys.readouterr().out)["build_dir"]
    argv = ["--json", "preview", build_dir, "cities", "--project", str(project)]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0] == ["London", 2]
    assert_nothing_left(project)


def test_a_step_its_when_skips_has_no_rows(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = project / "pipelines" / "cities.yaml"
    (project / "pipelines" / "when.yaml").write_text(
        pipeline.read_text()
        .replace("name: cities\n", "name: cities\nparams:\n  big: {type: integer, default: 0}\n")
        .replace("    mode: transform\n", "    mode: transform\n    when: '${params.big} > 0'\n")
    )
    assert main(preview(project, "cities", pipeline="when.yaml")) == 1
    assert capsys.readouterr().err.splitlines() == [
        "osiris: error: step 'cities' did not run (when: ${params.big} > 0)",
        "  hint: a `when` was false: set the params it reads with --param NAME=VALUE",
    ]
    assert main(preview(project, "cities", "--param", "big=1", pipeline="when.yaml")) == 0
    assert "cities: all 3 rows" in capsys.readouterr().out
    assert_nothing_left(project)
