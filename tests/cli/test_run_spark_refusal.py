"""`osiris run --engine spark BUILD` and MCP `run_pipeline(engine="spark")`: a plan compiled
for DuckDB only — its transforms have no Spark SQL — is refused before anything starts,
with the command that compiles it for Spark. The engine never transpiles a query at run
time: what Spark cannot express is a diagnostic of `osiris compile --engine spark`."""

from __future__ import annotations

import json
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
from mcp import Client

from osiris_mcp.cli import main
from runtime.builds import Build, PlanError
from tests.conftest import lay_out_quickstart
from tests.mcp.conftest import QUICKSTART, anyio_backend, client, error_text, mode, ok, project

__all__ = ["anyio_backend", "client", "mode", "project"]  # the MCP tests' fixtures


def osiris(*args: str) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(list(args))
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_plan_compiled_for_duckdb_only_is_refused_by_the_spark_engine(tmp_path: Path) -> None:
    project = lay_out_quickstart(tmp_path / "h18rt")
    pipeline = project / "pipelines" / "quickstart.yaml"
    code, out, err = osiris("compile", str(pipeline), "--project", str(project), "--json")
    assert code == 0, err
    build = Path(json.loads(out)["build_dir"])
    assert project / "build" in build.parents
    sessions = project / "run_logs"
    before = sorted(sessions.rglob("status.json")) if sessions.exists() else []

    code, out, err = osiris("run", "--engine", "spark", str(build), "--project", str(project))

    assert code == 2, (out, err)
    assert err.splitlines() == [
        "osiris: error: the plan was compiled for DuckDB only: its step revenue "
        "(duckdb.processor) has no Spark SQL",
        "  hint: compile it for Spark: `osiris compile --engine spark FILE.yaml` (MCP: "
        "oml_compile with engine 'spark') and run that build, or `osiris run --engine spark "
        "FILE.yaml`, which compiles for Spark",
    ]
    assert not (project / "output").exists()  # nothing ran: no writer wrote
    assert (sorted(sessions.rglob("status.json")) if sessions.exists() else []) == before


@pytest.mark.anyio
async def test_run_pipeline_on_spark_refuses_a_plan_for_duckdb_only(
    client: Client, project: Path
) -> None:
    plan = await ok(client, "oml_compile", {"oml": QUICKSTART})
    arguments = {"manifest_hash": plan["manifest_hash"], "engine": "spark"}
    result = await client.call_tool("run_pipeline", arguments)
    assert result.is_error
    assert error_text(result) == (
        "Error executing tool run_pipeline: [engine_unsupported] the plan was compiled for "
        "DuckDB only: its step revenue (duckdb.processor) has no Spark SQL Hint: compile it "
        "for Spark: `osiris compile --engine spark FILE.yaml` (MCP: oml_compile with engine "
        "'spark') and run that build, or `osiris run --engine spark FILE.yaml`, which "
        "compiles for Spark"
    )
    assert list(project.rglob("status.json")) == []  # no run started


def test_the_spark_check_names_every_transform_without_spark_sql(tmp_path: Path) -> None:
    from runtime.spark.engine import check_plan, without_spark_sql

    project = lay_out_quickstart(tmp_path / "h18rt")
    (project / "pipelines" / "two.yaml").write_text(
        'oml_version: "0.1.0"\nname: h18rt-two\nsteps:\n'
        "  - id: orders\n    component: filesystem.csv_extractor\n    mode: read\n"
        '    config: {connection: "@filesystem.local", path: data/orders.csv}\n'
        "  - id: paid\n    component: duckdb.processor\n    mode: transform\n"
        "    needs: [orders]\n    config: {query: SELECT * FROM orders}\n"
        "  - id: big\n    component: duckdb.processor\n    mode: transform\n"
        "    needs: [paid]\n    config: {query: SELECT * FROM paid}\n",
        "utf-8",
    )
    pipeline = project / "pipelines" / "two.yaml"
    code, out, err = osiris("compile", str(pipeline), "--project", str(project), "--json")
    assert code == 0, err
    plan = Build.load(Path(json.loads(out)["build_dir"]))
    assert without_spark_sql(plan) == ["paid", "big"]
    try:
        check_plan(plan)
    except PlanError as refused:
        assert str(refused) == (
            "the plan was compiled for DuckDB only: its steps paid, big (duckdb.processor) "
            "have no Spark SQL"
        )
        assert "osiris compile --engine spark" in (refused.hint or "")
    else:
        raise AssertionError("a plan without Spark SQL passed the Spark check")
