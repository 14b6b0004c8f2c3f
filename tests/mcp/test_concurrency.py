"""Several tool calls at once on one connection: two runs, a discovery, validations, compiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.mcp.conftest import QUICKSTART, REVENUE, connect, make_server, ok, run_mysql

pytestmark = pytest.mark.anyio


def misspelled(i: int) -> str:
    """A pipeline whose one error names `i`, so each answer can be matched to its question."""
    return QUICKSTART.replace("component: duckdb.processor", f"component: duckdb.process_{i}")


@pytest.mark.db
async def test_calls_at_once_stay_isolated(project: Path, shop: dict[str, Any], mode: str) -> None:
    async with connect(make_server(project, writes="confirm"), mode) as client:
        await calls_at_once(client, project, shop)


async def calls_at_once(client: Client, project: Path, shop: dict[str, Any]) -> None:
    quick = (await ok(client, "oml_compile", {"oml": QUICKSTART}))["manifest_hash"]
    revenue = (await ok(client, "oml_compile", {"oml": REVENUE}))["manifest_hash"]
    results: dict[str, Any] = {}

    async def call(key: str, tool: str, arguments: dict[str, Any]) -> None:
        results[key] = await ok(client, tool, arguments)

    async with anyio.create_task_group() as group:
        group.start_soon(call, "run_quick", "run_pipeline", {"manifest_hash": quick, "wait_s": 60})
        group.start_soon(
            call,
            "run_revenue",
            "run_pipeline",
            {"manifest_hash": revenue, "confirm_writes": True, "wait_s": 60},
        )
        group.start_soon(call, "discovery", "discovery_request", {"connection": "@mysql.shop"})
        for i in range(6):
            group.start_soon(call, f"validate_{i}", "oml_validate", {"oml": misspelled(i)})
        for i in range(3):
            oml = QUICKSTART.replace("name: quickstart", f"name: quick-{i}")
            group.start_soon(call, f"compile_{i}", "oml_compile", {"oml": oml})

    assert results["run_quick"]["status"] == "success"
    assert results["run_revenue"]["status"] == "success"
    assert results["run_quick"]["run_id"] != results["run_revenue"]["run_id"]
    assert results["run_quick"]["pipeline"] == "quickstart"
    assert results["run_revenue"]["pipeline"] == "revenue"
    assert {t["name"] for t in results["discovery"]["tables"]} >= {"customers", "orders"}
    for i in range(6):
        (diagnostic,) = results[f"validate_{i}"]["diagnostics"]
        assert diagnostic["message"] == f"unknown component 'duckdb.process_{i}'"
    hashes = {results[f"compile_{i}"]["manifest_hash"] for i in range(3)}
    assert len(hashes) == 3
    assert {results[f"compile_{i}"]["pipeline"] for i in range(3)} == {
        "quick-0",
        "quick-1",
        "quick-2",
    }
    rows = run_mysql(shop, "SELECT customer_id FROM revenue_by_customer ORDER BY 1")
    assert [r[0] for r in rows] == [1, 3]
    assert (project / "output" / "revenue_by_customer.csv").is_file()
    runs = await ok(client, "runs_list")
    assert {r["run_id"] for r in runs["runs"]} == {
        results["run_quick"]["run_id"],
        results["run_revenue"]["run_id"],
    }


async def test_two_runs_of_one_plan_at_once(client: Client) -> None:
    manifest_hash = (await ok(client, "oml_compile", {"oml": QUICKSTART}))["manifest_hash"]
    runs: list[dict[str, Any]] = []

    async def run() -> None:
        runs.append(
            await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
        )

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(run)
    assert [r["status"] for r in runs] == ["success"] * 3
    assert len({r["run_id"] for r in runs}) == 3
