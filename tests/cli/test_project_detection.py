"""Which project a command works in: --project, else $OSIRIS_HOME, else the nearest folder
from the working directory up that holds osiris_connections.yaml, else the working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from runtime.app import project_root

OSIRIS = Path(sys.executable).with_name("osiris")

# A pipeline whose connection the project above must know: without a connections file
# the compiler does not check references, so a clean validate alone proves nothing.
UNKNOWN_ALIAS = """\
oml_version: "0.1.0"
name: typo
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {connection: "@filesystem.nowhere", path: data/orders.csv}
"""


def note(project: Path) -> str:
    return f"osiris: using the project in {project} (found osiris_connections.yaml there)\n"


@pytest.fixture(autouse=True)
def no_osiris_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSIRIS_HOME", raising=False)


@pytest.fixture
def project(quickstart_project: Path) -> Path:
    """The quick-start project, with an empty subfolder two levels down."""
    root = quickstart_project
    (root / "pipelines" / "typo.yaml").write_text(UNKNOWN_ALIAS, "utf-8")
    (root / "notes" / "2026").mkdir(parents=True)
    return root


def osiris(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "OSIRIS_HOME"}
    return subprocess.run(
        [str(OSIRIS), *argv],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_from_two_levels_down_uses_the_project_above(project: Path) -> None:
    done = osiris("validate", "../../pipelines/typo.yaml", cwd=project / "notes" / "2026")

    assert done.returncode == 1
    assert done.stderr == note(project)  # once, though validate asks for the project twice
    assert "@filesystem.nowhere" in done.stdout  # the project's connections were checked


def test_run_from_a_subfolder_writes_into_the_project_above(project: Path) -> None:
    done = osiris(
        "run", "../../pipelines/quickstart.yaml", "--json", cwd=project / "notes" / "2026"
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(note(project))
    assert json.loads(done.stdout)["status"] == "success"  # the note never reaches stdout
    lines = (project / "output" / "revenue_by_customer.csv").read_text("utf-8").splitlines()
    assert lines[:2] == [
        "customer_id,name,country,paid_orders,revenue",
        "6,Radia Perlman,US,5,878.17",
    ]
    assert [p.name for p in (project / "run_logs").iterdir()] == ["quickstart"]
    assert sorted(p.name for p in (project / "notes" / "2026").iterdir()) == []


def test_the_project_folder_itself_needs_no_note(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)

    assert main(["validate", "pipelines/quickstart.yaml"]) == 0
    assert capsys.readouterr().err == "pipelines/quickstart.yaml: valid\n"


def test_project_flag_wins_over_the_folder_above(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    nowhere:\n      base_dir: .\n", "utf-8"
    )
    monkeypatch.chdir(project / "notes")

    code = main(["validate", "../pipelines/typo.yaml", "--project", str(other)])

    captured = capsys.readouterr()
    assert (code, captured.err) == (0, "../pipelines/typo.yaml: valid\n")


def test_osiris_home_wins_over_the_folder_above(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("OSIRIS_HOME", str(home))
    monkeypatch.chdir(project / "notes" / "2026")

    code = main(["connections", "list"])

    captured = capsys.readouterr()
    assert (code, captured.out) == (1, "")
    assert captured.err.startswith(f"osiris: error: no osiris_connections.yaml in {home}\n")


def test_without_a_connections_file_above_the_working_directory_is_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    here = tmp_path / "loose" / "files"
    here.mkdir(parents=True)
    if any((folder / "osiris_connections.yaml").is_file() for folder in here.parents):
        pytest.skip("a folder above the test's temporary folder holds osiris_connections.yaml")
    monkeypatch.chdir(here)

    code = main(["connections", "list"])

    captured = capsys.readouterr()
    assert (code, captured.out) == (1, "")
    assert captured.err.startswith(f"osiris: error: no osiris_connections.yaml in {here}\n")
    assert "using the project" not in captured.err


def test_every_project_command_follows_the_rule(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project / "notes" / "2026")

    assert main(["connections", "list", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == note(project)
    assert json.loads(captured.out)["connections_file"] == str(project / "osiris_connections.yaml")

    assert main(["logs", "list", "--json"]) == 0
    captured = capsys.readouterr()
    assert (json.loads(captured.out), captured.err) == ([], note(project))

    assert main(["mcp", "clients", "--client", "cursor", "--json"]) == 0
    captured = capsys.readouterr()
    assert str(project) in captured.out
    assert captured.err == note(project)


def test_the_mcp_server_does_not_look_above_its_working_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "notes")

    assert project_root(None, environ={}, walk_up=False) == project / "notes"
