"""0.5.7's command forms, through the real CLI: each is an alias of ours, same exit codes,
same `--json`; and connections files written for 0.5.7 never end a command in a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main

ROOT = Path(__file__).resolve().parents[2]
OSIRIS = str(Path(sys.executable).with_name("osiris"))

CONNECTIONS_057 = """\
connections:
  filesystem:
    local: {default: true, base_dir: .}
  mysql:
    local:
      default: true
      host: 127.0.0.1
      user: root
      password: ${MYSQL_TEST_PASSWORD:-}
      database: test
  graphql:
    github:
      endpoint: https://api.github.com/graphql
      token: ${GITHUB_TOKEN:-none}
  shopify:
    store: {shop: acme}
"""

CSV_PIPELINE = """\
oml_version: "0.1.0"
name: copy_orders
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {connection: "@filesystem.local", path: data/orders.csv}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${orders.df}"}
    config: {connection: "@filesystem.local", path: output/orders.csv}
"""

MYSQL_PIPELINE = """\
oml_version: "0.1.0"
name: from_mysql
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.nosuch"
      query: SELECT 1 AS x
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${extract.df}"}
    config: {path: out.csv}
"""


@pytest.fixture(autouse=True)
def no_osiris_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSIRIS_HOME", raising=False)


def make_project(root: Path, connections: str = CONNECTIONS_057) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "data" / "orders.csv", root / "data" / "orders.csv")
    (root / "osiris_connections.yaml").write_text(connections, "utf-8")
    (root / "pipeline.yaml").write_text(CSV_PIPELINE, "utf-8")
    (root / "mysql.yaml").write_text(MYSQL_PIPELINE, "utf-8")
    return root


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def osiris(project: Path, *argv: str, env: dict[str, str] | None = None) -> Any:
    """The installed `osiris` in a subprocess: what a user's shell runs."""
    return subprocess.run(
        [OSIRIS, *argv],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "OSIRIS_HOME": str(project)},
        timeout=120,
    )


# -- osiris oml validate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["pipeline.yaml", "mysql.yaml", "missing.yaml", "pipeline.yaml mysql.yaml"]
)
def test_oml_validate_is_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    project = make_project(tmp_path)
    files = [str(project / n) for n in name.split()]

    for extra in ([], ["--json"]):
        ours = cli(capsys, "validate", *files, "--project", str(project), *extra)
        alias = cli(capsys, "oml", "validate", *files, "--project", str(project), *extra)
        assert alias == ours

    expected = {"pipeline.yaml": 0, "mysql.yaml": 1, "missing.yaml": 2}
    assert ours[0] == max(expected[n] for n in name.split())


def test_validate_reports_an_unknown_alias_with_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path)

    code, out, _ = cli(
        capsys, "oml", "validate", str(project / "mysql.yaml"), "--json", "--project", str(project)
    )

    assert code == 1
    (diagnostic,) = json.loads(out)["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("OML209", 8, 19)
    assert diagnostic["message"] == "no connection @mysql.nosuch in osiris_connections.yaml"
    assert diagnostic["suggestions"] == ["@mysql.local"]


# -- osiris --json CMD -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "pipeline.yaml"],
        ["connections", "list"],
        ["logs", "list"],
        ["components", "list"],
        ["logs", "gc", "--dry-run"],
    ],
)
def test_a_global_json_is_the_commands_json(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    project = make_project(tmp_path)
    monkeypatch.chdir(project)

    ours = cli(capsys, *argv, "--json")
    alias = cli(capsys, "--json", *argv)

    assert alias == ours
    json.loads(alias[1])


def test_a_global_json_for_a_command_without_json_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "--json", "init", str(tmp_path / "new"))

    assert (code, out) == (2, "")
    assert err == "osiris: error: `osiris init` has no --json output\n"
    assert not (tmp_path / "new").exists()


# -- osiris run --last-compile -----------------------------------------------------------------


