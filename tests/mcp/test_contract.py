"""The tool contract: tools/list, resource templates and prompts, as a reviewed snapshot.

A changed name, schema, annotation or description shows up as a diff of
snapshots/mcp/test_contract/test_tool_contract.json; review it, then update it with
`pytest tests/mcp/test_contract.py --snapshot-update`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.mcp.conftest import CANARY, connect, make_server, write_connections

pytestmark = pytest.mark.anyio

TOOLS = [
    "connections_list",
    "connections_doctor",
    "components_list",
    "component_describe",
    "discovery_request",
    "oml_schema_get",
    "oml_validate",
    "oml_save",
    "oml_compile",
    "run_pipeline",
    "run_status",
    "run_cancel",
    "run_logs",
    "runs_list",
    "data_preview",
    "sql_query",
    "guide_start",
    "usecases_list",
    "memory_capture",
]


async def contract(client: Client) -> dict[str, Any]:
    tools = await client.list_tools()
    templates = await client.list_resource_templates()
    resources = await client.list_resources()
    prompts = await client.list_prompts()

    def dump(items: list[Any]) -> list[dict[str, Any]]:
        return [i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in items]

    return {
        "tools": dump(tools.tools),
        "resources": dump(resources.resources),
        "resource_templates": dump(templates.resource_templates),
        "prompts": dump(prompts.prompts),
    }


async def test_tool_contract(project: Path, contract_snapshot: Any) -> None:
    async with connect(make_server(project)) as client:
        assert client.instructions and "oml_validate" in client.instructions
        assert contract_snapshot == await contract(client)


async def test_every_tool_has_a_title_hints_and_both_schemas(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == TOOLS
    for tool in tools:
        assert tool.title and tool.description, tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
        assert tool.input_schema["type"] == "object", tool.name
        hints = tool.annotations
        assert hints is not None, tool.name
        flags = (
            hints.read_only_hint,
            hints.destructive_hint,
            hints.idempotent_hint,
            hints.open_world_hint,
        )
        assert None not in flags, tool.name


async def test_the_hints_say_what_each_tool_does_to_the_world(client: Client) -> None:
    hints = {t.name: t.annotations for t in (await client.list_tools()).tools}
    read_only = {n for n, h in hints.items() if h and h.read_only_hint}
    assert read_only == {
        "connections_list",
        "connections_doctor",
        "components_list",
        "component_describe",
        "discovery_request",
        "oml_schema_get",
        "oml_validate",
        "run_status",
        "run_logs",
        "runs_list",
        "data_preview",
        "sql_query",
        "guide_start",
        "usecases_list",
    }
    destructive = {n for n, h in hints.items() if h and h.destructive_hint}
    assert destructive == {"oml_save", "run_pipeline"}  # overwrite on request; table writes
    open_world = {n for n, h in hints.items() if h and h.open_world_hint}
    assert open_world == {"connections_doctor", "discovery_request", "run_pipeline", "sql_query"}


async def test_descriptions_hold_no_project_data(tmp_path: Path) -> None:
    """Two different projects publish the very same contract, and none of their data."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    write_connections(first)
    (second / "osiris_connections.yaml").write_text(
        "connections:\n  postgres:\n    warehouse_secret_alias:\n      host: db.internal\n"
        f"      password: {CANARY}\n"
    )
    async with connect(make_server(first)) as a, connect(make_server(second)) as b:
        left, right = await contract(a), await contract(b)
    assert left == right
    text = repr(left)
    for leak in ("warehouse_secret_alias", "db.internal", CANARY, "osiris_none", str(tmp_path)):
        assert leak not in text


async def test_the_schema_cache_changes_nothing(project: Path) -> None:
    """A cold start computes the schemas and caches them; a warm start reads them back."""
    cache = project / ".osiris" / "mcp" / "schema-cache.json"
    async with connect(make_server(project)) as client:
        cold = await contract(client)
    assert cache.is_file()
    async with connect(make_server(project)) as client:
        warm = await contract(client)
        assert (await client.call_tool("oml_validate", {"oml": "name: x"})).structured_content
    assert warm == cold
    data = json.loads(cache.read_text())
    data["key"] = "stale"  # the models changed since: the cache must not be trusted
    data["tools"]["oml_validate"]["input"]["properties"] = {}
    cache.write_text(json.dumps(data))
    async with connect(make_server(project)) as client:
        assert await contract(client) == cold
    cache.write_text("{not json")
    async with connect(make_server(project)) as client:
        assert await contract(client) == cold
    assert json.loads(cache.read_text())["key"] != "stale"


async def test_unknown_arguments_are_refused(client: Client) -> None:
    result = await client.call_tool("oml_validate", {"oml": "x", "colour": "blue"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "[invalid_arguments]" in text and "colour" in text
