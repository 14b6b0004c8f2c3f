"""API extractors end to end through `osiris run`: connection file, compile, run, CSV out."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from tests.components.api_servers import ORDERS, TOKEN, GraphQLServer

PIPELINE = """\
oml_version: "0.1.0"
name: graphql-orders
steps:
  - id: extract-orders
    component: graphql.extractor
    mode: read
    config:
      connection: "@graphql.shop"
      query: |
        query Orders($first: Int!, $after: String) {
          orders(first: $first, after: $after) {
            edges { node { id total status customer { country } } }
            pageInfo { hasNextPage endCursor }
          }
        }
      variables: {first: 2}
      pagination_enabled: true
      pagination_path: data.orders.pageInfo
      data_path: data.orders.edges[*].node
      retry_delay: 0
  - id: revenue
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${extract-orders.df}"}
    config:
      query: |
        SELECT "customer.country" AS country, count(*) AS orders, round(sum(total), 2) AS revenue
        FROM orders
        WHERE status = 'paid'
        GROUP BY 1
        ORDER BY 1 NULLS LAST
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${revenue.df}"}
    config: {path: output/revenue.csv}
"""


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, GraphQLServer]]:
    with GraphQLServer() as server:
        (tmp_path / "osiris_connections.yaml").write_text(
            "connections:\n"
            "  graphql:\n"
            "    shop:\n"
            f"      endpoint: {server.endpoint}\n"
            "      auth_token: ${SHOP_TOKEN}\n"
            "  filesystem:\n"
            "    local: {base_dir: ., default: true}\n"
        )
        (tmp_path / "pipeline.yaml").write_text(PIPELINE)
        monkeypatch.setenv("SHOP_TOKEN", TOKEN)
        yield tmp_path, server


def _run(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["run", str(project / "pipeline.yaml"), "--project", str(project), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_graphql_to_duckdb_to_csv(
    project: tuple[Path, GraphQLServer], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, server = project
    code, result = _run(folder, capsys)
    assert (code, result["status"]) == (0, "success"), result
    paid: dict[str | None, list[float]] = {}
    for order in ORDERS:
        if order["status"] == "paid":
            country = order["customer"]["country"] if order["customer"] else None
            paid.setdefault(country, []).append(order["total"])
    with (folder / "output" / "revenue.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["country", "orders", "revenue"]
    want = sorted(paid.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    assert rows[1:] == [[c or "", str(len(t)), str(round(sum(t), 2))] for c, t in want]
    # 7 orders, 2 per page
    assert len(server.record.requests) == 4
    # the token never reaches the run's files
    session = Path(str(result["session_dir"]))
    for path in session.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(errors="replace"), path


def test_a_wrong_token_fails_the_run_cleanly(
    project: tuple[Path, GraphQLServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _server = project
    monkeypatch.setenv("SHOP_TOKEN", "not-the-token-98765")
    code, result = _run(folder, capsys)
    assert code != 0 and result["status"] == "failed"
    text = json.dumps(result)
    assert "not-the-token-98765" not in text
    failed = [s for s in result["steps"] if s["status"] == "failed"]  # type: ignore[union-attr]
    assert [s["id"] for s in failed] == ["extract-orders"]
    assert "401" in json.dumps(failed[0])


def test_posthog_persons_to_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.components.api_servers import POSTHOG_KEY, PostHogServer

    with PostHogServer(persons=120) as server:
        (tmp_path / "osiris_connections.yaml").write_text(
            "connections:\n"
            "  posthog:\n"
            "    main:\n"
            "      api_key: ${POSTHOG_API_KEY}\n"
            f"      project_id: '{server.project_id}'\n"
            "      region: self_hosted\n"
            f"      custom_base_url: {server.url}\n"
        )
        (tmp_path / "pipeline.yaml").write_text(
            'oml_version: "0.1.0"\n'
            "name: posthog-persons\n"
            "steps:\n"
            "  - id: persons\n"
            "    component: posthog.extractor\n"
            "    mode: read\n"
            "    config: {data_type: persons, page_size: 100}\n"
            "  - id: write\n"
            "    component: filesystem.csv_writer\n"
            "    mode: write\n"
            '    inputs: {df: "${persons.df}"}\n'
            "    config: {path: output/persons.csv}\n"
        )
        monkeypatch.setenv("POSTHOG_API_KEY", POSTHOG_KEY)
        code, result = _run(tmp_path, capsys)
        want = server.rows("SELECT id FROM persons ORDER BY created_at, id")
    assert (code, result["status"]) == (0, "success"), result
    with (tmp_path / "output" / "persons.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [row[0] for row in want]
    assert rows[0]["person_properties_email"] == "p0@example.com"
    for path in Path(str(result["session_dir"])).rglob("*"):
        if path.is_file():
            assert POSTHOG_KEY not in path.read_text(errors="replace"), path


def test_connections_doctor_checks_the_api_families(tmp_path: Path) -> None:
    from runtime.connections import ConnectionsFile, doctor
    from tests.components.api_servers import POSTHOG_KEY, PostHogServer

    with GraphQLServer() as graphql, PostHogServer() as posthog:
        (tmp_path / "osiris_connections.yaml").write_text(
            "connections:\n"
            "  graphql:\n"
            f"    good: {{endpoint: '{graphql.endpoint}', auth_token: {TOKEN}}}\n"
            f"    bad: {{endpoint: '{graphql.endpoint}', auth_token: wrong-777777}}\n"
            "  posthog:\n"
            f"    good: {{api_key: {POSTHOG_KEY}, project_id: '{posthog.project_id}',"
            f" custom_base_url: '{posthog.url}'}}\n"
            f"    bad: {{api_key: phx_wrong_888888, project_id: '{posthog.project_id}',"
            f" custom_base_url: '{posthog.url}'}}\n"
        )
        file = ConnectionsFile.load(tmp_path, env={})
        results = {
            ref: doctor(file.resolve(ref, ref.split(".")[0][1:]))
            for ref in ("@graphql.good", "@graphql.bad", "@posthog.good", "@posthog.bad")
        }
    assert {ref: r.ok for ref, r in results.items()} == {
        "@graphql.good": True,
        "@graphql.bad": False,
        "@posthog.good": True,
        "@posthog.bad": False,
    }
    for ref in ("@graphql.bad", "@posthog.bad"):
        assert results[ref].category == "auth"
        assert "wrong-777777" not in results[ref].message
        assert "phx_wrong_888888" not in results[ref].message
