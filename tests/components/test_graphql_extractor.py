"""graphql.extractor against a real GraphQL server on loopback (graphql-core over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.graphql_extractor.driver import GraphQLExtractorDriver
from components.protocol import DriverError
from tests.components.api_servers import ORDERS, TOKEN, GraphQLServer, connection
from tests.components.stepcontext import RecordingContext, make_context

PAGED = """
query Orders($first: Int!, $after: String, $status: String) {
  orders(first: $first, after: $after, status: $status) {
    edges { node { id total status customer { name country } tags big } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
PAGINATION = {
    "pagination_enabled": True,
    "pagination_path": "data.orders.pageInfo",
    "data_path": "data.orders.edges[*].node",
}


@pytest.fixture
def server() -> Iterator[GraphQLServer]:
    with GraphQLServer() as running:
        yield running


def run(ctx: RecordingContext, **config: Any) -> Any:
    defaults = {"retry_delay": 0, "max_retries": 0}
    return GraphQLExtractorDriver().run(ctx, {**defaults, **config}, {})


def expected(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    import json

    return [
        (
            o["id"],
            o["total"],
            o["status"],
            o["customer"]["name"] if o["customer"] else None,
            o["customer"]["country"] if o["customer"] else None,
            json.dumps(o["tags"], separators=(",", ":")),
            str(o["big"]),
        )
        for o in rows
    ]


def test_every_page_is_read_with_exact_rows_and_types(
    server: GraphQLServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connection(server))
    result = run(ctx, query=PAGED, variables={"first": 3}, **PAGINATION)

    # 7 orders, 3 per page: three requests, each with the cursor the last one ended at
    cursors = [r["body"]["variables"].get("after") for r in server.record.requests]
    assert cursors == [None, "c3", "c6"]
    assert result.rows_read == result.rows_written == len(ORDERS)
    assert result.details["pages"] == 3
    assert ctx.rows(order_by="id") == expected(ORDERS)
    assert ctx.types() == [
        ("id", "BIGINT"),
        ("total", "DOUBLE"),
        ("status", "VARCHAR"),
        # customer 4 is null on page 2; the columns came from page 1
        ("customer.name", "VARCHAR"),
        ("customer.country", "VARCHAR"),
        ("tags", "VARCHAR"),
        ("big", "VARCHAR"),
    ]
    assert ctx.metrics["pages_fetched"] == 3
    # the token travels as the connection says: a bearer header
    assert {r["auth"] for r in server.record.requests} == {f"Bearer {TOKEN}"}


def test_variables_reach_the_query_and_max_pages_stops(
    server: GraphQLServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connection(server))
    run(ctx, query=PAGED, variables={"first": 2, "status": "paid"}, max_pages=1, **PAGINATION)
    paid = [o for o in ORDERS if o["status"] == "paid"][:2]
    assert ctx.rows(order_by="id") == expected(paid)
    assert len(server.record.requests) == 1


def test_without_pagination_one_request_and_a_list_path(
    server: GraphQLServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connection(server))
    result = run(
        ctx,
        query="query { orders(first: 100) { edges { node { id status } } } }",
        data_path="data.orders.edges[*].node",
    )
    assert result.rows_read == 7
    assert ctx.rows(order_by="id") == [(o["id"], o["status"]) for o in ORDERS]


def test_flatten_false_keeps_objects_as_json_text(server: GraphQLServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connection(server))
    run(
        ctx,
        query="query { orders(first: 1) { edges { node { id customer { name country } } } } }",
        data_path="data.orders.edges[*].node",
        flatten_result=False,
    )
    assert ctx.rows() == [(1, '{"name":"customer 1","country":"DE"}')]


def test_an_empty_result_is_an_empty_table(server: GraphQLServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connection(server))
    result = run(ctx, query=PAGED, variables={"first": 5, "status": "lost"}, **PAGINATION)
    assert result.rows_read == 0
    assert ctx.rows() == []


def test_a_wrong_token_is_an_auth_error_that_never_shows_the_token(
    server: GraphQLServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connection(server, auth_token="wrong-token-123456"))
    with pytest.raises(DriverError) as caught:
        run(ctx, query=PAGED, variables={"first": 3}, **PAGINATION)
    error = caught.value
    assert error.category == "auth"
    assert "401" in str(error)
    assert "osiris_connections.yaml" in (error.hint or "")
    # the server echoed the refused credential; the message masks it
    assert "wrong-token-123456" not in str(error) and "***" in str(error)
    assert ctx.rows.__self__ is ctx  # the context survives; no table was left behind
    assert "step" not in [r[0] for r in ctx.data_plane.execute("SHOW TABLES").fetchall()]


def test_a_server_error_is_retried_then_reported(server: GraphQLServer, tmp_path: Path) -> None:
    server.record.fail_with = 503
    ctx = make_context(tmp_path, connection(server))
    with pytest.raises(DriverError) as caught:
        run(ctx, query=PAGED, variables={"first": 3}, max_retries=2, **PAGINATION)
    assert caught.value.category == "network" and caught.value.retryable
    assert "503" in str(caught.value)
    assert len(server.record.requests) == 3  # the first try and two retries
    assert TOKEN not in str(caught.value)


def test_graphql_errors_fail_the_step_without_the_secret(
    server: GraphQLServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connection(server))
    with pytest.raises(DriverError, match="GraphQL query failed") as caught:
        run(ctx, query="query { boom }", data_path="data")
    assert TOKEN not in str(caught.value)
    with pytest.raises(DriverError, match="GraphQL query failed"):
        run(ctx, query="query { nosuchfield }")


def test_a_data_path_typo_lists_the_fields_there(server: GraphQLServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connection(server))
    with pytest.raises(DriverError, match="no field 'order'") as caught:
        run(ctx, query=PAGED, variables={"first": 1}, data_path="data.order.edges[*].node")
    assert caught.value.hint == "fields there: orders"


def test_pagination_without_page_info_is_an_error(server: GraphQLServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connection(server))
    with pytest.raises(DriverError, match=r"no field 'info' at data\.orders"):
        run(
            ctx,
            query=PAGED,
            variables={"first": 3},
            **{**PAGINATION, "pagination_path": "data.orders.info"},
        )


def test_a_credential_header_is_refused(server: GraphQLServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connection(server, headers={"Authorization": "Bearer x"}))
    with pytest.raises(DriverError, match="carries a credential") as caught:
        run(ctx, query=PAGED)
    assert "auth_token" in (caught.value.hint or "")
    assert server.record.requests == []


def test_api_key_auth_sends_the_named_header(server: GraphQLServer, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path, connection(server, auth_type="api_key", auth_header_name="X-Shop-Token")
    )
    with pytest.raises(DriverError) as caught:
        run(ctx, query=PAGED, variables={"first": 1}, data_path="data.orders.edges[*].node")
    # the test server only takes a bearer token: the request carried the other header
    assert caught.value.category == "auth"
    assert server.record.requests[0]["auth"] is None


def test_an_unreachable_endpoint_is_a_network_error(tmp_path: Path) -> None:
    with GraphQLServer() as gone:
        endpoint = gone.endpoint
    ctx = make_context(tmp_path, {"endpoint": endpoint, "auth_token": TOKEN})
    with pytest.raises(DriverError) as caught:
        run(ctx, query=PAGED)
    assert caught.value.category == "network"
    assert "cannot reach" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "components.json_rows",
        "components.http_io",
        "components.graphql_extractor.driver",
        "components.posthog_extractor.driver",
    ],
)
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_pages_whose_values_disagree_widen_the_column_exactly(tmp_path: Path) -> None:
    from components.json_rows import JsonTable, flatten

    ctx = make_context(tmp_path, None)
    table = JsonTable(ctx.data_plane, ctx.output_table)
    table.add_page([flatten({"n": 1, "flag": True, "c": None}), flatten({"n": 2, "c": {"x": 1}})])
    table.add_page([{"n": 2.5, "flag": "maybe", "late": 7}])
    table.add_page([{"n": "many", "c.x": 9007199254740993}])
    assert ctx.types() == [
        ("n", "VARCHAR"),
        ("flag", "VARCHAR"),
        ("c.x", "BIGINT"),
        ("late", "BIGINT"),
    ]
    assert ctx.rows(order_by="rowid") == [
        ("1.0", "true", None, None),
        ("2.0", None, 1, None),
        ("2.5", "maybe", None, 7),
        ("many", None, 9007199254740993, None),
    ]


def test_keys_that_differ_only_in_case_keep_their_own_columns(tmp_path: Path) -> None:
    from components.json_rows import JsonTable

    ctx = make_context(tmp_path, None)
    table = JsonTable(ctx.data_plane, ctx.output_table)
    table.add_page([{"email": "a@x", "Email": "b@x", "": 1}])
    table.add_page([{"EMAIL": "c@x", "email": "d@x"}])
    assert [name for name, _ in ctx.types()] == ["email", "Email_2", "_", "EMAIL_3"]
    assert ctx.rows(order_by="rowid") == [("a@x", "b@x", 1, None), ("d@x", None, None, "c@x")]
