"""Running compiled plans: consent for database writes, progress, status, cancel, logs, runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import ElicitResult

from tests.mcp.conftest import (
    QUICKSTART,
    REVENUE,
    connect,
    fails,
    make_server,
    ok,
    run_mysql,
)

pytestmark = pytest.mark.anyio

#: A plan that computes for a while (a 60^5-row cross join) before it writes anything.
SLOW = """\
oml_version: "0.1.0"
name: slow
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config:
      path: data/orders.csv
  - id: crunch
    component: duckdb.processor
    mode: transform
    timeout_s: 120
    inputs:
      orders: "${orders.df}"
    config:
      query: |
        SELECT sum(CAST(a.amount AS DOUBLE) * b.amount * c.amount * d.amount * e.amount) AS t
        FROM orders AS a, orders AS b, orders AS c, orders AS d, orders AS e
  - id: keep
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${crunch.df}"
    config:
      path: output/never.csv
"""

#: A plan that waits: its extract retries against a port nobody listens on.
RETRYING = """\
oml_version: "0.1.0"
name: slow
steps:
  - id: stuck
    component: mysql.extractor
    mode: read
    retry: {max_attempts: 20, backoff_ms: 3000}
    config:
      connection: "@mysql.down"
      query: SELECT 1 AS one
  - id: keep
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${stuck.df}"
    config:
      path: output/never.csv
