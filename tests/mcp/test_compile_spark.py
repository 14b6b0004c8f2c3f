"""`oml_compile` with `engine: spark`: the plan the tool returns runs on Spark too, its
manifest carries the Spark SQL, and what Spark lacks comes back as diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.mcp.conftest import QUICKSTART, ok
from tests.spark_session import spark

pytestmark = pytest.mark.anyio
__all__ = ["spark"]  # the shared session fixture


async def test_oml_compile_for_spark(client: Client, project: Path, spark: Any) -> None:
    duckdb_only = await ok(client, "oml_compile", {"oml": QUICKSTART})
    assert duckdb_only["engines"] == ["duckdb"]
    plan = await ok(client, "oml_compile", {"oml": QUICKSTART, "engine": "spark"})
    assert plan["ok"] and plan["engines"] == ["duckdb", "spark"] and not plan["cached"]
    assert plan["manifest_hash"] != duckdb_only["manifest_hash"]
    manifest = project / "build" / "quickstart" / plan["manifest_hash"][:12] / "manifest.yaml"
    assert "spark_sql: SELECT c.customer_id, c.name" in manifest.read_text("utf-8")
    again = await ok(client, "oml_compile", {"oml": QUICKSTART, "engine": "spark"})
    assert again["cached"] and again["manifest_hash"] == plan["manifest_hash"]


async def test_oml_compile_for_spark_reports_what_spark_lacks(client: Client) -> None:
    oml = QUICKSTART.replace("count(*)      AS paid_orders", "count(*)")
    failed = await ok(client, "oml_compile", {"oml": oml, "engine": "spark"})
    assert failed["ok"] is False and failed["manifest_hash"] is None
    assert [(d["code"], d["line"], d["column"]) for d in failed["diagnostics"]] == [
        ("SQL417", 31, 16)
    ]
    assert (await ok(client, "oml_compile", {"oml": oml}))["ok"]  # fine for DuckDB alone


async def test_oml_compile_refuses_an_unknown_engine(client: Client) -> None:
    result = await client.call_tool("oml_compile", {"oml": QUICKSTART, "engine": "flink"})
    assert result.is_error
