"""Connections and discovery through the tools, against a real MariaDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.mcp.conftest import CANARY, connect, fails, make_server, ok, run_mysql

pytestmark = pytest.mark.anyio


async def test_connections_list_masks_secrets(client: Client) -> None:
    listing = await ok(client, "connections_list")
    assert listing["connections_file"] == "osiris_connections.yaml"
    refs = {c["ref"]: c for c in listing["connections"]}
    assert set(refs) == {"@filesystem.local", "@mysql.shop", "@mysql.down"}
    shop = refs["@mysql.shop"]
    assert shop["default"] is True and shop["fields"]["password"] == "***"
    assert shop["missing_variables"] == []
    assert CANARY not in json.dumps(listing)
    only = await ok(client, "connections_list", {"family": "filesystem"})
    assert [c["ref"] for c in only["connections"]] == ["@filesystem.local"]


async def test_connections_list_names_unset_variables(
    project: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSIRIS_TEST_CANARY")
    async with connect(make_server(project), mode) as client:
        listing = await ok(client, "connections_list", {"family": "mysql"})
    shop = next(c for c in listing["connections"] if c["alias"] == "shop")
    assert shop["missing_variables"] == ["OSIRIS_TEST_CANARY"]


async def test_a_project_without_connections(tmp_path: Path, mode: str) -> None:
    async with connect(make_server(tmp_path), mode) as client:
        listing = await ok(client, "connections_list")
        assert listing["connections_file"] is None and listing["connections"] == []
        arguments = {"connection": "@mysql.shop"}
        assert await fails(client, "discovery_request", arguments) == "connections_file"
        assert await fails(client, "connections_doctor") == "connections_file"


async def test_a_broken_connections_file_is_a_coded_error(project: Path, mode: str) -> None:
    (project / "osiris_connections.yaml").write_text(
        f"connections:\n  mysql:\n    shop: [password: {CANARY}\n"
    )
    async with connect(make_server(project), mode) as client:
        result = await client.call_tool("connections_list", {})
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error and "[connections_file]" in text and CANARY not in text


@pytest.mark.db
async def test_connections_doctor_checks_for_real(client: Client, shop: dict[str, Any]) -> None:
    report = await ok(client, "connections_doctor", {"connection": "@mysql.shop"})
    assert report["ok"] is True
    (check,) = report["checks"]
    assert check["ref"] == "@mysql.shop" and check["latency_ms"] is not None
    everything = await ok(client, "connections_doctor", {"timeout_s": 3})
    by_ref = {c["ref"]: c for c in everything["checks"]}
    assert everything["ok"] is False and by_ref["@mysql.down"]["category"] in ("network", "timeout")
    assert by_ref["@mysql.down"]["hint"]
    assert CANARY not in json.dumps(everything)
    assert await fails(client, "connections_doctor", {"connection": "@mysql.nope"}) == (
        "unknown_connection"
    )


@pytest.mark.db
async def test_discovery_reads_the_real_schema(client: Client, shop: dict[str, Any]) -> None:
    first = await ok(client, "discovery_request", {"connection": "@mysql.shop"})
    assert first["discovery_id"].startswith("disc_") and first["cached"] is False
    assert first["connection"] == "@mysql.shop" and first["family"] == "mysql"
    tables = {t["name"]: t for t in first["tables"]}
    assert set(tables) == {"customers", "orders"}
    assert tables["orders"]["primary_key"] == ["id"]
    assert tables["orders"]["columns"][:3] == [
        "id int(11)",
        "customer_id int(11)",
        "amount decimal(10,2)",
    ]
    assert "country char(2)?" in tables["customers"]["columns"]
    second = await ok(client, "discovery_request", {"connection": "@mysql.shop"})
    assert second["cached"] is True and second["discovery_id"] == first["discovery_id"]

    summary = await client.read_resource(first["summary_uri"])
    assert "customers" in summary.contents[0].text  # type: ignore[union-attr]
    detail = await client.read_resource(tables["orders"]["artifact_uri"])
    assert json.loads(detail.contents[0].text)["name"] == "orders"  # type: ignore[union-attr]


@pytest.mark.db
async def test_discovery_filters_samples_and_drift(client: Client, shop: dict[str, Any]) -> None:
    arguments = {"connection": "@mysql", "tables": ["ord*"], "samples": 2}
    found = await ok(client, "discovery_request", arguments)
    assert [t["name"] for t in found["tables"]] == ["orders"]
    detail = await client.read_resource(found["tables"][0]["artifact_uri"])
    assert len(json.loads(detail.contents[0].text)["samples"]) == 2  # type: ignore[union-attr]

    run_mysql(shop, "ALTER TABLE orders ADD COLUMN note VARCHAR(20)")
    again = await ok(client, "discovery_request", arguments)
    assert again["cached"] is False
    assert again["drift"]["columns_added"] == [f"{shop['database']}.orders.note"]
    refreshed = await ok(client, "discovery_request", {**arguments, "refresh": True})
    assert refreshed["cached"] is False and refreshed["drift"] is None


@pytest.mark.db
async def test_discovery_errors_are_coded(client: Client, shop: dict[str, Any]) -> None:
    assert await fails(client, "discovery_request", {"connection": "@mysql.nope"}) == (
        "unknown_connection"
    )
    assert await fails(client, "discovery_request", {"connection": "not a ref"}) == (
        "unknown_connection"
    )
    code = await fails(client, "discovery_request", {"connection": "@mysql.down"})
    assert code in ("discovery_network", "discovery_timeout")
    arguments = {"connection": "@mysql.shop", "samples": 101}
    assert await fails(client, "discovery_request", arguments) == "invalid_arguments"
    unknown = await client.call_tool("discovery_request", {"connection": "@mysql.shop"})
    assert not unknown.is_error


@pytest.mark.db
async def test_discovery_with_a_wrong_password(
    project: Path, shop: dict[str, Any], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSIRIS_TEST_CANARY", CANARY + "-wrong")
    async with connect(make_server(project), mode) as client:
        result = await client.call_tool("discovery_request", {"connection": "@mysql.shop"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "[discovery_auth]" in text and CANARY not in text


@pytest.mark.db
async def test_discovery_of_many_tables_pages(project: Path, shop: dict[str, Any]) -> None:
    run_mysql(
        shop,
        *(f"CREATE TABLE t_{i:02d} (id INT PRIMARY KEY, label VARCHAR(40))" for i in range(30)),
    )
    async with connect(make_server(project, max_result_bytes=3000)) as client:
        names: list[str] = []
        cursor = None
        while True:
            arguments = {"connection": "@mysql.shop", **({"cursor": cursor} if cursor else {})}
            page = await ok(client, "discovery_request", arguments)
            assert page["total"] == 32
            names += [t["name"] for t in page["tables"]]
            if not page["truncated"]:
                break
            cursor = page["next_cursor"]
    assert sorted(names) == sorted(["customers", "orders", *(f"t_{i:02d}" for i in range(30))])


@pytest.mark.db
async def test_validation_uses_the_discovered_schema(client: Client, shop: dict[str, Any]) -> None:
    from tests.mcp.conftest import REVENUE

    # The typo is in a column no later step reads, so only the table's real
    # columns can catch it: before discovery the extract is taken on trust.
    typo = REVENUE.replace("SELECT id, customer_id, amount", "SELECT idd, customer_id, amount")
    assert (await ok(client, "oml_validate", {"oml": typo}))["valid"]  # nothing discovered yet
    await ok(client, "discovery_request", {"connection": "@mysql.shop"})
    checked = await ok(client, "oml_validate", {"oml": typo})
    assert not checked["valid"]
    (diagnostic,) = [d for d in checked["diagnostics"] if d["severity"] == "error"]
    assert diagnostic["code"] == "SQL408" and "idd" in diagnostic["message"]
    assert "id" in diagnostic["suggestions"]