"""


async def compiled(client: Client, oml: str, **arguments: Any) -> str:
    plan = await ok(client, "oml_compile", {"oml": oml, **arguments})
    assert plan["ok"], plan["diagnostics"]
    return str(plan["manifest_hash"])


def revenue_rows(shop: dict[str, Any]) -> list[tuple[int, str]]:
    rows = run_mysql(
        shop, "SELECT customer_id, CAST(revenue AS CHAR) FROM revenue_by_customer ORDER BY 1"
    )
    return [(int(r[0]), str(r[1])) for r in rows]


def table_exists(shop: dict[str, Any], name: str) -> bool:
    return bool(run_mysql(shop, f"SHOW TABLES LIKE '{name}'"))


# -- a plan without database writes ------------------------------------------------------------


async def test_run_a_compiled_plan_with_progress(client: Client, project: Path) -> None:
    manifest_hash = await compiled(client, QUICKSTART)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    result = await client.call_tool(
        "run_pipeline",
        {"manifest_hash": manifest_hash, "wait_s": 60},
        progress_callback=on_progress,
    )
    run = result.structured_content
    assert not result.is_error and run is not None, result.content
    assert run["status"] == "success" and run["finished"] is True
    assert run["pipeline"] == "quickstart" and run["manifest_hash"] == manifest_hash
    assert [s["id"] for s in run["steps"]] == ["customers", "orders", "revenue", "write_revenue"]
    assert all(s["status"] == "success" for s in run["steps"])
    assert progress and progress[-1][0] == progress[-1][1] == 4
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)
    output = (project / "output" / "revenue_by_customer.csv").read_text()
    assert output.startswith("customer_id,name,country,paid_orders,revenue")
    links = [c.uri for c in result.content if c.type == "resource_link"]
    assert links == [f"osiris://runs/{run['run_id']}/status.json"]


async def test_run_status_logs_and_the_runs_list(client: Client) -> None:
    manifest_hash = await compiled(client, QUICKSTART)
    run = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
    run_id = run["run_id"]
    status = await ok(client, "run_status", {"run_id": run_id})
    assert status["status"] == "success" and status["steps"] == run["steps"]

    events = await ok(client, "run_logs", {"run_id": run_id})
    kinds = [e["event_type"] for e in events["items"]]
    assert kinds[0] == "connection.resolve" and "execution.complete" in kinds
    one_step = await ok(client, "run_logs", {"run_id": run_id, "step_id": "revenue"})
    assert {e["step_id"] for e in one_step["items"]} == {"revenue"}
    metrics = await ok(client, "run_logs", {"run_id": run_id, "kind": "metrics"})
    assert {m["metric"] for m in metrics["items"]} >= {"rows_read", "rows_written"}
    bundle = await ok(client, "run_logs", {"run_id": run_id, "kind": "bundle"})
    assert bundle["text"].startswith(f"# Osiris run {run_id} — quickstart")
    assert "## Event timeline" in bundle["text"]

    runs = await ok(client, "runs_list")
    assert runs["runs"][0]["run_id"] == run_id and runs["runs"][0]["status"] == "success"
    assert (await ok(client, "runs_list", {"pipeline": "other"}))["runs"] == []
    assert (await ok(client, "runs_list", {"status": "failed"}))["runs"] == []

    text = await client.read_resource(f"osiris://runs/{run_id}/status.json")
    assert json.loads(text.contents[0].text)["status"] == "success"  # type: ignore[union-attr]
    cfg = await client.read_resource(f"osiris://runs/{run_id}/cfg/revenue.json")
    assert "duckdb" in cfg.contents[0].text.lower() or "query" in cfg.contents[0].text  # type: ignore[union-attr]
    plan = await client.read_resource(f"osiris://manifests/{manifest_hash}/manifest.yaml")
    assert "name: quickstart" in plan.contents[0].text  # type: ignore[union-attr]


async def test_the_bundle_pages_by_lines(project: Path, mode: str) -> None:
    async with connect(make_server(project, max_result_bytes=6000), mode) as client:
        manifest_hash = await compiled(client, QUICKSTART)
        run = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
        text, cursor = "", None
        while True:
            arguments = {"run_id": run["run_id"], "kind": "bundle"}
            page = await ok(
                client, "run_logs", {**arguments, **({"cursor": cursor} if cursor else {})}
            )
            assert len(json.dumps(page).encode()) <= 6000
            text += page["text"]
            if not page["truncated"]:
                break
            cursor = page["next_cursor"]
        from runtime.sessions import bundle, find_run

        session = find_run(project, run["run_id"])
        assert session is not None and text == bundle(session)


# -- which plans may run -----------------------------------------------------------------------


async def test_a_made_up_manifest_hash_is_refused(client: Client) -> None:
    assert await fails(client, "run_pipeline", {"manifest_hash": "ab" * 32}) == "unknown_manifest"


async def test_a_plan_edited_after_compile_is_refused(client: Client, project: Path) -> None:
    manifest_hash = await compiled(client, QUICKSTART)
    config = project / "build" / "quickstart" / manifest_hash[:12] / "cfg" / "write_revenue.json"
    config.write_text(config.read_text().replace("revenue_by_customer", "elsewhere"))
    assert await fails(client, "run_pipeline", {"manifest_hash": manifest_hash}) == "stale_manifest"


async def test_a_plan_whose_build_is_gone_is_refused(project: Path) -> None:
    import shutil

    async with connect(make_server(project)) as client:
        manifest_hash = await compiled(client, QUICKSTART)
    shutil.rmtree(project / "build")
    async with connect(make_server(project)) as client:
        code = await fails(client, "run_pipeline", {"manifest_hash": manifest_hash})
        assert code == "unknown_manifest"


async def test_a_plan_compiled_by_the_cli_can_run(project: Path) -> None:
    from osiris_mcp.cli import main

    (project / "pipelines").mkdir()
    (project / "pipelines" / "quickstart.yaml").write_text(QUICKSTART)
    assert (
        main(["compile", str(project / "pipelines/quickstart.yaml"), "--project", str(project)])
        == 0
    )
    async with connect(make_server(project)) as client:
        manifest_hash = (await ok(client, "oml_compile", {"pipeline": "quickstart"}))[
            "manifest_hash"
        ]
        fresh = make_server(project)  # knows the plan only from the compile cache
    async with connect(fresh) as client:
        run = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
        assert run["status"] == "success"


async def test_params_must_be_the_compiled_ones(client: Client) -> None:
    oml = (Path(__file__).parents[2] / "examples/pipelines/params_and_profiles.yaml").read_text()
    manifest_hash = await compiled(client, oml, params={"min_amount": 100})
    mismatch = {"manifest_hash": manifest_hash, "params": {"min_amount": 5}}
    assert await fails(client, "run_pipeline", mismatch) == "params_mismatch"
    unknown = {"manifest_hash": manifest_hash, "params": {"nope": 1}}
    assert await fails(client, "run_pipeline", unknown) == "params_mismatch"
    same = {"manifest_hash": manifest_hash, "params": {"min_amount": 100}, "wait_s": 60}
    assert (await ok(client, "run_pipeline", same))["status"] == "success"


# -- consent for database writes ---------------------------------------------------------------


@pytest.mark.db
async def test_database_writes_need_confirmation(
    project: Path, shop: dict[str, Any], mode: str
) -> None:
    # a client that cannot ask; its user chose `--writes confirm`: the model asks them
    async with connect(make_server(project, writes="confirm"), mode) as client:
        manifest_hash = await compiled(client, REVENUE)
        result = await client.call_tool("run_pipeline", {"manifest_hash": manifest_hash})
        assert result.is_error
        assert "[confirmation_required]" in result.content[0].text  # type: ignore[union-attr]
        assert not table_exists(shop, "revenue_by_customer")
        arguments = {"manifest_hash": manifest_hash, "confirm_writes": True, "wait_s": 60}
        run = await ok(client, "run_pipeline", arguments)
        assert run["status"] == "success", run
    assert revenue_rows(shop) == [(1, "30.50"), (3, "99.99")]


@pytest.mark.db
async def test_without_elicitation_database_writes_are_denied_by_default(
    project: Path, shop: dict[str, Any], mode: str
) -> None:
    async with connect(make_server(project), mode) as client:
        manifest_hash = await compiled(client, REVENUE)
        arguments = {"manifest_hash": manifest_hash, "confirm_writes": True, "wait_s": 60}
        result = await client.call_tool("run_pipeline", arguments)  # the model's word: no
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error and "[confirmation_required]" in text
        assert "--writes confirm" in text and "--writes allow" in text  # what the user can do
        assert (await ok(client, "runs_list"))["runs"] == []
    assert not table_exists(shop, "revenue_by_customer")


@pytest.mark.db
async def test_the_writes_allow_policy_runs_without_asking(
    project: Path, shop: dict[str, Any]
) -> None:
    async with connect(make_server(project, writes="allow")) as client:
        manifest_hash = await compiled(client, REVENUE)
        run = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
        assert run["status"] == "success", run
    assert revenue_rows(shop) == [(1, "30.50"), (3, "99.99")]


@pytest.mark.db
@pytest.mark.parametrize("policy", ["deny", "confirm", "allow"])
async def test_confirm_writes_never_skips_asking_the_user(
    project: Path, shop: dict[str, Any], mode: str, policy: str
) -> None:
    asked: list[str] = []

    async def refuse(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    server = make_server(project, writes=policy)
    async with connect(server, mode, elicitation_callback=refuse) as client:
        manifest_hash = await compiled(client, REVENUE)
        arguments = {"manifest_hash": manifest_hash, "confirm_writes": True}
        assert await fails(client, "run_pipeline", arguments) == "not_confirmed"
    assert len(asked) == 1 and "revenue_by_customer" in asked[0]
    assert not table_exists(shop, "revenue_by_customer")


@pytest.mark.db
async def test_the_user_confirms_through_elicitation(
    project: Path, shop: dict[str, Any], mode: str
) -> None:
    asked: list[str] = []

    async def agree(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    async with connect(make_server(project), mode, elicitation_callback=agree) as client:
        manifest_hash = await compiled(client, REVENUE)
        run = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
        assert run["status"] == "success"
    (question,) = asked
    assert "revenue_by_customer" in question and "replace" in question and "@mysql.shop" in question
    assert revenue_rows(shop) == [(1, "30.50"), (3, "99.99")]


@pytest.mark.db
@pytest.mark.parametrize(
    "answer",
    [
        ElicitResult(action="decline"),
        ElicitResult(action="cancel"),
        ElicitResult(action="accept", content={"confirm": False}),
    ],
    ids=["decline", "cancel", "accept-but-no"],
)
async def test_a_refusal_runs_nothing(
    project: Path, shop: dict[str, Any], mode: str, answer: ElicitResult
) -> None:
    async def refuse(context: Any, params: Any) -> ElicitResult:
        return answer

    async with connect(make_server(project), mode, elicitation_callback=refuse) as client:
        manifest_hash = await compiled(client, REVENUE)
        code = await fails(client, "run_pipeline", {"manifest_hash": manifest_hash})
        assert code == "not_confirmed"
        assert (await ok(client, "runs_list"))["runs"] == []
    assert not table_exists(shop, "revenue_by_customer")


async def test_plans_without_table_writes_are_not_asked_about(project: Path, mode: str) -> None:
    async def never(context: Any, params: Any) -> ElicitResult:
        raise AssertionError("a file-only plan must not ask")

    async with connect(make_server(project), mode, elicitation_callback=never) as client:
        manifest_hash = await compiled(client, QUICKSTART)
        run = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 60})
        assert run["status"] == "success"


# -- waiting, cancelling, unknown runs ---------------------------------------------------------


async def test_cancel_a_running_run(client: Client, project: Path) -> None:
    manifest_hash = await compiled(client, SLOW)
    started = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 0})
    assert started["finished"] is False and started["status"] in ("starting", "running")
    cancelled = await ok(client, "run_cancel", {"run_id": started["run_id"], "wait_s": 30})
    assert cancelled["cancel_requested"] is True
    assert cancelled["status"] == "cancelled" and cancelled["finished"] is True
    assert not (project / "output" / "never.csv").exists()
    again = await ok(client, "run_cancel", {"run_id": started["run_id"]})
    assert again["cancel_requested"] is False and again["status"] == "cancelled"


async def test_cancel_during_a_retry_backoff(client: Client) -> None:
    manifest_hash = await compiled(client, RETRYING)
    started = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 0})
    waited = await ok(client, "run_status", {"run_id": started["run_id"], "wait_s": 0.5})
    assert waited["finished"] is False  # still retrying against the closed port
    cancelled = await ok(client, "run_cancel", {"run_id": started["run_id"], "wait_s": 30})
    assert cancelled["status"] == "cancelled"


async def test_run_status_waits_for_the_end(client: Client) -> None:
    manifest_hash = await compiled(client, QUICKSTART)
    started = await ok(client, "run_pipeline", {"manifest_hash": manifest_hash, "wait_s": 0})
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    result = await client.call_tool(
        "run_status", {"run_id": started["run_id"], "wait_s": 60}, progress_callback=on_progress
    )
    assert result.structured_content and result.structured_content["status"] == "success"
    assert progress


async def test_unknown_runs_are_clear_errors(client: Client) -> None:
    for tool in ("run_status", "run_cancel", "run_logs"):
        assert await fails(client, tool, {"run_id": "run_20990101T000000Z_000000"}) == "unknown_run"
        assert await fails(client, tool, {"run_id": "../../etc"}) == "unknown_run"


async def test_a_run_that_cannot_start_says_why(
    project: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with connect(make_server(project, writes="confirm"), mode) as client:
        await cannot_start(client, monkeypatch)


async def cannot_start(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSIRIS_TEST_CANARY")  # the plan's connection needs it
    manifest_hash = await compiled(client, REVENUE)
    arguments = {"manifest_hash": manifest_hash, "confirm_writes": True}
    result = await client.call_tool("run_pipeline", arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "[run_failed_to_start]" in text
    assert "OSIRIS_TEST_CANARY" in text  # the unset variable is named, its value never is
    run_id = text.split("Run ", 1)[1].split(" ", 1)[0]
    status = await ok(client, "run_status", {"run_id": run_id})
    assert status["status"] == "failed" and "OSIRIS_TEST_CANARY" in status["error"]
