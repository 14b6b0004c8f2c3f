"""Looking at data: what each step of a run made or wrote, its first rows, a project file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.mcp.conftest import QUICKSTART, REVENUE, connect, fails, make_server, ok, run_mysql

pytestmark = pytest.mark.anyio


async def finished_run(client: Client, oml: str) -> dict[str, Any]:
    plan = await ok(client, "oml_compile", {"oml": oml})
    run = await ok(client, "run_pipeline", {"manifest_hash": plan["manifest_hash"], "wait_s": 60})
    assert run["status"] == "success", run
    return run


async def test_a_run_lists_its_outputs_and_shows_their_first_rows(
    client: Client, project: Path
) -> None:
    run = await finished_run(client, QUICKSTART)
    outputs = {o["step"]: o for o in run["outputs"]}
    assert outputs["write_revenue"]["kind"] == "file"
    assert outputs["write_revenue"]["target"] == "output/revenue_by_customer.csv"
    assert outputs["revenue"]["kind"] == "step_table"
    written = (project / "output" / "revenue_by_customer.csv").read_text().splitlines()
    assert outputs["write_revenue"]["rows"] == outputs["revenue"]["rows"] == len(written) - 1
    assert "data_preview" in run["next"]

    made = await ok(client, "data_preview", {"run_id": run["run_id"], "step_id": "revenue"})
    assert [c["name"] for c in made["columns"]] == written[0].split(",")
    assert made["rows_in_source"] == len(written) - 1
    first = written[1].split(",")
    assert [str(v) for v in made["rows"][0]][:3] == first[:3]  # the same first row

    wrote = await ok(
        client, "data_preview", {"run_id": run["run_id"], "step_id": "write_revenue", "limit": 2}
    )
    assert wrote["note"] == "the file step 'write_revenue' wrote" and len(wrote["rows"]) == 2
    file = await ok(client, "data_preview", {"path": "output/revenue_by_customer.csv"})
    as_text = [[str(v) for v in row] for row in file["rows"]]  # the CSV reads 878.17 as a float
    assert as_text == [[str(v) for v in row] for row in made["rows"]]  # what the file holds


async def test_a_big_output_keeps_a_bounded_sample(client: Client, project: Path) -> None:
    (project / "data" / "many.csv").write_text(
        "n,word\n" + "".join(f"{i},w{i}\n" for i in range(500))
    )
    oml = """\
oml_version: "0.1.0"
name: many
steps:
  - id: numbers
    component: filesystem.csv_extractor
    mode: read
    config:
      path: data/many.csv
  - id: keep
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${numbers.df}"
    config:
      path: output/many.csv
