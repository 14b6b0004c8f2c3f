"""graphql.extractor: a GraphQL query's rows, page by page, into the step's data-plane table.

One POST per page (`{"query", "variables"}`); the rows are the items at `data_path` in the
answer and the next page's cursor is read from the same answer's pageInfo, so each page
costs one request. Pages go into the table as they arrive (`components.json_rows`):
memory holds one page. A path that names a field the answer does not have is an error
that lists the fields it does have — a typo never reads as "no rows".
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any

from components.common.secrets import mask
from components.http_io import JsonClient, public_url
from components.json_rows import JsonTable, flatten
from components.protocol import DriverError, StepContext, StepResult

#: One step of a data path: a field name, then an optional [*] or [N].
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\*|[0-9]+)\])?$")
#: Header names that carry credentials: those belong in the connection's auth_token.
_CREDENTIAL_HEADER = re.compile(r"(authorization|cookie|token|secret|api[-_]?key|password)", re.I)


class GraphQLExtractorDriver:
    """Runs `config["query"]` against the connection's endpoint into `ctx.output_table`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        settings = {**config, **(ctx.connection or {})}
        endpoint = settings.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise DriverError(
                "graphql.extractor needs an endpoint URL",
                category="config",
                hint="set `endpoint: https://…/graphql` on the graphql connection in "
                "osiris_connections.yaml",
            )
        query = config.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DriverError("`query` is required: a GraphQL query document", category="config")
        headers, secrets = _headers(settings)
        client = JsonClient(
            headers=headers,
            secrets=secrets,
            timeout_s=float(settings.get("timeout", 30)),
            max_retries=int(settings.get("max_retries", 3)),
            retry_delay_s=float(settings.get("retry_delay", 1.0)),
            verify=settings.get("validate_ssl", True) is not False,
            cancelled=ctx.cancelled,
        )
        pages = 0
        with JsonTable(ctx.data_plane, ctx.output_table).loading() as table:
            with client:
                for answer in _pages(client, endpoint, query, settings, secrets):
                    pages += 1
                    rows = [
                        flatten(r) if settings.get("flatten_result", True) is not False else r
                        for r in _rows(answer, str(settings.get("data_path", "data")))
                    ]
                    table.add_page(rows)
                    ctx.emit("read.progress", rows=table.rows, pages=pages, table=ctx.output_table)
            table.finish()
        ctx.metric("pages_fetched", pages)
        ctx.metric("requests_made", client.requests)
        return StepResult(
            rows_read=table.rows,
            rows_written=table.rows,
            details={
                "endpoint": public_url(endpoint),
                "pages": pages,
                "columns": [[name, kind] for name, kind in table.types()],
            },
        )


DRIVER = GraphQLExtractorDriver


