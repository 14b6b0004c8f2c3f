"""The compiled output of every example and of edge cases, as reviewed snapshots.

Each snapshot is the whole build (manifest, bound configs, meta, lineage) of one
pipeline: any change to what the compiler emits shows up as a readable diff. A snapshot
records the program, not the machine: the library versions that `meta.json` lists differ
between two correct installs of this checkout, so the snapshot keeps their names only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler import canonical, emit
from compiler.compile import default_context
from compiler.emit import compile_source
from tests.snapshot_files import YamlSnapshot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "pipelines").glob("*.yaml"))

EDGE_CASES: dict[str, str] = {
    "when_retry_timeout": """oml_version: "0.1.0"
name: edge-when-retry
params:
  env: {type: string, default: dev, enum: [dev, prod]}
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: extract
    retry: {max_attempts: 3, backoff_ms: 250}
    timeout_s: 60
    config: {path: data/orders.csv}
  - id: publish
    component: filesystem.csv_writer
    mode: write
    when: "${steps.orders.rows_read} > 0 and ${params.env} == 'prod'"
    inputs: {df: "${orders.output.df}"}
    config: {path: "out/${params.env}/orders.csv", delimiter: ";"}
""",
    "older_key_names": """oml_version: "0.1.0"
name: edge-aliases
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config: {connection: "@mysql", table: customers, columns: [id, email]}
  - id: load
    component: mysql.writer
    mode: write
    inputs: {df: "${extract.df}"}
    config: {connection: "@mysql.warehouse", table: customers, mode: upsert, upsert_keys: [id]}
""",
    "parallel_branches": """oml_version: "0.1.0"
name: edge-branches
steps:
  - {id: b_source, component: filesystem.csv_extractor, mode: read, config: {path: b.csv}}
  - {id: a_source, component: filesystem.csv_extractor, mode: read, config: {path: a.csv}}
  - id: joined
    component: duckdb.processor
    mode: transform
    inputs: {a: "${a_source.df}", b: "${b_source.df}"}
    config: {query: "SELECT a.id, b.total FROM a JOIN df_b_source AS b USING (id)"}
  - id: out
    component: filesystem.csv_writer
    mode: write
    needs: [a_source]
    inputs: {df: "${joined.df}"}
    config: {path: out/joined.csv}
""",
}


# Osiris's own version and the grammar hash are the program; every other toolchain entry
# is a library whose patch release may differ between two installs.
PROGRAM_TOOLCHAIN = ("osiris", "grammar")


def machine_free(name: str, data: bytes) -> bytes:
    """A build file with the installed library versions replaced by a placeholder."""
    if name != emit.META:
        return data
    meta = json.loads(data)
    meta["toolchain"] = {
        key: value if key in PROGRAM_TOOLCHAIN else "<installed>"
        for key, value in meta["toolchain"].items()
    }
    return canonical.json_file(meta)


def render_build(files: dict[str, bytes], diagnostics: list[Any]) -> str:
    parts = []
    for diagnostic in diagnostics:
        where = f"{diagnostic.line}:{diagnostic.column}"
        parts.append(f"# {diagnostic.severity}[{diagnostic.code}] {where} {diagnostic.message}")
    for name, data in files.items():
        parts.append(f"# ==== {name} ====")
        parts.append(machine_free(name, data).decode("utf-8").rstrip("\n"))
    return "\n".join(parts) + "\n"


@pytest.fixture
def snapshot_yaml(snapshot: Any) -> Any:
    return snapshot.use_extension(YamlSnapshot)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_build(path: Path, snapshot_yaml: Any) -> None:
    result = compile_source(path.read_bytes(), default_context(), path.name)
    assert result.ok, result.diagnostics
    assert render_build(result.files, result.diagnostics) == snapshot_yaml


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_build(name: str, snapshot_yaml: Any) -> None:
    result = compile_source(EDGE_CASES[name], default_context(), f"{name}.yaml")
    assert result.ok, result.diagnostics
    assert render_build(result.files, result.diagnostics) == snapshot_yaml


def test_profile_build(snapshot_yaml: Any) -> None:
    path = ROOT / "examples" / "pipelines" / "params_and_profiles.yaml"
    result = compile_source(path.read_bytes(), default_context(profile="dev"), path.name)
    assert result.ok, result.diagnostics
    assert render_build(result.files, result.diagnostics) == snapshot_yaml


def _bumped(version: str, by: int) -> str:
    """The release `by` patches away (x.y.0 minus one is x.(y-1).99)."""
    major, minor, patch = [*version.split("."), "0", "0"][:3]
    number = int(patch.split("+")[0]) + by
    return f"{major}.{minor}.{number}" if number >= 0 else f"{major}.{int(minor) - 1}.99"


@pytest.mark.parametrize("by", [1, -1], ids=["next patch", "previous patch"])
def test_another_library_patch_release_leaves_every_snapshot_as_recorded(
    by: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compile every snapshotted pipeline as if sqlglot, lark and pydantic were one patch
    release apart from this install, and compare with the stored snapshot files."""
    installed = emit._toolchain()
    other = {
        key: value if key in PROGRAM_TOOLCHAIN else _bumped(value, by)
        for key, value in installed.items()
    }
    assert other["sqlglot"] != installed["sqlglot"]
    monkeypatch.setattr(emit, "_toolchain", lambda: other)
    cases = [(f"test_example_build[{p.stem}]", p.read_text(), {}) for p in EXAMPLES]
    cases += [(f"test_edge_case_build[{n}]", EDGE_CASES[n], {}) for n in sorted(EDGE_CASES)]
    profile = ROOT / "examples" / "pipelines" / "params_and_profiles.yaml"
    cases.append(("test_profile_build", profile.read_text(), {"profile": "dev"}))
    for name, source, context in cases:
        result = compile_source(source, default_context(**context), "pipeline.yaml")
        meta = json.loads(result.files[emit.META])
        assert meta["toolchain"]["sqlglot"] == other["sqlglot"]  # the patched map was used
        stored = (ROOT / "snapshots" / "manifests" / f"{name}.yaml").read_text()
        assert render_build(result.files, result.diagnostics) == stored, name
