"""Paths: every place one enters Osiris refuses traversal, absolute paths and symlink escapes.

- `oml_save` names and every resource template of the MCP server: what an LLM client
  sends. tests/mcp/test_security.py holds the base cases (`..`, absolute, encoded `%2F`,
  backslashes, a symlinked pipeline or artifact); these add encodings and look-alikes, and
  links inside compiled plans and discovery artifacts.
- A CSV step's `path`, and a `base_dir` written in the step: refused at compile time
  (SEC504) as far as the text shows, and by the driver at run time against the real
  folders — a symlink inside base_dir that points out, a hidden file (`.env`), a writer
  aimed at Osiris's own files (osiris_connections.yaml, build/, run_logs/, pipelines/).
  tests/components/test_file_drivers.py holds the driver's base cases.
- `osiris compile --out DIR`: the user's own choice on their own machine, so any place is
  fine — except one a build would destroy. A build folder is written by replacing the
  folder whole, so DIR must be new, empty or an earlier build (its files and nothing
  else); `--out .`, `--out ~` or a folder of documents is refused and left untouched.
- `--project DIR` (and `$OSIRIS_HOME`): must be an existing folder; nothing is created
  where a typo points.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from mcp import Client

from compiler.compile import check, default_context
from components.filesystem_csv_extractor.driver import CSVExtractorDriver
from components.filesystem_csv_writer.driver import CSVWriterDriver
from components.protocol import DriverError
from osiris_mcp.project import Project, UnsafePath, pipeline_file
from tests.components.filectx import FilePlane
from tests.conftest import ROOT
from tests.mcp.conftest import QUICKSTART, connect, fails, make_server, ok

SECRET = "Path-Canary-4e8d1c"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the quick start, its data, and a secret file beside it."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "data", root / "data")
    (root / "pipelines").mkdir()
    shutil.copy(ROOT / "examples" / "pipelines" / "quickstart.yaml", root / "pipelines")
    (root / "osiris_connections.yaml").write_text(
        "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
    )
    (root / ".env").write_text(f"SECRET={SECRET}\n")
    (tmp_path / "outside.csv").write_text(f"secret\n{SECRET}\n")
    return root


def osiris(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", *args],
        cwd=project,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("OSIRIS_")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes; Osiris's own state (.osiris/: audit log,
    caches) left out, as it changes with every call."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".osiris" not in p.relative_to(root).parts
    }


# -- MCP: oml_save names and resource templates ---------------------------------------------------

LOOK_ALIKE_NAMES = [
    "%2e%2e%2fescape",
    "..%2fescape",
    "\uff0e\uff0e\uff0fescape",  # full-width dots and solidus
    "x\u2215escape",  # division slash
    "x\u2044escape",  # fraction slash
    "escape\u0000.yaml",
    "C:\\escape",
    "escape.yaml/..",
    "escape.",
    " escape",
    "esc ape",
    "\u202eescape",  # right-to-left override
]


@pytest.mark.parametrize("name", LOOK_ALIKE_NAMES)
def test_pipeline_names_that_only_look_plain_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        pipeline_file(Project(tmp_path), name)


@pytest.mark.anyio
async def test_oml_save_refuses_look_alike_names(project: Path) -> None:
    before = tree(project.parent)
    async with connect(make_server(project)) as client:
        for name in LOOK_ALIKE_NAMES:
            assert await fails(client, "oml_save", {"name": name, "oml": QUICKSTART}) in (
                "invalid_name",
                "invalid_arguments",
            ), name
    assert tree(project.parent) == before


async def _refused(client: Client, uri: str) -> str:
    try:
        found = await client.read_resource(uri)
    except Exception as err:
        return str(err)
    raise AssertionError(f"{uri} was served: {found.model_dump_json()[:300]}")


@pytest.mark.anyio
async def test_resources_refuse_encodings_look_alikes_and_links(project: Path) -> None:
    (project.parent / "secret.txt").write_text(SECRET)
    async with connect(make_server(project)) as client:
        plan = await ok(client, "oml_compile", {"pipeline": "quickstart"})
        run = await ok(
            client, "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 60}
        )
        digest, run_id = plan["manifest_hash"], run["run_id"]
        build = next((project / "build").glob(f"*/{digest[:12]}"))
        session = next((project / "run_logs").glob(f"*/{run_id}"))
        (build / "cfg" / "link.json").symlink_to(project.parent / "secret.txt")
        (session / "artifacts" / "outside").symlink_to(project.parent)
        (session / "artifacts" / "env").symlink_to(project / ".env")
        uris = [
            f"osiris://runs/{run_id}/%252e%252e%252f%252e%252e%252fsecret.txt",
            f"osiris://runs/{run_id}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
            f"osiris://runs/{run_id}/\uff0e\uff0e/\uff0e\uff0e/secret.txt",
            f"osiris://runs/{run_id}/artifacts/outside/secret.txt",
            f"osiris://runs/{run_id}/artifacts/env",
            f"osiris://runs/{run_id}/.env",
            f"osiris://runs/{run_id}//etc/passwd",
            f"osiris://runs/{run_id}/artifacts/%00/x",
            "osiris://runs/..%2F..%2F..%2Fsecret.txt/status.json",
            f"osiris://manifests/{digest}/cfg/link.json",
            f"osiris://manifests/{digest}/cfg/..%2F..%2F..%2F..%2F..%2Fsecret.txt",
            f"osiris://manifests/{digest.upper()}/manifest.yaml",
            "osiris://examples/quickstart%2F..%2F..%2F..%2Fpyproject",
            "osiris://examples/..",
            "osiris://components/filesystem.csv_writer%2F..%2F..",
            "osiris://discovery/disc_0123456789abcdef/%2e%2e",
        ]
        for uri in uris:
            message = await _refused(client, uri)
            assert SECRET not in message and "Traceback" not in message, uri
            # refused by our checks, or before them by the SDK's own path-safety policy
            refusals = ("invalid_name", "not_found", "Unknown resource")
            assert any(word in message for word in refusals), (uri, message)
        good = await client.read_resource(f"osiris://manifests/{digest}/manifest.yaml")
        assert good.contents


# -- CSV paths: compile time ---------------------------------------------------------------------


def csv_doc(config: str, component: str = "filesystem.csv_extractor") -> str:
    mode = "read" if component.endswith("extractor") else "write"
    inputs = ""
    steps = ""
    if mode == "write":
        steps = (
            "  - id: src\n    component: filesystem.csv_extractor\n    mode: read\n"
            "    config: {path: data/orders.csv}\n"
        )
        inputs = '    inputs: {df: "${src.df}"}\n'
    return (
        'oml_version: "0.1.0"\nname: paths\nsteps:\n'
        + steps
        + f"  - id: step\n    component: {component}\n    mode: {mode}\n{inputs}"
        + f"    config: {config}\n"
    )


@pytest.mark.parametrize("component", ["filesystem.csv_extractor", "filesystem.csv_writer"])
@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ('{path: "../outside.csv"}', "'path' leaves the base folder"),
        ('{path: "data/../../outside.csv"}', "'path' leaves the base folder"),
        ('{path: "..\\\\outside.csv"}', "'path' leaves the base folder"),
        ('{path: "/etc/passwd"}', "'path' is an absolute path"),
        ('{path: "~/.ssh/id_rsa"}', "'path' is an absolute path"),
        ('{path: "C:\\\\Windows\\\\win.ini"}', "'path' is an absolute path"),
        ('{path: ".env"}', "'path' names a hidden file or folder"),
        ('{path: "data/../.osiris/mcp/audit.jsonl"}', "'path' names a hidden file or folder"),
        ('{path: "data/\\0.csv"}', "'path' contains a NUL character"),
        ("{path: x.csv, base_dir: /etc}", "'base_dir' is an absolute path"),
        ('{path: x.csv, base_dir: "~"}', "'base_dir' is an absolute path"),
        ("{path: x.csv, base_dir: ../..}", "'base_dir' leaves the base folder"),
        ("{path: x.csv, base_dir: .ssh}", "'base_dir' names a hidden file or folder"),
    ],
)
def test_csv_paths_refused_at_compile_time(config: str, problem: str, component: str) -> None:
    program = check(csv_doc(config, component), default_context())
    found = [(d.code, d.message) for d in program.diagnostics if d.is_error]
    assert len(found) == 1 and found[0][0] == "SEC504", found
    assert found[0][1].startswith(problem), found


@pytest.mark.parametrize(
    "config", ["{path: data/orders.csv}", "{path: orders.csv, base_dir: data}", "{path: ./x.csv}"]
)
def test_csv_paths_inside_the_project_compile(config: str) -> None:
    program = check(csv_doc(config), default_context())
    assert [d.code for d in program.diagnostics if d.is_error] == []


# -- CSV paths: run time, through the real command line ------------------------------------------


def run_pipeline(project: Path, config: str, component: str) -> tuple[int, dict[str, Any]]:
    (project / "pipelines" / "paths.yaml").write_text(csv_doc(config, component))
    code, out = osiris(project, "run", "pipelines/paths.yaml", "--json")
    return code, json.loads(out[out.index("{") : out.rindex("}") + 1])


@pytest.mark.parametrize("component", ["filesystem.csv_extractor", "filesystem.csv_writer"])
@pytest.mark.parametrize(
    ("config", "setup", "message"),
    [
        ("{path: data/out/outside.csv}", "outward link", "leads outside the base directory"),
        ("{path: data/env.csv}", "env link", "names a hidden file or folder"),
        ("{path: linked/outside.csv}", "linked base", "leads outside the base directory"),
    ],
)
def test_csv_symlinks_that_leave_are_refused_when_run(
    project: Path, component: str, config: str, setup: str, message: str
) -> None:
    """What the text cannot show — a symlink inside the base folder that points out, or at
    a hidden file — the driver refuses against the real folders."""
    if setup == "outward link":
        (project / "data" / "out").symlink_to(project.parent)
    elif setup == "env link":
        (project / "data" / "env.csv").symlink_to(project / ".env")
    else:
        (project / "linked").symlink_to(project.parent)
    outside = (project.parent / "outside.csv").read_bytes()
    code, result = run_pipeline(project, config, component)
    (failed,) = [s for s in result["steps"] if s["status"] == "failed"]
    assert (code, failed["id"], failed.get("category")) == (1, "step", "config"), result
    assert message in failed["error"], failed
    assert SECRET not in json.dumps(result)
    assert (project.parent / "outside.csv").read_bytes() == outside
    assert (project / ".env").read_text() == f"SECRET={SECRET}\n"


@pytest.mark.parametrize(
    "path",
    [
        "osiris_connections.yaml",
        "pipelines/quickstart.yaml",
        "build/evil.csv",
        "run_logs/evil.csv",
        "data/../pipelines/new.yaml",
    ],
)
def test_a_writer_never_replaces_osiris_own_files(project: Path, path: str) -> None:
    """A prompt-injected plan could otherwise point a connection at another host by
    rewriting osiris_connections.yaml, or replace a saved pipeline without consent."""
    (project / "build").mkdir(exist_ok=True)
    (project / "run_logs").mkdir(exist_ok=True)
    before = tree(project)
    code, result = run_pipeline(project, f"{{path: {path}}}", "filesystem.csv_writer")
    (failed,) = [s for s in result["steps"] if s["status"] == "failed"]
    assert (code, failed.get("category")) == (1, "config"), result
    assert "a writer may not replace it" in failed["error"]
    after = tree(project)
    assert {k: v for k, v in after.items() if k in before} == before
    target = os.path.normpath(path)
    assert target in before or target not in after


@pytest.mark.anyio
async def test_over_mcp_a_plan_cannot_rewrite_the_connections_file(project: Path) -> None:
    evil = csv_doc("{path: osiris_connections.yaml, header: false}", "filesystem.csv_writer")
    before = (project / "osiris_connections.yaml").read_bytes()
    async with connect(make_server(project)) as client:
        plan = await ok(client, "oml_compile", {"oml": evil})
        run = await ok(
            client, "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 60}
        )
        assert run["status"] == "failed", run
    assert (project / "osiris_connections.yaml").read_bytes() == before


def test_a_step_base_dir_outside_the_project_is_refused_by_the_driver(tmp_path: Path) -> None:
    """The driver's own check, for a plan that was not compiled here (a hand-made build)."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.csv").write_text("a\n1\n")
    plane = FilePlane(project, duckdb.connect(str(tmp_path / "plane.duckdb")))
    plane.connection.execute("CREATE TABLE t AS SELECT 1 AS a")
    for base in (str(tmp_path), "..", "data/../.."):
        with pytest.raises(DriverError) as read:
            CSVExtractorDriver().run(
                plane.context("r"), {"path": "outside.csv", "base_dir": base}, {}
            )
        with pytest.raises(DriverError) as written:
            CSVWriterDriver().run(
                plane.context("w"), {"path": "outside.csv", "base_dir": base}, {"df": "t"}
            )
        for refused in (read.value, written.value):
            assert refused.category == "config"
            assert "leads outside the project" in str(refused)
    assert (tmp_path / "outside.csv").read_text() == "a\n1\n"