def test_run_last_compile_runs_what_compile_built_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path)
    where = ["--project", str(project)]

    code, _, err = cli(capsys, "run", "--last-compile", *where)
    assert (code, err) == (
        2,
        f"osiris: error: no recent compile in {project}\n  hint: run `osiris compile FILE` first\n",
    )

    code, out, _ = cli(capsys, "compile", str(project / "pipeline.yaml"), "--json", *where)
    assert code == 0
    build_dir = json.loads(out)["build_dir"]

    code, out, _ = cli(capsys, "run", "--last-compile", "--json", *where)
    result = json.loads(out)
    assert (code, result["status"]) == (0, "success")
    assert [s["rows_written"] for s in result["steps"]] == [60, 60]
    assert (project / "output" / "orders.csv").read_text("utf-8").count("\n") == 61

    # 0.5.7's other form: the manifest file itself
    code, out, _ = cli(capsys, "run", str(Path(build_dir) / "manifest.yaml"), "--json", *where)
    assert (code, json.loads(out)["status"]) == (0, "success")

    code, _, err = cli(capsys, "run", str(project / "pipeline.yaml"), "--last-compile", *where)
    assert (code, err) == (2, "osiris: error: give a pipeline file or --last-compile, not both\n")


# -- osiris connections doctor --family F --alias A --------------------------------------------


@pytest.mark.db
def test_doctor_family_and_alias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mysql_db: dict[str, Any]
) -> None:
    connections = CONNECTIONS_057.replace("database: test", f"database: {mysql_db['database']}")
    project = make_project(tmp_path, connections)
    where = ["--project", str(project)]

    def doctor(*argv: str) -> tuple[int, dict[str, Any]]:
        code, out, _ = cli(capsys, "connections", "doctor", *argv, "--json", *where)
        return code, json.loads(out)

    code, report = doctor("--family", "mysql", "--alias", "local")
    assert (code, [c["ref"] for c in report["checks"]], report["ok"]) == (
        0,
        ["@mysql.local"],
        True,
    )

    code, report = doctor("--family", "mysql", "--alias", "locl")
    (check,) = report["checks"]
    assert (code, check["ok"], check["category"], check["hint"]) == (
        1,
        False,
        "config",
        "did you mean @mysql.local?",
    )

    code, report = doctor("--family", "shopify")  # an unknown family: listed, not checked
    assert (code, report["ok"]) == (0, True)
    assert [(c["ref"], c.get("skipped")) for c in report["checks"]] == [("@shopify.store", True)]

    code, report = doctor("--alias", "local")  # every family's alias of that name
    assert code == 0
    assert [c["ref"] for c in report["checks"]] == ["@filesystem.local", "@mysql.local"]

    code, report = doctor("--family", "mysq")
    assert (code, report["error"]["hint"]) == (1, "did you mean mysql?")

    code, _, err = cli(capsys, "connections", "doctor", "@mysql.local", "--alias", "x", *where)
    assert code == 2 and "either as @FAMILY.ALIAS or with --family/--alias" in err


# -- connections files written for 0.5.7 -------------------------------------------------------


