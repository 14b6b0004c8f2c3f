"""`run_pipeline` with `engine: spark` through a real MCP client: the run writes the rows
the DuckDB engine writes, the server keeps answering while a Spark run computes, and
`run_cancel` stops the Spark jobs with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.mcp.conftest import QUICKSTART, connect, error_text, fails, make_server, ok
from tests.mcp.test_runs import SLOW, compiled
from tests.spark.conftest import file_rows, same_rows
from tests.spark_session import spark

pytestmark = pytest.mark.anyio
__all__ = ["spark"]  # the compile-time check's session: the test skips without Java

OUTPUT = Path("output") / "revenue_by_customer.csv"


async def test_a_spark_run_writes_the_rows_the_duckdb_run_writes(project: Path, spark: Any) -> None:
    async with connect(make_server(project)) as client:
        duck = await ok(
            client,
            "run_pipeline",
            {"manifest_hash": await compiled(client, QUICKSTART), "wait_s": 60},
        )
        assert duck["status"] == "success", duck
        expected = file_rows(project / OUTPUT)
        (project / OUTPUT).unlink()

        manifest_hash = await compiled(client, QUICKSTART, engine="spark")
        run = await ok(
            client,
            "run_pipeline",
            {"manifest_hash": manifest_hash, "engine": "spark", "wait_s": 120},
        )
        while not run["finished"]:  # a JVM to start first: on a loaded machine, minutes
            run = await ok(client, "run_status", {"run_id": run["run_id"], "wait_s": 60})
        assert run["status"] == "success", run
        assert [s["status"] for s in run["steps"]] == ["success"] * 4
        # the example's last step orders its rows: the same rows in the same order
        assert same_rows(file_rows(project / OUTPUT), expected, keep_order=True)


async def test_the_server_answers_while_a_spark_run_computes_and_cancel_stops_it(
    project: Path, spark: Any
) -> None:
    async with connect(make_server(project)) as client:
        manifest_hash = await compiled(client, SLOW, engine="spark")
        started = await ok(
            client, "run_pipeline", {"manifest_hash": manifest_hash, "engine": "spark", "wait_s": 0}
        )
        run_id = started["run_id"]
        # a 60^5-row cross join: minutes of Spark work on 2 cores, seconds of calls here
        for _ in range(3):
            assert (await ok(client, "connections_list"))["connections"]
            assert (await ok(client, "oml_validate", {"oml": QUICKSTART}))["valid"] is True
            status = await ok(client, "run_status", {"run_id": run_id, "wait_s": 1})
            assert status["finished"] is False, status
        assert status["status"] == "running"

        cancelled = await ok(client, "run_cancel", {"run_id": run_id, "wait_s": 60})
        assert cancelled["cancel_requested"] is True
        while not cancelled["finished"]:  # the Spark jobs stop at their next task boundary
            cancelled = await ok(client, "run_status", {"run_id": run_id, "wait_s": 30})
        assert cancelled["status"] == "cancelled" and cancelled["finished"] is True, cancelled
        assert not (project / "output" / "never.csv").exists()
        steps = {s["id"]: s["status"] for s in cancelled["steps"]}
        assert steps["keep"] != "success", steps


async def test_a_plan_compiled_for_duckdb_alone_is_refused_by_the_spark_engine(
    client: Client,
) -> None:
    manifest_hash = await compiled(client, QUICKSTART)
    arguments = {"manifest_hash": manifest_hash, "engine": "spark", "wait_s": 0}
    assert await fails(client, "run_pipeline", arguments) == "engine_unsupported"
    result = await client.call_tool("run_pipeline", arguments)
    assert "--engine spark" in error_text(result) or "engine: spark" in error_text(result)
