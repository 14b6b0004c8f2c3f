"""Writing a pipeline through the tools: components, schema, validate, save, compile, paging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from tests.mcp.conftest import BROKEN, QUICKSTART, connect, fails, make_server, ok

pytestmark = pytest.mark.anyio


# -- components and the schema ----------------------------------------------------------------


async def test_components_list_filters_by_family_and_mode(client: Client) -> None:
    every = await ok(client, "components_list")
    assert every["total"] == len(every["components"]) >= 9
    assert not every["truncated"] and every["next_cursor"] is None
    writers = await ok(client, "components_list", {"mode": "write"})
    assert {c["name"] for c in writers["components"]} >= {"mysql.writer", "filesystem.csv_writer"}
    assert all("write" in c["modes"] for c in writers["components"])
    mysql = await ok(client, "components_list", {"family": "mysql"})
    assert [c["name"] for c in mysql["components"]] == ["mysql.extractor", "mysql.writer"]


async def test_component_describe_gives_what_a_step_needs(client: Client) -> None:
    spec = await ok(client, "component_describe", {"name": "mysql.writer"})
    assert spec["modes"] == ["write"] and spec["required"] == ["table"]
    assert "password" in spec["secret_fields"]
    assert {"field": "password", "override": "forbidden"} in spec["connection_fields"]
    assert spec["examples"] and spec["hints"]
    assert spec["config_schema"]["properties"]["write_mode"]["enum"] == [
        "append",
        "replace",
        "upsert",
    ]
    assert spec["spec_uri"] == "osiris://components/mysql.writer"


async def test_component_describe_suggests_the_closest_name(client: Client) -> None:
    result = await client.call_tool("component_describe", {"name": "mysql.writr"})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "[unknown_component]" in text and "did you mean 'mysql.writer'?" in text


async def test_oml_schema_get(client: Client) -> None:
    schema = await ok(client, "oml_schema_get")
    assert schema["oml_version"] == "0.1.0"
    assert set(schema["schema"]["required"]) == {"oml_version", "name", "steps"}
    assert "duckdb.processor" in schema["components"] and schema["notes"]


# -- validate ----------------------------------------------------------------------------------


async def test_oml_validate_accepts_the_quickstart(client: Client) -> None:
    result = await ok(client, "oml_validate", {"oml": QUICKSTART})
    assert result == {
        "valid": True,
        "errors": 0,
        "warnings": 0,
        "diagnostics": [],
        "total": 0,
        "returned": 0,
        "truncated": False,
        "next_cursor": None,
        "page_hint": None,
    }


async def test_oml_validate_points_at_line_and_column(client: Client) -> None:
    result = await ok(client, "oml_validate", {"oml": BROKEN})
    assert result["valid"] is False and result["errors"] == 1
    (diagnostic,) = result["diagnostics"]
    assert diagnostic == {
        "code": "OML203",
        "severity": "error",
        "message": "step 'write' needs unknown step 'ordrs'",
        "path": "/steps/1/needs/0",
        "line": 12,
        "column": 13,
        "end_line": 12,
        "end_column": 18,
        "hint": "did you mean 'orders'?",
        "suggestions": ["orders"],
    }
    assert BROKEN.splitlines()[11][12:17] == "ordrs"  # line 12, columns 13-17


async def test_oml_validate_params_and_profile(client: Client) -> None:
    oml = (Path(__file__).parents[2] / "examples/pipelines/params_and_profiles.yaml").read_text()
    assert (await ok(client, "oml_validate", {"oml": oml, "profile": "dev"}))["valid"]
    bad = await ok(client, "oml_validate", {"oml": oml, "params": {"status": "lost"}})
    assert "PAR603" in [d["code"] for d in bad["diagnostics"]]
    unknown = await ok(client, "oml_validate", {"oml": oml, "profile": "staging"})
    assert [d["code"] for d in unknown["diagnostics"]] == ["PAR606"]


async def test_oml_validate_needs_exactly_one_source(client: Client) -> None:
    assert await fails(client, "oml_validate", {}) == "invalid_arguments"
    both = {"oml": QUICKSTART, "pipeline": "quickstart"}
    assert await fails(client, "oml_validate", both) == "invalid_arguments"
    assert await fails(client, "oml_validate", {"pipeline": "nothing_here"}) == "not_found"


async def test_arguments_of_the_wrong_type_are_coded_errors(client: Client) -> None:
    assert await fails(client, "oml_validate", {"oml": 5}) == "invalid_arguments"
    assert await fails(client, "run_pipeline", {"manifest_hash": "abc"}) == "invalid_arguments"
    result = await client.call_tool("no_such_tool", {})
    assert result.is_error and "[unknown_tool]" in result.content[0].text  # type: ignore[union-attr]


# -- save --------------------------------------------------------------------------------------


async def test_oml_save_then_validate_by_name(client: Client, project: Path) -> None:
    saved = await ok(client, "oml_save", {"name": "revenue", "oml": QUICKSTART})
    assert saved["name"] == "revenue" and saved["path"] == "pipelines/revenue.yaml"
    assert saved["overwritten"] is False and saved["bytes"] == len(QUICKSTART.encode())
    assert (project / "pipelines" / "revenue.yaml").read_text() == QUICKSTART
    assert (await ok(client, "oml_validate", {"pipeline": "revenue"}))["valid"]


async def test_oml_save_overwrites_only_when_asked(client: Client, project: Path) -> None:
    await ok(client, "oml_save", {"name": "daily.yaml", "oml": QUICKSTART})
    changed = QUICKSTART.replace("name: quickstart", "name: quickstart-two")
    assert await fails(client, "oml_save", {"name": "daily", "oml": changed}) == "already_exists"
    assert "quickstart-two" not in (project / "pipelines" / "daily.yaml").read_text()
    again = await ok(client, "oml_save", {"name": "daily", "oml": changed, "overwrite": True})
    assert again["overwritten"] is True
    assert "quickstart-two" in (project / "pipelines" / "daily.yaml").read_text()


async def test_oml_save_refuses_oml_with_errors(client: Client, project: Path) -> None:
    result = await client.call_tool("oml_save", {"name": "broken", "oml": BROKEN})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "[oml_invalid]" in text and "OML203 at line 12, column 13" in text
    assert not (project / "pipelines" / "broken.yaml").exists()


# -- compile -----------------------------------------------------------------------------------


async def test_oml_compile_returns_the_plan(client: Client, project: Path) -> None:
    plan = await ok(client, "oml_compile", {"oml": QUICKSTART})
    assert plan["ok"] is True and plan["pipeline"] == "quickstart"
    assert len(plan["manifest_hash"]) == 64
    assert plan["order"] == ["customers", "orders", "revenue", "write_revenue"]
    assert set(plan["fingerprints"]) >= {"oml_fp", "registry_fp", "compiler_fp", "manifest_fp"}
    assert plan["targets"] == [
        {
            "step": "write_revenue",
            "component": "filesystem.csv_writer",
            "kind": "file",
            "connection": "@filesystem.local",
            "target": "output/revenue_by_customer.csv",
            "write_mode": plan["targets"][0]["write_mode"],
        }
    ]
    assert plan["requires_confirmation"] is False
    assert {entry["step"] for entry in plan["lineage"]} >= {"revenue"}
    assert plan["manifest_uri"] == f"osiris://manifests/{plan['manifest_hash']}/manifest.yaml"
    build = project / "build" / "quickstart" / plan["manifest_hash"][:12]
    assert (build / "manifest.yaml").is_file()
    again = await ok(client, "oml_compile", {"oml": QUICKSTART})
    assert again["cached"] is True and again["manifest_hash"] == plan["manifest_hash"]


async def test_oml_compile_lists_database_targets(client: Client) -> None:
    from tests.mcp.conftest import REVENUE

    plan = await ok(client, "oml_compile", {"oml": REVENUE})
    assert plan["requires_confirmation"] is True
    assert plan["targets"] == [
        {
            "step": "store",
            "component": "mysql.writer",
            "kind": "database_table",
            "connection": "@mysql.shop",
            "target": "revenue_by_customer",
            "write_mode": "replace",
        }
    ]


async def test_oml_compile_saved_pipeline_with_params(client: Client) -> None:
    oml = (Path(__file__).parents[2] / "examples/pipelines/params_and_profiles.yaml").read_text()
    await ok(client, "oml_save", {"name": "large", "oml": oml})
    first = await ok(client, "oml_compile", {"pipeline": "large", "params": {"min_amount": 100}})
    second = await ok(client, "oml_compile", {"pipeline": "large", "params": {"min_amount": 200}})
    assert first["manifest_hash"] != second["manifest_hash"]


async def test_oml_compile_refuses_a_name_outside_pipelines(client: Client) -> None:
    assert await fails(client, "oml_compile", {"pipeline": "../../etc/passwd"}) == "invalid_name"
    assert await fails(client, "oml_compile", {"pipeline": "nothing"}) == "not_found"


async def test_oml_compile_reports_diagnostics_not_a_plan(client: Client) -> None:
    failed = await ok(client, "oml_compile", {"oml": BROKEN})
    assert failed["ok"] is False and failed["manifest_hash"] is None
    assert [d["code"] for d in failed["diagnostics"]] == ["OML203"]


# -- caps and paging ---------------------------------------------------------------------------


def many_errors(count: int) -> str:
    steps = "".join(
        f"  - id: step_{i}\n    component: no.such_{i}\n    mode: read\n    config: {{}}\n"
        for i in range(count)
    )
    return f'oml_version: "0.1.0"\nname: many\nsteps:\n{steps}'


async def test_a_big_result_is_cut_at_a_row_boundary_and_pages(project: Path, mode: str) -> None:
    cap = 4096
    async with connect(make_server(project, max_result_bytes=cap), mode) as client:
        oml = many_errors(40)
        seen: list[dict[str, object]] = []
        cursor = None
        pages = 0
        while True:
            arguments = {"oml": oml, **({"cursor": cursor} if cursor else {})}
            result = await client.call_tool("oml_validate", arguments)
            page = result.structured_content
            assert page is not None and not result.is_error
            assert len(json.dumps(page).encode()) <= cap
            assert page["total"] == 40 and page["returned"] == len(page["diagnostics"]) > 0
            seen += page["diagnostics"]
            pages += 1
            if not page["truncated"]:
                assert page["next_cursor"] is None and page["page_hint"] is None
                break
            assert "cursor=" in page["page_hint"]
            cursor = page["next_cursor"]
        assert pages > 1
        assert [d["message"] for d in seen] == [
            f"unknown component 'no.such_{i}'" for i in range(40)
        ]


async def test_paging_lists_every_component_once(project: Path) -> None:
    async with connect(make_server(project, max_result_bytes=2600)) as client:
        names: list[str] = []
        cursor = None
        while True:
            page = await ok(client, "components_list", {"cursor": cursor} if cursor else {})
            names += [c["name"] for c in page["components"]]
            if not page["truncated"]:
                break
            cursor = page["next_cursor"]
        from components.registry import default_registry

        assert names == list(default_registry().names())


async def test_a_cursor_from_another_listing_is_refused(project: Path) -> None:
    async with connect(make_server(project, max_result_bytes=2600)) as client:
        page = await ok(client, "components_list")
        assert page["truncated"]
        cursor = page["next_cursor"]
        assert await fails(client, "usecases_list", {"cursor": cursor}) == "invalid_cursor"
        assert await fails(client, "components_list", {"cursor": "garbage"}) == "invalid_cursor"


async def test_validate_agrees_with_the_cli(
    client: Client, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same file gives the same diagnostics through `osiris validate` and oml_validate."""
    from osiris_mcp.cli import main

    oml = BROKEN.replace(
        "config:\n      path: data/orders.csv",
        'config:\n      connection: "@mysql.nope"\n      path: data/orders.csv',
    )
    (project / "pipelines").mkdir()
    (project / "pipelines" / "broken.yaml").write_text(oml)
    main(["validate", "--json", "--project", str(project), str(project / "pipelines/broken.yaml")])
    cli = json.loads(capsys.readouterr().out)["diagnostics"]
    tool = (await ok(client, "oml_validate", {"pipeline": "broken"}))["diagnostics"]
    assert [(d["code"], d["line"], d["column"]) for d in tool] == [
        (d["code"], d["line"], d["column"]) for d in cli
    ]
    assert "OML209" in {d["code"] for d in tool}  # the project's connections are checked