# -- osiris compile --out ------------------------------------------------------------------------


def test_out_may_be_a_new_an_empty_or_an_earlier_build_folder(project: Path) -> None:
    new = project.parent / "new" / "build"
    empty = project.parent / "empty"
    empty.mkdir()
    for target in (new, empty, new):  # new, empty, and an earlier build replaced
        code, out = osiris(
            project,
            "compile",
            "pipelines/quickstart.yaml",
            "--out",
            str(target),
            "--compile",
            "force",
        )
        assert code == 0, out
        assert sorted(p.name for p in target.iterdir()) == [
            "cfg",
            "lineage.json",
            "manifest.yaml",
            "meta.json",
        ]


@pytest.mark.parametrize(
    "target", [".", "..", "data", "home", "link_to_home", "build_with_notes", "a_file"]
)
def test_out_refuses_a_folder_a_build_would_destroy(project: Path, target: str) -> None:
    home = project.parent / "home"
    home.mkdir()
    (home / "thesis.md").write_text("years of work")
    (project.parent / "link_to_home").symlink_to(home)
    (project.parent / "a_file").write_text("not a folder")
    notes = project.parent / "build_with_notes"
    code, out = osiris(project, "compile", "pipelines/quickstart.yaml", "--out", str(notes))
    assert code == 0, out
    (notes / "notes.txt").write_text("mine")
    before = tree(project.parent)

    where = target if target in (".", "data") else str(project.parent / target)
    code, out = osiris(
        project, "compile", "pipelines/quickstart.yaml", "--out", where, "--compile", "force"
    )

    assert code == 2, out
    assert "nothing was written" in out and "Traceback" not in out, out
    assert tree(project.parent) == before