"""
    run = await finished_run(client, oml)
    preview = await ok(
        client, "data_preview", {"run_id": run["run_id"], "step_id": "numbers", "limit": 100}
    )
    assert preview["rows_in_source"] == 500 and len(preview["rows"]) == 100
    assert "first 100 of 500 rows" in preview["note"]
    kept = project.glob(f"run_logs/many/{run['run_id']}/artifacts/numbers/output.parquet")
    assert len(list(kept)) == 1


async def test_preview_refuses_what_it_cannot_show(client: Client, project: Path) -> None:
    run = await finished_run(client, QUICKSTART)
    assert await fails(client, "data_preview", {"path": "../etc/passwd.csv"}) == "invalid_name"
    assert await fails(client, "data_preview", {"path": ".env"}) == "invalid_name"
    assert await fails(client, "data_preview", {"path": "osiris_connections.yaml"}) == (
        "invalid_name"
    )
    assert await fails(client, "data_preview", {"path": "output/none.csv"}) == "not_found"
    unknown = {"run_id": run["run_id"], "step_id": "revenu"}
    assert await fails(client, "data_preview", unknown) == "unknown_step"
    assert await fails(client, "data_preview", {}) == "invalid_arguments"
    gone = {"run_id": "run_20990101T000000Z_000000", "step_id": "x"}
    assert await fails(client, "data_preview", gone) == "unknown_run"


@pytest.mark.db
async def test_a_database_writer_shows_the_rows_it_wrote(
    project: Path, shop: dict[str, Any]
) -> None:
    async with connect(make_server(project, writes="allow")) as client:
        run = await finished_run(client, REVENUE)
        store = next(o for o in run["outputs"] if o["step"] == "store")
        assert store["kind"] == "table" and store["target"].endswith(".revenue_by_customer")
        assert store["rows"] == 2
        rows = await ok(client, "data_preview", {"run_id": run["run_id"], "step_id": "store"})
        assert rows["rows"] == [[1, "30.50"], [3, "99.99"]]
        assert "output of step 'revenue'" in rows["note"]


@pytest.mark.db
async def test_a_discovered_table_shows_its_sample_rows(
    client: Client, shop: dict[str, Any]
) -> None:
    bare = await ok(client, "discovery_request", {"connection": "@mysql.shop"})
    empty = await ok(
        client, "data_preview", {"discovery_id": bare["discovery_id"], "table": "orders"}
    )
    assert empty["rows"] == [] and "samples: N" in empty["note"]
    found = await ok(client, "discovery_request", {"connection": "@mysql.shop", "samples": 3})
    preview = {"discovery_id": found["discovery_id"], "table": "orders", "limit": 2}
    run_mysql(shop, "DELETE FROM orders")  # the rows come from the catalog, not the server
    rows = await ok(client, "data_preview", preview)
    assert [c["name"] for c in rows["columns"]][:3] == ["id", "customer_id", "amount"]
    assert len(rows["rows"]) == 2 and rows["rows"][0][:3] == [1, 1, "10.50"]
    assert rows["source"].startswith(found["discovery_id"] + "/") and "orders" in rows["source"]
    wrong = {"discovery_id": found["discovery_id"], "table": "ordres"}
    assert await fails(client, "data_preview", wrong) == "not_found"
    unknown = {"discovery_id": "disc_0000000000000000", "table": "orders"}
    assert await fails(client, "data_preview", unknown) == "unknown_discovery"
    both = {"discovery_id": found["discovery_id"], "path": "x.csv", "table": "orders"}
    assert await fails(client, "data_preview", both) == "invalid_arguments"


@pytest.mark.db
async def test_sql_query_reads_through_the_extract_checks(
    project: Path, shop: dict[str, Any], mode: str
) -> None:
    async with connect(make_server(project), mode) as client:
        sql = "SELECT id, amount FROM orders WHERE status = 'paid' ORDER BY id"
        found = await ok(client, "sql_query", {"connection": "@mysql.shop", "sql": sql})
        assert [c["name"] for c in found["columns"]] == ["id", "amount"]
        assert found["rows"] == [[1, "10.50"], [2, "20.00"], [4, "99.99"]]
        assert found["limited"] is False
        first = await ok(client, "sql_query", {"connection": "@mysql.shop", "sql": sql, "limit": 2})
        assert first["rows"] == [[1, "10.50"], [2, "20.00"]] and first["limited"] is True

        for refused in ("DELETE FROM orders", "SELECT SLEEP(5)", "SELECT LOAD_FILE('/etc/hosts')"):
            arguments = {"connection": "@mysql.shop", "sql": refused}
            assert await fails(client, "sql_query", arguments) == "query_rejected", refused
        wrong = {"connection": "@mysql.shop", "sql": "SELECT nope FROM orders"}
        assert await fails(client, "sql_query", wrong) == "query_failed"
        local = {"connection": "@filesystem.local", "sql": "SELECT 1"}
        assert await fails(client, "sql_query", local) == "unknown_connection"
    count = run_mysql(shop, "SELECT count(*) FROM orders")
    assert count[0][0] == 4  # nothing was deleted


async def test_keep_outputs_keeps_whole_tables(client: Client, project: Path) -> None:
    (project / "data" / "many.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(250)))
    oml = QUICKSTART.split("steps:")[0].replace("quickstart", "whole") + (
        "steps:\n  - id: numbers\n    component: filesystem.csv_extractor\n    mode: read\n"
        "    config:\n      path: data/many.csv\n"
    )
    plan = await ok(client, "oml_compile", {"oml": oml})
    arguments = {"manifest_hash": plan["manifest_hash"], "wait_s": 60, "keep_outputs": True}
    run = await ok(client, "run_pipeline", arguments)
    preview = await ok(
        client, "data_preview", {"run_id": run["run_id"], "step_id": "numbers", "limit": 100}
    )
    assert preview["rows_in_source"] == 250 and preview["note"] is None  # all kept