def _headers(settings: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The request headers, and every secret they carry (masked in any error)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    extra = settings.get("headers") or {}
    if not isinstance(extra, Mapping):
        raise DriverError("`headers` must map header names to values", category="config")
    for name, value in extra.items():
        if _CREDENTIAL_HEADER.search(str(name)):
            raise DriverError(
                f"the header {name!r} carries a credential; headers may not",
                category="config",
                hint="put the credential in the connection's auth_token (a ${VARIABLE}) with "
                f"auth_type: api_key and auth_header_name: {name}",
            )
        headers[str(name)] = str(value)
    token = settings.get("auth_token")
    token = str(token) if token not in (None, "") else None
    kind = settings.get("auth_type") or ("bearer" if token else "none")
    secrets = [token] if token else []
    if kind == "none":
        return headers, secrets
    if token is None:
        raise DriverError(
            f"auth_type {kind} needs an auth_token",
            category="config",
            hint="add auth_token: ${API_TOKEN} to the graphql connection "
            "in osiris_connections.yaml",
        )
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif kind == "basic":
        user = settings.get("auth_username")
        if not user:
            raise DriverError("auth_type basic needs auth_username", category="config")
        encoded = base64.b64encode(f"{user}:{token}".encode()).decode()
        headers["Authorization"] = f"Basic {encoded}"
        secrets.append(encoded)
    elif kind == "api_key":
        headers[str(settings.get("auth_header_name") or "X-API-Key")] = token
    else:
        raise DriverError(f"unknown auth_type {kind!r}", category="config")
    return headers, secrets


def _pages(
    client: JsonClient,
    endpoint: str,
    query: str,
    settings: Mapping[str, Any],
    secrets: list[str],
) -> Iterator[Any]:
    """Each answer's `data`-holding document, following the cursor when paginating."""
    variables = dict(settings.get("variables") or {})
    paginate = settings.get("pagination_enabled") is True
    limit = int(settings.get("max_pages") or 0)
    seen: set[str] = set()
    page = 0
    while True:
        answer = client.post(endpoint, {"query": query, "variables": variables})
        _raise_errors(answer, endpoint, secrets)
        page += 1
        yield answer
        if not paginate or (limit and page >= limit):
            return
        info = _page_info(answer, str(settings.get("pagination_path", "data.pageInfo")))
        has_next = info.get(str(settings.get("pagination_has_next_field", "hasNextPage")))
        cursor = info.get(str(settings.get("pagination_cursor_field", "endCursor")))
        if has_next is not True or cursor in (None, ""):
            return
        if str(cursor) in seen:
            raise DriverError(
                f"{public_url(endpoint)} gave the cursor of an earlier page again",
                category="data",
                hint="check pagination_variable_name: the query must pass it to the field's "
                "`after` argument",
            )
        seen.add(str(cursor))
        variables[str(settings.get("pagination_variable_name", "after"))] = cursor


def _raise_errors(answer: Any, endpoint: str, secrets: list[str]) -> None:
    if not isinstance(answer, Mapping):
        raise DriverError(
            f"{public_url(endpoint)} answered with JSON that is not an object",
            category="data",
        )
    errors = answer.get("errors")
    if errors:
        listed = errors if isinstance(errors, list) else [errors]
        texts = [str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in listed]
        said = mask("; ".join(texts), secrets)[:500]
        raise DriverError(
            f"the GraphQL query failed: {said}",
            category="sql",
            hint="check the query's fields and variables against the API's schema",
        )


def _page_info(answer: Any, path: str) -> Mapping[str, Any]:
    found = list(select(answer, path))
    if len(found) != 1 or not isinstance(found[0], Mapping):
        raise DriverError(
            f"no pageInfo object at pagination_path {path!r}",
            category="config",
            hint="point pagination_path at the pageInfo object, e.g. data.products.pageInfo, "
            "and select hasNextPage and endCursor in the query",
        )
    return found[0]


def _rows(answer: Any, path: str) -> Iterator[Mapping[str, Any]]:
    """The records at `path`: a list's items, an object as one row, a scalar as `value`."""
    matches = [answer] if path == "" else list(select(answer, path))
    for match in matches:
        items = match if isinstance(match, list) else [match]
        for item in items:
            if item is None:
                continue
            yield item if isinstance(item, Mapping) else {"value": item}


def select(document: Any, path: str) -> Iterator[Any]:
    """The values `path` names in `document` (`a.b[*].c`, `a[0]`); a missing field is an error.

    >>> list(select({"data": {"items": [{"n": 1}, {"n": 2}]}}, "data.items[*].n"))
    [1, 2]
    >>> list(select({"data": {"user": None}}, "data.user.name"))
    []
    """
    segments = path.lstrip("$").lstrip(".").split(".")
    current: list[Any] = [document]
    walked: list[str] = []
    for segment in segments:
        match = _SEGMENT.match(segment)
        if match is None:
            raise DriverError(f"data path {path!r} is not of the form a.b[*].c", category="config")
        name, index = match["name"], match["index"]
        following: list[Any] = []
        for value in current:
            if value is None:
                continue  # a null object has no rows below it
            if not isinstance(value, Mapping) or name not in value:
                keys = sorted(value) if isinstance(value, Mapping) else []
                at = ".".join(walked) or "the answer"
                raise DriverError(
                    f"the answer has no field {name!r} at {at} (path {path!r})",
                    category="config",
                    hint=("fields there: " + ", ".join(keys)) if keys else "check the path",
                )
            item = value[name]
            if index is None:
                following.append(item)
            elif item is None:
                continue
            elif not isinstance(item, list):
                raise DriverError(
                    f"{'.'.join([*walked, name])} is not a list (path {path!r})", category="config"
                )
            elif index == "*":
                following.extend(item)
            elif int(index) < len(item):
                following.append(item[int(index)])
        walked.append(segment)
        current = following
    yield from current


def check_access(settings: Mapping[str, Any], timeout_s: float = 10.0) -> None:
    """One `{ __typename }` query: the endpoint answers GraphQL and takes the credentials."""
    endpoint = settings.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise DriverError("the graphql connection has no endpoint URL", category="config")
    headers, secrets = _headers(settings)
    with JsonClient(
        headers=headers, secrets=secrets, timeout_s=timeout_s, max_retries=0, retry_delay_s=0
    ) as client:
        _raise_errors(client.post(endpoint, {"query": "{ __typename }"}), endpoint, secrets)
