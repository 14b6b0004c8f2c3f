"""Two hundred MCP tool calls at once, through the SDK's in-memory clients (one per
protocol era), against a real MariaDB database.

Validations, compiles, connection and component listings and discoveries — some plain,
some filtered, some forced to read the source again, so the catalog store is written
while it is read. Every answer is the right one for its question, the audit log has one
whole line per call, and afterwards every catalog entry and artifact loads.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pymysql
import pytest
from mcp import Client

from osiris_mcp.project import Project
from osiris_mcp.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.long]

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = (ROOT / "examples" / "pipelines" / "quickstart.yaml").read_text("utf-8")
CALLS = 200
TABLES = ["customers", "orders", "products", "payments", "shipments"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project(tmp_path: Path, mysql_db: dict[str, Any]) -> Path:
    """A project with the example data and a MySQL connection to a database of five tables."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "data", root / "data")
    fields = "\n".join(f"      {k}: {json.dumps(v)}" for k, v in mysql_db.items() if v != "")
    (root / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  filesystem:\n"
        "    local: {default: true, base_dir: .}\n"
        "  mysql:\n"
        "    shop:\n"
        "      default: true\n"
        f"{fields}\n"
    )
    with pymysql.connect(**mysql_db, autocommit=True) as conn, conn.cursor() as cursor:
        for n, table in enumerate(TABLES):
            columns = ", ".join(f"c{i} VARCHAR(20)" for i in range(n + 1))
            cursor.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, {columns})")
    return root


def _misspelled(i: int) -> str:
    """A pipeline whose one error names `i`, so each answer can be matched to its question."""
    return QUICKSTART.replace("component: duckdb.processor", f"component: duckdb.process_{i}")


def _discovery(i: int) -> dict[str, Any]:
    """Discovery arguments: the whole schema, one table, or the whole schema read again."""
    if i % 3 == 0:
        return {"connection": "@mysql.shop", "tables": [TABLES[i // 5 % len(TABLES)]]}
    return {"connection": "@mysql.shop", "refresh": i % 3 == 1}


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    assert not result.is_error, (tool, arguments, text)
    assert result.structured_content is not None
    return result.structured_content


def _check(i: int, tool: str, answer: dict[str, Any], registry: set[str]) -> None:
    if tool == "oml_validate":
        (diagnostic,) = answer["diagnostics"]
        assert diagnostic["message"] == f"unknown component 'duckdb.process_{i}'"
    elif tool == "oml_compile":
        assert answer["ok"] is True and answer["pipeline"] == f"quick-{i}"
        assert answer["order"] == ["customers", "orders", "revenue", "write_revenue"]
    elif tool == "connections_list":
        refs = {c["ref"] for c in answer["connections"]}
        assert refs >= {"@mysql.shop", "@filesystem.local"}, refs
    elif tool == "components_list":
        assert {c["name"] for c in answer["components"]} == registry
    else:
        names = sorted(t["name"] for t in answer["tables"])
        wanted = _discovery(i).get("tables") or TABLES
        assert names == sorted(wanted), (i, names)
        for table in answer["tables"]:
            columns = TABLES.index(table["name"]) + 2
            assert len(table["columns"]) == columns and table["primary_key"] == ["id"]


async def test_two_hundred_tool_calls_at_once(project: Path) -> None:
    from components.registry import default_registry

    registry = set(default_registry().names())
    server = build_server(Project(project))
    plan: list[tuple[str, dict[str, Any]]] = []
    for i in range(CALLS):
        tool = ("oml_validate", "oml_compile", "connections_list", "components_list")[i % 5 % 4]
        if i % 5 == 4:
            plan.append(("discovery_request", _discovery(i)))
        elif tool == "oml_validate":
            plan.append((tool, {"oml": _misspelled(i)}))
        elif tool == "oml_compile":
            oml = QUICKSTART.replace("name: quickstart", f"name: quick-{i}")
            plan.append((tool, {"oml": oml}))
        else:
            plan.append((tool, {}))
    answers: dict[int, dict[str, Any]] = {}

    async with Client(server, mode="auto") as current, Client(server, mode="legacy") as legacy:

        async def one(i: int, call: Callable[[], Awaitable[dict[str, Any]]]) -> None:
            answers[i] = await call()

        async with anyio.create_task_group() as group:
            for i, (tool, arguments) in enumerate(plan):
                client = current if i % 2 else legacy
                group.start_soon(one, i, lambda c=client, t=tool, a=arguments: _call(c, t, a))

    assert sorted(answers) == list(range(CALLS))
    for i, (tool, _) in enumerate(plan):
        _check(i, tool, answers[i], registry)
    compiled = [answers[i]["manifest_hash"] for i, (t, _) in enumerate(plan) if t == "oml_compile"]
    assert len(set(compiled)) == len(compiled) == CALLS // 5

    audit = (project / ".osiris" / "mcp" / "audit.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in audit]  # every line whole
    assert len([r for r in records if r.get("kind") == "tool"]) == CALLS, records[:3]
    _assert_catalog_store_loads(project)


def _assert_catalog_store_loads(project: Path) -> None:
    """Every entry of the catalog store and every artifact it points to loads."""
    from runtime.catalog import DISCOVERY_ID, CatalogStore, _Entry

    store = CatalogStore(project)
    try:
        keys = list(store._cache.iterkeys())
        entries = [key for key in keys if DISCOVERY_ID.match(str(key))]
        assert len(entries) == 1 + len(TABLES), keys  # the whole schema, and each table
        for key in keys:
            value = store._cache.get(key)
            if key in entries:
                entry = _Entry.from_json(value)
                assert entry is not None and entry.discovery_id == key, key
                assert store.lookup(str(key)) is not None
            else:  # a source's index: discovery id → when
                assert str(key).startswith("source_") and set(value) <= set(entries), value
        for did in entries:
            folder = project / ".osiris" / "discovery" / str(did)
            summary = json.loads((folder / "summary.json").read_text("utf-8"))
            catalog = json.loads((folder / "catalog.json").read_text("utf-8"))
            assert [t["name"] for t in catalog["tables"]] == [t["name"] for t in summary["tables"]]
            for table in summary["tables"]:
                assert json.loads((folder / table["artifact"]).read_text("utf-8"))["name"]
            for line in (folder / "events.jsonl").read_text("utf-8").splitlines():
                assert json.loads(line)["session_id"] == did
            assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    finally:
        store.close()
