"""The compiled output of every example and of edge cases, as reviewed snapshots.

Each snapshot is the whole build (manifest, bound configs, meta, lineage) of one
pipeline: any change to what the compiler emits shows up as a readable diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


def render_build(files: dict[str, bytes], diagnostics: list[Any]) -> str:
    parts = []
    for diagnostic in diagnostics:
        where = f"{diagnostic.line}:{diagnostic.column}"
        parts.append(f"# {diagnostic.severity}[{diagnostic.code}] {where} {diagnostic.message}")
    for name, data in files.items():
        parts.append(f"# ==== {name} ====")
        parts.append(data.decode("utf-8").rstrip("\n"))
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
