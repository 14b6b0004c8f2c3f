"""The typed plan: a `Manifest` round-trips to the same bytes, and `Build` is the one way a
plan is read — verified, and refused when another compiler or other specs made it, on the
command line as over MCP."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import canonical
from compiler.compile import default_context
from compiler.emit import compile_source
from compiler.manifest import Manifest, verify
from runtime.adapters import RunRequest
from runtime.adapters.local import run_build
from runtime.builds import Build, PlanError, read_build
from tests.runtime.test_runner import CONNECTIONS, EXTRACT, ORDERS, PAID, WRITE, build, pipeline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "pipelines").glob("*.yaml"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    return tmp_path


def compiled(project: Path) -> Path:
    """The runner tests' CSV -> transform -> CSV plan, built in `project`."""
    return build(project, pipeline(EXTRACT, PAID, WRITE))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_manifest_round_trips_through_the_type_to_the_same_bytes(
    example: Path,
) -> None:
    result = compile_source(example.read_bytes(), default_context())
    assert result.ok, result.diagnostics
    data = result.files["manifest.yaml"]
    manifest = Manifest.from_bytes(data)
    assert manifest.to_bytes() == data
    assert manifest.hash == result.manifest_hash
    assert manifest.sealed() == manifest  # sealing a sealed manifest changes nothing


def test_a_build_loads_typed_with_its_configs_and_targets(project: Path) -> None:
    loaded = Build.load(compiled(project))
    assert [s.id for s in loaded.steps()] == ["orders", "paid", "write"]
    assert loaded.steps()[1].input_tables["orders"] == "orders"  # and 0.5.7's df_orders
    assert loaded.configs["write"]["path"] == "out/paid.csv"
    assert [(t["step"], t["kind"]) for t in loaded.write_targets()] == [("write", "file")]
    assert not loaded.writes_tables
    assert loaded.stale() is None


def test_a_build_asked_for_by_another_hash_is_refused(project: Path) -> None:
    folder = compiled(project)
    with pytest.raises(PlanError) as refused:
        Build.load(folder, "0" * 64)
    assert refused.value.code == "other_plan"


def reseal(folder: Path, **fingerprints: str) -> None:
    """Edit the manifest's fingerprints and seal it again, as a build made by another
    toolchain would be: the files verify, the toolchain differs."""
    manifest = Manifest.from_bytes((folder / "manifest.yaml").read_bytes())
    manifest = dataclasses.replace(
        manifest, fingerprints=dataclasses.replace(manifest.fingerprints, **fingerprints)
    ).sealed()
    (folder / "manifest.yaml").write_bytes(manifest.to_bytes())
    meta = json.loads((folder / "meta.json").read_text())
    meta["manifest_hash"] = manifest.hash
    (folder / "meta.json").write_bytes(canonical.json_file(meta))
    assert verify(read_build(folder)) == []


def test_a_plan_from_another_compiler_is_stale_for_the_runtime_too(project: Path) -> None:
    folder = compiled(project)
    reseal(folder, compiler_fp="sha256:" + "1" * 64)
    assert Build.load(folder).stale() == "another version of the compiler"
    with pytest.raises(PlanError) as refused:
        run_build(RunRequest(folder, project))
    assert refused.value.code == "stale"
    assert not (project / "out").exists()  # nothing ran


def test_osiris_run_refuses_a_stale_build_as_mcp_does(project: Path) -> None:
    folder = compiled(project)
    reseal(folder, registry_fp="sha256:" + "2" * 64)
    done = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", "run", str(folder), "--project", str(project)],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "component specs that have changed since" in done.stderr
    assert "hint: compile the OML again" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "out").exists()


def test_the_runner_returns_what_status_json_says(project: Path) -> None:
    collected = run_build(RunRequest(compiled(project), project))
    status = json.loads((collected.session_dir / "status.json").read_text())
    assert collected.status == status["status"] == "success"
    assert collected.steps == status["steps"]
    assert collected.duration_ms == status["duration_ms"]
    assert (project / "out" / "paid.csv").read_text().split() == ["id,amount", "1,10.50", "3,5.00"]