def test_a_file_with_unknown_families_lists_and_runs(tmp_path: Path) -> None:
    project = make_project(tmp_path)

    listed = osiris(project, "connections", "list", "--json")
    ran = osiris(project, "run", "pipeline.yaml", "--json")

    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["unknown_families"] == ["graphql", "shopify"]
    assert "@graphql.github" in [row["ref"] for row in data["connections"]]
    assert (ran.returncode, json.loads(ran.stdout)["status"]) == (0, "success"), ran.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("connections:\n  mysql: [\n", ":3: YAML syntax error"),
        ("connections:\n  mysql:\n    a: {host: x}\n    a: {host: y}\n", ":4: duplicate key 'a'"),
        ("- just\n- a list\n", ":1: expected a mapping with a `connections` key"),
        ("connections:\n  graphql: [not, aliases]\n", ":2: `graphql` must map aliases"),
        ("connections:\n  mysql:\n    a: {default: maybe}\n", "`default` must be true or false"),
        ("\x00\x01 binary", "YAML"),
    ],
)
def test_a_malformed_file_is_an_error_never_a_traceback(
    tmp_path: Path, text: str, problem: str
) -> None:
    project = make_project(tmp_path, text)

    for argv, status in (
        (["run", "pipeline.yaml"], 2),
        (["run", "mysql.yaml"], 2),
        (["connections", "doctor"], 1),
        (["validate", "pipeline.yaml"], 0),  # the OML is fine; it warns it cannot check refs
    ):
        result = osiris(project, *argv)
        assert result.returncode == status, (argv, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert problem in result.stderr, (argv, result.stderr)
        assert "osiris_connections.yaml" in result.stderr


def test_a_malformed_dotenv_is_an_error_never_a_traceback(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / ".env").write_text("MYSQL_TEST_PASSWORD\n", "utf-8")

    result = osiris(project, "run", "pipeline.yaml")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{project / '.env'}:1: expected KEY=VALUE" in result.stderr


@pytest.mark.db
def test_inline_host_database_user_with_the_secret_in_the_file(
    tmp_path: Path, mysql_db: dict[str, Any]
) -> None:
    """The held-out case: a step sets host/database/user; its password stays in the file."""
    import pymysql

    admin = pymysql.connect(**mysql_db, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE movies (id INT PRIMARY KEY, title VARCHAR(40))")
        cur.execute("INSERT INTO movies VALUES (1, 'Alien'), (2, 'Brazil')")
    admin.close()
    connections = textwrap.dedent("""\
        connections:
          mysql:
            movies:
              default: true
              host: nosuch.invalid
              user: nobody
              database: nosuch
              password: ${MOVIES_PASSWORD:-}
        """)
    project = make_project(tmp_path, connections)
    (project / "movies.yaml").write_text(
        textwrap.dedent(f"""\
            oml_version: "0.1.0"
            name: movies
            steps:
              - id: extract
                component: mysql.extractor
                mode: read
                config:
                  host: 127.0.0.1
                  database: {mysql_db["database"]}
                  user: root
                  query: SELECT id, title FROM movies ORDER BY id
              - id: write
                component: filesystem.csv_writer
                mode: write
                inputs: {{df: "${{extract.df}}"}}
                config: {{path: movies.csv}}
            """),
        "utf-8",
    )

    compiled = osiris(project, "compile", "movies.yaml", "--json")
    ran = osiris(project, "run", "--last-compile", "--json")

    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    manifest = (Path(json.loads(compiled.stdout)["build_dir"]) / "manifest.yaml").read_text()
    import yaml

    (extract,) = [s for s in yaml.safe_load(manifest)["steps"] if s["id"] == "extract"]
    assert extract["connection"] == {
        "ref": "@mysql.movies",
        "fields": {
            "database": {"from": "inline", "value": mysql_db["database"]},
            "host": {"from": "inline", "value": "127.0.0.1"},
            "password": {"from": "@mysql.movies", "variable": "MOVIES_PASSWORD", "secret": True},
            "user": {"from": "inline", "value": "root"},
        },
    }
    assert (ran.returncode, json.loads(ran.stdout)["status"]) == (0, "success"), ran.stdout
    assert (project / "movies.csv").read_text("utf-8") == "id,title\n1,Alien\n2,Brazil\n"


# -- osiris logs gc / maintenance clean --------------------------------------------------------

NOW = dt.datetime.now(dt.UTC)


def fake_run(project: Path, pipeline: str, run_id: str, days_ago: float, **status: Any) -> Path:
    folder = project / "run_logs" / pipeline / run_id
    (folder / "artifacts").mkdir(parents=True)
    ended = (NOW - dt.timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
    record = {"session_id": run_id, "status": "success", "started_at": ended, **status}
    record.setdefault("finished_at", ended)
    (folder / "status.json").write_text(json.dumps(record), "utf-8")
    (folder / "events.jsonl").write_bytes(b"x" * 2048)
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    project = make_project(tmp_path / "project")
    outside = tmp_path / "outside" / "run_x"
    outside.mkdir(parents=True)
    (outside / "status.json").write_text('{"status": "success"}', "utf-8")
    (project / "run_logs" / "linked").mkdir(parents=True)
    (project / "run_logs" / "linked" / "run_x").symlink_to(outside)
    (project / "run_logs" / "notes").mkdir()
    (project / "run_logs" / "notes" / "scratch").mkdir()  # no status.json: not a run
    return {
        "project": project,
        "outside": outside,
        "old": fake_run(project, "orders", "run_old", 30),
        "recent": fake_run(project, "orders", "run_recent", 1),
        "week": fake_run(project, "sales", "run_week", 8),
        # an old run still going: its process (this one) is alive
        "running": fake_run(
            project, "sales", "run_live", 40, status="running", finished_at=None, pid=os.getpid()
        ),
        # a run whose process died mid-run is failed (and old): it may go
        "dead": fake_run(
            project, "sales", "run_dead", 20, status="running", finished_at=None, pid=2**22 + 7
        ),
    }


def test_logs_gc_dry_run_deletes_nothing_and_says_what_it_would(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = runs["project"]

    code, out, _ = cli(
        capsys, "logs", "gc", "--days", "7", "--dry-run", "--json", "--project", str(project)
    )

    summary = json.loads(out)
    assert (code, summary["dry_run"], summary["planned"]) == (0, True, 3)
    assert [r["run_id"] for r in summary["runs"]] == ["run_old", "run_dead", "run_week"]
    assert {r["reason"] for r in summary["runs"]} == {"older than 7 days"}
    assert sorted(summary["skipped"], key=lambda s: s["path"]) == [
        {"path": "linked/run_x", "reason": "a symlink: never followed"},
        {"path": "notes/scratch", "reason": "no readable status.json: not a run folder"},
        {"path": "sales/run_live", "reason": "running"},
    ]
    assert all(path.exists() for path in runs.values())


def test_logs_gc_deletes_old_runs_only_and_never_a_running_one(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = runs["project"]
    where = ["--days", "7", "--project", str(project)]
    _, out, _ = cli(capsys, "logs", "gc", "--dry-run", "--json", *where)
    planned = json.loads(out)["planned_bytes"]

    code, out, _ = cli(capsys, "logs", "gc", *where)

    assert code == 0
    assert out.splitlines()[-1] == f"deleted 3 run(s), freed {planned / 1024:.1f} KB; 1 kept"
    assert [name for name, path in runs.items() if not path.exists()] == ["old", "week", "dead"]
    assert (runs["outside"] / "status.json").exists()


def test_logs_gc_max_gb_removes_oldest_first(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = runs["project"]

    # no age limit that matters; a size limit of ~1 run: the oldest go first
    code, out, _ = cli(
        capsys,
        *("logs", "gc", "--days", "365", "--max-gb", str(3000 / 1024**3)),
        *("--json", "--project", str(project)),
    )

    summary = json.loads(out)
    assert code == 0
    assert [r["run_id"] for r in summary["runs"]] == ["run_old", "run_dead", "run_week"]
    assert summary["deleted"] == 3
    assert runs["recent"].exists() and runs["running"].exists()


def test_maintenance_clean_takes_its_days_from_a_0_5_7_osiris_yaml(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = runs["project"]
    (project / "osiris.yaml").write_text(
        "version: '2.0'\nfilesystem:\n  retention:\n    run_logs_days: 25\n", "utf-8"
    )

    code, out, _ = cli(capsys, "maintenance", "clean", "--json", "--project", str(project))

    summary = json.loads(out)
    assert (code, summary["limits"], summary["deleted"]) == (
        0,
        {"days": 25.0, "max_bytes": None},
        1,
    )
    assert not runs["old"].exists() and runs["dead"].exists() and runs["week"].exists()


def test_gc_options_belong_to_gc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "logs", "list", "--days", "3", "--project", str(tmp_path))
    assert (code, err) == (
        2,
        "osiris: error: --days, --max-gb and --dry-run go with `osiris logs gc`\n",
    )
    code, _, err = cli(capsys, "logs", "gc", "--days", "-1", "--project", str(tmp_path))
    assert (code, err) == (2, "osiris: error: --days and --max-gb must not be negative\n")
