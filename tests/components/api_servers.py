"""Real HTTP servers on loopback for the API extractors' tests.

`GraphQLServer` answers GraphQL over HTTP with graphql-core executing a schema that has a
cursor-paginated connection (`orders(first, after)`), a bearer-token check and a field
that always fails. `PostHogServer` speaks the part of PostHog's API the posthog.extractor
uses — `POST /api/projects/<id>/query/` with a HogQLQuery — and runs each query in
DuckDB over its own `events`, `persons`, `sessions` and `person_distinct_ids` tables, so
the extractor's own keyset pagination is what gets tested. Both record every request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import duckdb
from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    graphql_sync,
)

TOKEN = "gql-secret-token-4711"
POSTHOG_KEY = "phx_secret_personal_key_0815"


@dataclass
class Recorded:
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: answer every request with this HTTP status (and a body echoing the credential)
    fail_with: int | None = None


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.record = Recorded()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")


# --- GraphQL ---------------------------------------------------------------------------

ORDERS = [
    {
        "id": i,
        "total": [19.99, 5.0, 120.5, 0.1, 7.25, 42.0, 3.5][i - 1],
        "status": ["paid", "open", "paid", "refunded", "paid", "open", "paid"][i - 1],
        "customer": {"name": f"customer {i}", "country": ["CH", "DE", "FR"][i % 3]}
        if i != 4
        else None,
        "tags": ["vip"] if i % 2 else [],
        "big": 2**40 + i,
    }
    for i in range(1, 8)
]


def _schema() -> GraphQLSchema:
    customer = GraphQLObjectType(
        "Customer", {"name": GraphQLField(GraphQLString), "country": GraphQLField(GraphQLString)}
    )
    order = GraphQLObjectType(
        "Order",
        {
            "id": GraphQLField(GraphQLNonNull(GraphQLInt)),
            "total": GraphQLField(GraphQLFloat),
            "status": GraphQLField(GraphQLString),
            "customer": GraphQLField(customer),
            "tags": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLString)))),
            # GraphQL's Int is 32-bit: a 64-bit id travels as a Float-free string, as APIs do
            "big": GraphQLField(GraphQLString, resolve=lambda o, _info: str(o["big"])),
        },
    )
    edge = GraphQLObjectType(
        "OrderEdge",
        {
            "node": GraphQLField(GraphQLNonNull(order)),
            "cursor": GraphQLField(GraphQLNonNull(GraphQLString)),
        },
    )
    page_info = GraphQLObjectType(
        "PageInfo",
        {
            "hasNextPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
            "endCursor": GraphQLField(GraphQLString),
        },
    )
    connection = GraphQLObjectType(
        "OrderConnection",
        {
            "edges": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(edge)))),
            "pageInfo": GraphQLField(GraphQLNonNull(page_info)),
            "totalCount": GraphQLField(GraphQLNonNull(GraphQLInt)),
        },
    )

    def orders(
        _root: Any, info: Any, first: int, after: str | None = None, status: str | None = None
    ) -> Any:
        every = info.context.get("orders", ORDERS) if isinstance(info.context, dict) else ORDERS
        rows = [o for o in every if status is None or o["status"] == status]
        start = int(after.removeprefix("c")) if after else 0
        page = rows[start : start + first]
        end = start + len(page)
        return {
            "edges": [{"node": o, "cursor": f"c{start + n + 1}"} for n, o in enumerate(page)],
            "pageInfo": {"hasNextPage": end < len(rows), "endCursor": f"c{end}" if page else None},
            "totalCount": len(rows),
        }

    def boom(_root: Any, _info: Any) -> Any:
        raise ValueError(f"internal failure near token {TOKEN}")

    query = GraphQLObjectType(
        "Query",
        {
            "orders": GraphQLField(
                GraphQLNonNull(connection),
                args={
                    "first": GraphQLArgument(GraphQLNonNull(GraphQLInt)),
                    "after": GraphQLArgument(GraphQLString),
                    "status": GraphQLArgument(GraphQLString),
                },
                resolve=orders,
            ),
            "boom": GraphQLField(GraphQLInt, resolve=boom),
        },
    )
    return GraphQLSchema(query)


SCHEMA = _schema()


class _GraphQLHandler(_JsonHandler):
    def do_POST(self) -> None:
        body = self.read_json()
        record: Recorded = self.owner.record
        record.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if record.fail_with is not None:
            self.send_json(
                record.fail_with,
                {"message": f"failing on purpose (auth {self.headers.get('Authorization')})"},
            )
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            # an API that echoes the credential it refused: the extractor must mask it
            self.send_json(
                401, {"message": f"bad credentials: {self.headers.get('Authorization')}"}
            )
            return
        result = graphql_sync(
            SCHEMA,
            body.get("query", ""),
            variable_values=body.get("variables"),
            context_value={"orders": self.owner.orders},
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        self.send_json(200, answer)


class GraphQLServer(_Server):
    def __init__(self, orders: list[dict[str, Any]] | None = None) -> None:
        super().__init__(_GraphQLHandler)
        self.orders = ORDERS if orders is None else orders

    @property
    def endpoint(self) -> str:
        return self.url + "/graphql"


# --- PostHog ---------------------------------------------------------------------------

#: HogQL functions the extractor's queries use, as DuckDB macros
_HOGQL_MACROS = ("CREATE MACRO toDateTime(s) AS CAST(s AS TIMESTAMPTZ)",)


def posthog_tables(plane: Any, events: int, persons: int) -> None:
    """Events three to a timestamp (with a fraction of a second), so a page boundary splits
    a tie and the keyset cursor needs both its parts; persons two to a created_at."""
    plane.execute("SET TimeZone = 'UTC'")
    for macro in _HOGQL_MACROS:
        plane.execute(macro)
    plane.execute(
        f"""CREATE TABLE events AS SELECT
              printf('0000-%04d', (i * 7919) % {max(events, 1)}) AS uuid,
              ['$pageview', 'signup', 'purchase'][1 + i % 3] AS event,
              date_trunc('second', now()::TIMESTAMPTZ) - INTERVAL 2 DAY
                + (i // 3) * INTERVAL 1 SECOND + INTERVAL 250 MILLISECOND AS timestamp,
              'user-' || (i % 5) AS distinct_id,
              'person-' || (i % 5) AS person_id,
              json_object('$browser', ['Chrome', 'Firefox'][1 + i % 2], 'n', i,
                          'cart', json_array(i, i + 1)) AS properties
            FROM range({events}) AS r(i)"""
    )
    plane.execute(
        f"""CREATE TABLE persons AS SELECT
              'person-' || printf('%03d', i) AS id,
              TIMESTAMPTZ '2024-01-01 00:00:00+00' + (i // 2) * INTERVAL 1 HOUR AS created_at,
              json_object('email', 'p' || i || '@example.com', 'plan', ['free', 'pro'][1 + i % 2])
                AS properties,
              i % 2 = 0 AS is_identified
            FROM range({persons}) AS r(i)"""
    )


def _as_json(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class _PostHogHandler(_JsonHandler):
    def do_POST(self) -> None:
        record: Recorded = self.owner.record
        body = self.read_json()
        record.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if record.fail_with is not None:
            self.send_json(record.fail_with, {"detail": "failing on purpose"})
            return
        if self.headers.get("Authorization") != f"Bearer {POSTHOG_KEY}":
            self.send_json(
                401,
                {
                    "type": "authentication_error",
                    "detail": f"Invalid key {self.headers.get('Authorization')}",
                },
            )
            return
        match = re.fullmatch(r"/api/projects/(?P<project>[^/]+)/query/", self.path)
        if match is None or match["project"] != self.owner.project_id:
            self.send_json(404, {"detail": "Not found."})
            return
        query = (body or {}).get("query") or {}
        if query.get("kind") != "HogQLQuery":
            self.send_json(400, {"detail": "unsupported query kind"})
            return
        self.owner.hogql.append(query["query"])
        with self.owner.lock:
            cursor = self.owner.plane.cursor()
            try:
                result = cursor.execute(query["query"])
                columns = [d[0] for d in result.description]
                rows = [[_as_json(v) for v in row] for row in result.fetchall()]
            except duckdb.Error as err:
                self.send_json(400, {"type": "validation_error", "detail": str(err)})
                return
            finally:
                cursor.close()
        # PostHog returns a property bag as JSON text, and every value JSON-encoded
        self.send_json(200, {"columns": columns, "results": rows, "hasMore": False})


class PostHogServer(_Server):
    def __init__(self, events: int = 0, persons: int = 0, project_id: str = "4242") -> None:
        super().__init__(_PostHogHandler)
        self.project_id = project_id
        self.hogql: list[str] = []
        self.lock = threading.Lock()
        self.plane = duckdb.connect()
        posthog_tables(self.plane, events, persons)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.plane.close()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.plane.execute(sql).fetchall())


def connection(server: GraphQLServer, **extra: Any) -> Mapping[str, Any]:
    return {"endpoint": server.endpoint, "auth_token": TOKEN, **extra}


def serve(server: _Server) -> Iterator[_Server]:
    with server:
        yield server
