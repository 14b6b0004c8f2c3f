"""`osiris run --dry-run`: the plan and what it would change, with nothing run or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from tests.cli.projects import make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def dry_run(project: Path, *extra: str) -> list[str]:
    pipeline = str(project / "pipelines" / "cities.yaml")
    return ["run", pipeline, "--dry-run", "--project", str(project), *extra]


def test_dry_run_prints_the_steps_and_targets(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(dry_run(project)) == 0
    header, *plan = capsys.readouterr().out.splitlines()
    assert header.startswith("dry run of 'cities' (")
    assert plan == [
        "",
        "1. people  filesystem.csv_extractor  read",
        "     reads   @filesystem.local file data/people.csv",
        "",
        "2. cities  duckdb.processor  transform",
        "     reads   step people",
        "",
        "3. write_cities  filesystem.csv_writer  write",
        "     reads   step cities",
        "     writes  file output/cities.csv (replace, @filesystem.local)",
        "",
        "would change:",
        "  file output/cities.csv (replace, @filesystem.local)",
    ]
    assert not (project / "run_logs").exists()
    assert not (project / "output").exists()


def test_dry_run_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(dry_run(project, "--json")) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["status"] == "dry_run"
    assert [(s["id"], s["mode"], s["reads"]) for s in plan["steps"]] == [
        ("people", "read", {"connection": "@filesystem.local", "path": "data/people.csv"}),
        ("cities", "transform", {"steps": ["people"]}),
        ("write_cities", "write", {"steps": ["cities"]}),
    ]
    target = {
        "step": "write_cities",
        "component": "filesystem.csv_writer",
        "kind": "file",
        "connection": "@filesystem.local",
        "target": "output/cities.csv",
        "write_mode": "replace",
    }
    assert plan["steps"][2]["writes"] == target
    assert plan["would_change"] == [target]
    assert not (project / "run_logs").exists()


def test_dry_run_opens_no_connection(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # nothing listens on port 1: a run would fail on connecting, a dry run never connects
    (project / "osiris_connections.yaml").write_text(
        (project / "osiris_connections.yaml").read_text()
        + "  mysql:\n    nowhere:\n      host: 127.0.0.1\n      port: 1\n"
        "      user: root\n      password: ''\n      database: shop\n"
        "  postgres:\n    nowhere:\n      host: 127.0.0.1\n      port: 1\n"
        "      user: postgres\n      password: ''\n      database: shop\n"
    )
    (project / "pipelines" / "copy.yaml").write_text(
        'oml_version: "0.1.0"\n'
        "name: copy\n"
        "steps:\n"
        "  - id: orders\n"
        "    component: mysql.extractor\n"
        "    mode: read\n"
        "    config:\n"
        '      connection: "@mysql.nowhere"\n'
        "      query: |\n"
        "        WITH recent AS (SELECT * FROM orders WHERE id > 10)\n"
        "        SELECT r.id, c.name FROM recent AS r JOIN shop.customers AS c ON c.id = r.id\n"
        "  - id: load\n"
        "    component: postgres.writer\n"
        "    mode: write\n"
        "    inputs: {df: '${orders.df}'}\n"
        "    config:\n"
        '      connection: "@postgres.nowhere"\n'
        "      table: orders_copy\n"
        "      write_mode: append\n"
    )
    pipeline = str(project / "pipelines" / "copy.yaml")
    assert main(["run", pipeline, "--dry-run", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "     reads   @mysql.nowhere tables orders, shop.customers\n" in out  # not the CTE
    assert out.endswith("would change:\n  table orders_copy (append, @postgres.nowhere)\n")
    assert not (project / "run_logs").exists()


def test_dry_run_of_a_build_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = str(project / "pipelines" / "cities.yaml")
    assert main(["compile", pipeline, "--project", str(project), "--json"]) == 0
    build_dir = json.loads(capsys.readouterr().out)["build_dir"]
    assert main(["run", build_dir, "--dry-run", "--json", "--project", str(project)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in plan["steps"]] == ["people", "cities", "write_cities"]
    assert plan["build_dir"] == build_dir
    assert main(["run", "--last-compile", "--dry-run", "--project", str(project)]) == 0
    assert "would change:" in capsys.readouterr().out
    assert not (project / "run_logs").exists()


def test_dry_run_of_bad_oml_is_exit_2_and_leaves_no_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = project / "pipelines" / "broken.yaml"
    broken.write_text('oml_version: "0.1.0"\nname: broken\nsteps: []\n')
    argv = ["run", str(broken), "--dry-run", "--project", str(project)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "error[OML107]" in captured.err and "hint:" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (project / "run_logs").exists()  # `osiris run` records a failed compile


def test_dry_run_of_an_edited_build_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = str(project / "pipelines" / "cities.yaml")
    assert main(["compile", pipeline, "--project", str(project), "--json"]) == 0
    build_dir = Path(json.loads(capsys.readouterr().out)["build_dir"])
    config = build_dir / "cfg" / "write_cities.json"
    config.write_text(config.read_text().replace("output/cities.csv", "/etc/passwd"))
    assert main(["run", str(build_dir), "--dry-run", "--project", str(project)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("osiris: error: ") and err[1].startswith("  hint: ")
    assert len(err) == 2
