"""`osiris compile --engine spark`: the plan carries each transform's Spark SQL, checked by
Spark's own parser; the engine keys the compile cache; what Spark lacks, or a machine
without Java or pyspark, is a diagnostic with its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.manifest import Manifest
from osiris_mcp.cli import main
from tests.conftest import lay_out_quickstart
from tests.spark_session import spark

__all__ = ["spark"]  # the shared session fixture

ROOT = Path(__file__).resolve().parents[2]

#: A transform whose Spark SQL only Spark's analyzer can refuse: DuckDB has the
#: function (sqlglot knows it, and renames it for Spark), Spark does not.
TRUSTED = """oml_version: "0.1.0"
name: h18compile-similar
steps:
  - id: customers
    component: filesystem.csv_extractor
    mode: read
    config: {connection: "@filesystem.local", path: data/customers.csv}
  - id: close
    component: duckdb.processor
    mode: transform
    needs: [customers]
    config:
      query: |
        SELECT name,
               jaro_winkler_similarity(name, 'Ada') AS score
        FROM df_customers
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = lay_out_quickstart(tmp_path / "h18compile")
    (root / "pipelines" / "similar.yaml").write_text(TRUSTED, "utf-8")
    return root


def compile_json(project: Path, *extra: str, pipeline: str = "quickstart") -> tuple[int, Any]:
    out = _run(project, "--json", *extra, pipeline=pipeline)
    return out[0], json.loads(out[1])


def _run(project: Path, *extra: str, pipeline: str = "quickstart") -> tuple[int, str, str]:
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    stdout, stderr = StringIO(), StringIO()
    path = str(project / "pipelines" / f"{pipeline}.yaml")
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(["compile", path, "--project", str(project), *extra])
    return code, stdout.getvalue(), stderr.getvalue()


def test_compile_for_spark_records_the_spark_sql(project: Path, spark: Any) -> None:
    code, summary = compile_json(project, "--engine", "spark")
    assert code == 0 and summary["ok"] and summary["engines"] == ["duckdb", "spark"]
    build = Path(summary["build_dir"])
    manifest = Manifest.from_bytes((build / "manifest.yaml").read_bytes())
    revenue = manifest.step("revenue")
    assert revenue is not None and revenue.spark_sql is not None
    assert revenue.spark_sql.startswith("SELECT c.customer_id, c.name, c.country, COUNT(*)")
    assert "ORDER BY revenue DESC, c.customer_id NULLS LAST" in revenue.spark_sql
    cfg = json.loads((build / "cfg" / "revenue.json").read_text("utf-8"))
    assert cfg["query"].startswith("SELECT c.customer_id,\n")  # the DuckDB query, as written
    meta = json.loads((build / "meta.json").read_text("utf-8"))
    assert meta["engines"] == ["duckdb", "spark"]
    # the check writes nothing beside the build: no spark-warehouse in the project or here
    assert not (project / "spark-warehouse").exists()
    assert not (Path.cwd() / "spark-warehouse").exists()


def test_the_engine_keys_the_compile_cache(project: Path, spark: Any) -> None:
    code, duckdb_only = compile_json(project)
    assert code == 0 and "engines" not in duckdb_only
    code, for_spark = compile_json(project, "--engine", "spark")
    assert code == 0 and not for_spark["cached"]  # a DuckDB build is not a Spark plan
    assert for_spark["manifest_hash"] != duckdb_only["manifest_hash"]
    for spelled in (["--engine", "duckdb,spark"], ["--engine", "spark", "--engine", "duckdb"]):
        code, again = compile_json(project, *spelled)
        assert code == 0 and again["cached"], spelled
        assert again["manifest_hash"] == for_spark["manifest_hash"]
    code, duckdb_again = compile_json(project, "--engine", "duckdb")
    assert duckdb_again["cached"] and duckdb_again["manifest_hash"] == duckdb_only["manifest_hash"]


def test_an_unknown_engine_is_a_usage_error(project: Path) -> None:
    code, out, err = _run(project, "--engine", "sprak")
    assert code == 2 and out == ""
    assert (
        "--engine 'sprak' is not an engine (engines: duckdb, spark); did you mean 'spark'?" in err
    )


def test_spark_refuses_a_function_it_lacks_at_its_place(project: Path, spark: Any) -> None:
    code, out, _ = _run(project, "--engine", "spark", pipeline="similar")
    assert code == 2
    assert out.splitlines()[:4] == [
        f"{project / 'pipelines' / 'similar.yaml'}:15:16: error[SQL418]: Spark refuses the "
        "query as compiled for it: [UNRESOLVED_ROUTINE] Cannot resolve routine "
        "`JAROWINKLER_SIMILARITY`",
        "  15 |                jaro_winkler_similarity(name, 'Ada') AS score",
        "     |                ^^^^^^^^^^^^^^^^^^^^^^^",
        "     = hint: the step would fail on Spark: write it with functions both engines "
        "have (docs/oml.md, Compiling for Spark)",
    ]
    assert not list((project / "build").glob("h18compile-similar/*"))  # no build written
    code, _, _ = _run(project, pipeline="similar")  # DuckDB alone has the function
    assert code == 0


def _without(project: Path, env: dict[str, str], prelude: str = "") -> tuple[int, Any]:
    path = str(project / "pipelines" / "quickstart.yaml")
    code = (
        f"{prelude}import json, sys; from osiris_mcp.cli import main; "
        f"sys.exit(main(['compile', {path!r}, '--project', {str(project)!r}, "
        "'--engine', 'spark', '--json']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    return done.returncode, json.loads(done.stdout)


def test_no_java_is_a_diagnostic_with_the_fix(project: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path / "no-java-here")
    code, summary = _without(project, env)
    assert code == 2 and not summary["ok"]
    (found,) = [d for d in summary["diagnostics"] if d["code"] == "SQL419"]
    assert found["message"] == (
        "the Spark SQL could not be checked: Java is not installed (Spark's parser runs in a JVM)"
    )
    assert "Java 17" in found["hint"] and (found["line"], found["column"]) == (27, 14)


def test_no_pyspark_is_a_diagnostic_with_the_fix(project: Path) -> None:
    code, summary = _without(
        project, dict(os.environ), "import sys; sys.modules['pyspark'] = None; "
    )
    assert code == 2
    (found,) = [d for d in summary["diagnostics"] if d["code"] == "SQL419"]
    assert found["message"] == "the Spark SQL could not be checked: pyspark is not installed"
    assert found["hint"] == "install the Spark extra: pip install 'osiris-oml[spark]'"
