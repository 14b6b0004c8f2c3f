"""Guidance: guide_start, the shipped use cases, consented memory, and the two prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from tests.mcp.conftest import QUICKSTART, fails, ok

pytestmark = pytest.mark.anyio


async def test_guide_start_for_moving_data(client: Client) -> None:
    guide = await ok(
        client, "guide_start", {"intent": "copy yesterday's orders from MySQL into Postgres"}
    )
    assert guide["goal"] == "author"
    tools = [step["tool"] for step in guide["next_steps"]]
    assert tools[:2] == ["connections_list", "discovery_request"]
    assert tools.index("oml_validate") < tools.index("oml_compile") < tools.index("run_pipeline")
    names = [c["name"] for c in guide["components"]]
    assert names[:2] == ["mysql.extractor", "postgres.writer"]
    assert guide["examples"][0]["name"] == "mysql_to_postgres"
    assert guide["examples"][0]["uri"] == "osiris://examples/mysql_to_postgres"
    assert guide["project"] == {
        "connections_file": True,
        "connections": 3,
        "saved_pipelines": 0,
        "runs": 0,
    }


async def test_guide_start_reads_other_goals(client: Client) -> None:
    debug = await ok(client, "guide_start", {"intent": "why did my last run fail?"})
    assert debug["goal"] == "debug" and debug["next_steps"][0]["tool"] == "runs_list"
    discover = await ok(client, "guide_start", {"intent": "what tables do I have in mysql"})
    assert discover["goal"] == "discover"
    assert [s["tool"] for s in discover["next_steps"]][-1] == "discovery_request"
    csv = await ok(client, "guide_start", {"intent": "aggregate a csv file per day"})
    assert {"filesystem.csv_extractor", "duckdb.processor"} <= {
        c["name"] for c in csv["components"]
    }
    assert await fails(client, "guide_start", {"intent": ""}) == "invalid_arguments"


async def test_guide_start_notices_a_project_without_connections(tmp_path: Path, mode: str) -> None:
    from tests.mcp.conftest import connect, make_server

    async with connect(make_server(tmp_path), mode) as client:
        guide = await ok(client, "guide_start", {"intent": "load a csv into mysql"})
    assert guide["project"]["connections_file"] is False
    assert any("osiris_connections.yaml" in note for note in guide["notes"])


async def test_usecases_list(client: Client) -> None:
    listing = await ok(client, "usecases_list")
    by_name = {u["name"]: u for u in listing["usecases"]}
    # every shipped example is a use case, the 0.5.7-style ones included
    examples = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
    assert set(by_name) == {path.stem for path in examples.glob("*.yaml")}
    assert {"quickstart", "mysql_to_postgres", "mysql_to_csv_all_tables"} <= set(by_name)
    quick = by_name["quickstart"]
    assert quick["needs_database"] is False and quick["oml"] is None
    assert quick["components"] == [
        "filesystem.csv_extractor",
        "filesystem.csv_extractor",
        "duckdb.processor",
        "filesystem.csv_writer",
    ]
    assert by_name["mysql_to_postgres"]["needs_database"] is True
    with_oml = await ok(client, "usecases_list", {"include_oml": True})
    quick = next(u for u in with_oml["usecases"] if u["name"] == "quickstart")
    assert quick["oml"] == QUICKSTART
    assert (await ok(client, "oml_validate", {"oml": quick["oml"]}))["valid"]


async def test_memory_capture_needs_consent(client: Client, project: Path) -> None:
    arguments = {"consent": False, "text": "we always replace the revenue table"}
    assert await fails(client, "memory_capture", arguments) == "consent_required"
    assert not (project / ".osiris" / "memory").exists()


async def test_memory_capture_redacts_before_storing(client: Client, project: Path) -> None:
    text = (
        "Decided with jane.doe@example.com (+1 415 555 0132): load via "
        "mysql://app:hunter2secret@db.internal/shop, token=sk_live_abcdefghijklmnop1234; "
        "card 4111 1111 1111 1111 from 10.0.0.12"
    )
    stored = await ok(
        client,
        "memory_capture",
        {"consent": True, "kind": "decision", "text": text, "tags": ["etl"]},
    )
    assert stored["stored_in"] == ".osiris/memory/memories.jsonl"
    for private in ("jane.doe", "555 0132", "hunter2secret", "sk_live", "4111", "10.0.0.12"):
        assert private not in stored["text"]
    assert stored["redacted"]["email"] == 1 and stored["redacted"]["secret"] >= 2
    line = json.loads((project / ".osiris/memory/memories.jsonl").read_text().splitlines()[-1])
    assert line["id"] == stored["id"] and line["text"] == stored["text"]
    assert line["kind"] == "decision" and line["tags"] == ["etl"]
    assert "hunter2secret" not in (project / ".osiris/memory/memories.jsonl").read_text()


async def test_the_prompts(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"author_pipeline", "debug_run"}
    author = await client.get_prompt("author_pipeline", {"goal": "daily revenue into postgres"})
    text = author.messages[0].content.text  # type: ignore[union-attr]
    assert "daily revenue into postgres" in text and "oml_validate" in text
    debug = await client.get_prompt("debug_run", {"run_id": "run_none"})
    text = debug.messages[0].content.text  # type: ignore[union-attr]
    assert "run_status" in text and "not in the project" in text
    escape = await client.get_prompt("debug_run", {"run_id": "../../etc"})
    assert "../../etc" not in escape.messages[0].content.text  # type: ignore[union-attr]
