"""A plan compiled for Spark: every shipped transform has Spark SQL that Spark's own
parser and analyzer accept, the manifest records it (so the hash covers it), the DuckDB
query stays in the cfg, and a plan for DuckDB alone is the plan it always was."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from compiler.emit import compile_source
from compiler.manifest import Manifest
from runtime.app import compile_context
from runtime.spark.check import Query, check_queries
from tests.compat.corpus import COMPAT, corpus

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "pipelines").glob("*.yaml"))
VALID_CORPUS = [e.path for e in corpus() if e.valid]
SPARK = ("duckdb", "spark")

#: Shipped pipelines that do not compile for Spark, with the diagnostic and why (none:
#: every one does; a new example that cannot keeps its reason here).
NOT_FOR_SPARK: dict[str, tuple[str, str]] = {}


def _context(path: Path, **overrides: Any) -> Any:
    project = COMPAT if COMPAT in path.parents else ROOT / "examples"
    return compile_context(project, catalogs=False, **{"engines": SPARK, **overrides})


def _compiled(path: Path, **overrides: Any) -> Any:
    return compile_source(path.read_bytes(), _context(path, **overrides), path.name)


def _transforms(manifest: Manifest) -> list[Any]:
    return [s for s in manifest.in_order() if s.component == "duckdb.processor"]


@pytest.mark.parametrize("path", EXAMPLES + VALID_CORPUS, ids=lambda p: p.stem)
def test_every_shipped_pipeline_compiles_for_spark(path: Path) -> None:
    result = _compiled(path)
    if path.stem in NOT_FOR_SPARK:
        code, _why = NOT_FOR_SPARK[path.stem]
        assert code in {d.code for d in result.diagnostics}
        return
    assert result.ok, [f"{d.code} {d.line}:{d.column} {d.message}" for d in result.diagnostics]
    manifest = result.manifest
    assert manifest is not None and manifest.engines == SPARK and manifest.runs_on("spark")
    for step in _transforms(manifest):
        assert step.spark_sql, step.id
        cfg = json.loads(result.files[step.cfg_path])  # the DuckDB query stays in the cfg
        assert cfg["query"] == result.program.configs[step.id]["query"]


def test_spark_parses_and_analyses_every_shipped_transform(spark: Any) -> None:
    """Spark's parser and analyzer over every transform of the examples and of the valid
    compatibility corpus, over views shaped like each step's inputs."""
    queries: list[Query] = []
    for path in EXAMPLES + VALID_CORPUS:
        result = _compiled(path)
        if not result.ok:
            continue
        for step in _transforms(result.manifest):
            tables = {n: result.program.outputs.get(u) for n, u in step.input_tables.items()}
            assert step.spark_sql is not None
            queries.append(Query(f"{path.stem}/{step.id}", step.spark_sql, tables))
    assert len(queries) >= 20
    assert check_queries(queries) == []


def test_a_plan_for_duckdb_alone_names_no_engine_and_has_no_spark_sql() -> None:
    path = ROOT / "examples" / "pipelines" / "quickstart.yaml"
    duckdb_only = compile_source(path.read_bytes(), _context(path, engines=()), path.name)
    assert duckdb_only.manifest is not None and duckdb_only.manifest.engines == ()
    manifest_text = duckdb_only.files["manifest.yaml"].decode()
    assert "spark_sql" not in manifest_text and "engines" not in manifest_text
    assert "engines" not in json.loads(duckdb_only.files["meta.json"])
    for_spark = _compiled(path)
    assert for_spark.manifest_hash != duckdb_only.manifest_hash
    # the same cfg files: the DuckDB query a Spark plan keeps is the one it always was
    cfgs = {n: b for n, b in duckdb_only.files.items() if n.startswith("cfg/")}
    assert cfgs == {n: b for n, b in for_spark.files.items() if n.startswith("cfg/")}


def test_compiling_for_spark_twice_gives_the_same_bytes() -> None:
    path = ROOT / "examples" / "pipelines" / "params_and_profiles.yaml"
    first, second = _compiled(path), _compiled(path)
    assert first.ok and first.files == second.files
    assert first.manifest_hash == second.manifest_hash