@pytest.mark.parametrize("kind", ["kubernetes", "named_like_a_build", "edited_build"])
def test_out_judges_an_earlier_build_by_its_content(project: Path, kind: str) -> None:
    """File names are not enough: someone's Kubernetes manifest.yaml, a folder of files
    named like a build, or a build edited by hand (its fingerprints no longer match) is
    not an Osiris build `--out` may replace."""
    target = project.parent / kind
    if kind == "edited_build":
        code, out = osiris(project, "compile", "pipelines/quickstart.yaml", "--out", str(target))
        assert code == 0, out
        manifest = target / "manifest.yaml"
        manifest.write_text(manifest.read_text().replace("quickstart", "my_quickstart"))
    else:
        target.mkdir()
        (target / "manifest.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")
        if kind == "named_like_a_build":
            (target / "meta.json").write_text("{}\n")
            (target / "lineage.json").write_text("{}\n")
    before = tree(project.parent)
    code, out = osiris(
        project, "compile", "pipelines/quickstart.yaml", "--out", str(target), "--compile", "force"
    )
    assert code == 2, out
    assert "nothing was written" in out and "Traceback" not in out, out
    assert tree(project.parent) == before


# -- --project and $OSIRIS_HOME -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "pipelines/quickstart.yaml"],
        ["compile", "pipelines/quickstart.yaml"],
        ["run", "pipelines/quickstart.yaml"],
        ["logs", "list"],
        ["connections", "list"],
        ["discover", "@filesystem"],
        ["mcp", "clients"],
    ],
)
@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_project_must_be_an_existing_folder(project: Path, command: list[str], kind: str) -> None:
    chosen = project.parent / ("no_such_dir" if kind == "missing" else "outside.csv")
    before = tree(project.parent)
    code, out = osiris(project, *command, "--project", str(chosen))
    assert code == 2, out
    assert f"--project {chosen}: " in out and "Traceback" not in out, out
    assert tree(project.parent) == before and not (project.parent / "no_such_dir").exists()


def test_osiris_home_must_be_an_existing_folder(project: Path) -> None:
    env = {**os.environ, "OSIRIS_HOME": str(project.parent / "gone")}
    code, out = osiris(project, "run", "pipelines/quickstart.yaml", env=env)
    assert code == 2 and "$OSIRIS_HOME" in out, out
    assert not (project.parent / "gone").exists()


def test_the_mcp_server_refuses_a_missing_project(tmp_path: Path) -> None:
    from osiris_mcp.server import main

    assert main(["--project", str(tmp_path / "gone")]) == 2
    assert not (tmp_path / "gone").exists()


def test_logs_refuse_a_session_that_is_not_a_run_id(project: Path) -> None:
    """With a run on record, so that a pattern (`*`, `run_*`) would have matched it."""
    assert osiris(project, "run", "pipelines/quickstart.yaml")[0] == 0
    for session in ("../../etc", "..", "*", "run_*", "run_[0-9]*", "run_x/../../..", "/etc"):
        code, out = osiris(project, "logs", "bundle", "--session", session, "--project", ".")
        assert code == 2 and "Traceback" not in out and "## Manifest" not in out, (session, out)