def test_the_hash_changes_when_the_spark_sql_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same OML, same cfg: a translation that writes other Spark SQL is another plan."""
    import sys

    from compiler.sql.spark import Translation, translate

    spark_pass = sys.modules["compiler.passes.spark"]  # the package's `spark` is the pass

    path = ROOT / "examples" / "pipelines" / "quickstart.yaml"
    before = _compiled(path)

    def other(sql: str, types: Any = None) -> Translation:
        found = translate(sql, types)
        return Translation((found.text or "") + " LIMIT 10", found.problems, found.cautions)

    monkeypatch.setattr(spark_pass, "translate", other)
    after = _compiled(path)
    assert after.ok and before.manifest_hash != after.manifest_hash
    assert {n: b for n, b in before.files.items() if n.startswith("cfg/")} == {
        n: b for n, b in after.files.items() if n.startswith("cfg/")
    }
    revenue = after.manifest.step("revenue")
    assert revenue is not None and revenue.spark_sql is not None
    assert revenue.spark_sql.endswith(" LIMIT 10")


def test_the_manifest_reads_back_with_its_spark_sql() -> None:
    result = _compiled(ROOT / "examples" / "pipelines" / "quickstart.yaml")
    again = Manifest.from_bytes(result.files["manifest.yaml"])
    assert again == result.manifest and again.engines == SPARK
    assert again.sealed().hash == result.manifest_hash


SOURCE = """oml_version: "0.1.0"
name: spark-diagnostics
params:
  pattern: {type: string, default: "^a"}
steps:
  - id: films
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/films.csv}
  - id: shaped
    component: duckdb.processor
    mode: transform
    needs: [films]
    config:
      query: |
        SELECT title,
               hash(title) AS h,
               regexp_matches(title, '${params.pattern}', 'x') AS m,
               count(*) OVER ()
        FROM df_films
        WHERE title SIMILAR TO 'A.*'
"""


def test_each_unsupported_construct_is_a_diagnostic_at_its_line_and_column() -> None:
    from compiler.compile import check

    program = check(SOURCE, _context(COMPAT / "x.yaml"), "pipeline.yaml")
    found = [(d.code, d.line, d.column, d.end_column) for d in program.diagnostics if d.is_error]
    assert found == [
        ("SQL415", 17, 16, 20),  # hash
        ("SQL415", 18, 16, 30),  # regexp_matches, with options Spark has no form of
        ("SQL417", 19, 16, 32),  # count(*) OVER (): no name
        ("SQL415", 21, 15, 37),  # title SIMILAR TO 'A.*'
    ]
    hints = {d.code: d.hint for d in program.diagnostics}
    assert hints["SQL417"] and "AS" in hints["SQL417"]
    assert "spark_sql" not in program.spark_sql.get("shaped", "")  # no Spark SQL at all
    assert "shaped" not in program.spark_sql


def test_a_caution_is_a_warning_and_the_plan_still_compiles() -> None:
    source = (
        SOURCE.split("      query: |")[0]
        + "      query: SELECT list(title) AS titles FROM df_films\n"
    )
    result = compile_source(source, _context(COMPAT / "x.yaml"), "pipeline.yaml")
    assert result.ok
    (warning,) = [d for d in result.diagnostics if d.code == "SQL416"]
    assert warning.severity == "warning" and (warning.line, warning.column) == (15, 21)
    step = result.manifest.step("shaped")
    assert (
        step is not None and step.spark_sql == "SELECT COLLECT_LIST(title) AS titles FROM df_films"
    )


def test_without_spark_the_plan_has_no_spark_diagnostics() -> None:
    from compiler.compile import check

    program = check(SOURCE, _context(COMPAT / "x.yaml", engines=()), "pipeline.yaml")
    assert not [d for d in program.diagnostics if d.code in ("SQL415", "SQL416", "SQL417")]
    assert program.spark_sql == {}


def test_a_date_series_spark_cannot_make_is_a_diagnostic_at_its_line_and_column() -> None:
    from compiler.compile import check

    source = (
        SOURCE.split("      query: |")[0]
        + "      query: |\n"
        + "        SELECT CAST(d AS DATE) AS day, title\n"
        + "        FROM df_films,\n"
        + "             range(DATE '2024-01-31', DATE '2024-06-01', INTERVAL 1 MONTH) AS s(d)\n"
    )
    program = check(source, _context(COMPAT / "x.yaml"), "pipeline.yaml")
    (error,) = [d for d in program.diagnostics if d.is_error]
    assert (error.code, error.line, error.column) == ("SQL415", 18, 14)
    assert "by months" in error.message and error.hint and "28th" in error.hint
    assert "shaped" not in program.spark_sql


def test_a_date_series_compiles_to_spark_sql() -> None:
    source = (
        SOURCE.split("      query: |")[0]
        + "      query: >-\n"
        + "        SELECT title, day FROM df_films,\n"
        + "        generate_series(DATE '2024-01-01', DATE '2024-01-03', INTERVAL 1 DAY)\n"
        + "        AS s(day)\n"
    )
    result = compile_source(source, _context(COMPAT / "x.yaml"), "pipeline.yaml")
    assert result.ok, result.diagnostics
    step = result.manifest.step("shaped")
    assert step is not None and step.spark_sql is not None
    assert "EXPLODE(FILTER(SEQUENCE(" in step.spark_sql and step.spark_sql.endswith("AS s(day)")


@pytest.mark.parametrize(
    "module",
    [
        "compiler.passes.spark",
        "compiler.sql.spark",
        "compiler.sql.spark_series",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
