"""posthog.extractor: PostHog data through the HogQL query API, page by page, into the data plane.

Each page is one `POST /api/projects/<id>/query/` with a HogQLQuery, ordered by time then
id and limited to `page_size`; the next page starts after the last row's (time, id), so
pages never overlap or skip however many rows share a timestamp. The cursor keeps the
timestamp's full precision: cutting it to the second (as 0.5.7 does) re-reads the rest
of that second on every page and can loop on a busy one. A page shorter than `page_size`
is the last. Pages go into the step's table as they arrive (`components.json_rows`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from components.http_io import JsonClient, public_url
from components.json_rows import JsonTable, as_text
from components.protocol import DriverError, StepContext, StepResult

REGIONS = {"us": "https://us.posthog.com", "eu": "https://eu.posthog.com"}
#: How many recent event uuids deduplication remembers (0.5.7 keeps the same number).
DEDUP_WINDOW = 10_000
DEFAULT_WINDOW = dt.timedelta(days=30)


class PostHogExtractorDriver:
    """Reads `config["data_type"]` from the connection's PostHog project."""

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        settings = {**config, **(ctx.connection or {})}
        api_key = settings.get("api_key")
        if not api_key:
            raise DriverError(
                "posthog.extractor needs an api_key",
                category="config",
                hint="add api_key: ${POSTHOG_API_KEY} to the posthog connection in "
                "osiris_connections.yaml (a personal API key with query read access)",
            )
        project = str(settings.get("project_id") or "").strip()
        if not project:
            raise DriverError(
                "posthog.extractor needs a project_id",
                category="config",
                hint="add project_id to the posthog connection (Project settings → Project ID)",
            )
        url = f"{base_url(settings)}/api/projects/{project}/query/"
        kind = str(settings.get("data_type") or "")
        if kind not in QUERIES:
            raise DriverError(
                f"unknown data_type {kind!r}",
                category="config",
                hint="one of: " + ", ".join(QUERIES),
            )
        page_size = int(settings.get("page_size") or 1000)
        since, until = window(settings, self.clock())
        client = JsonClient(
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            secrets=[str(api_key)],
            timeout_s=30.0,
            max_retries=3,
            retry_delay_s=1.0,
            cancelled=ctx.cancelled,
        )
        dedup = kind == "events" and settings.get("deduplication_enabled", True) is not False
        seen: deque[str] = deque(maxlen=DEDUP_WINDOW)
        skipped = 0
        pages = 0
        with JsonTable(ctx.data_plane, ctx.output_table).loading() as table:
            with client:
                build = QUERIES[kind]
                for rows in _pages(client, url, build, since, until, settings, page_size):
                    pages += 1
                    flat = []
                    for row in rows:
                        uuid = row.get("uuid")
                        if dedup and uuid is not None:
                            if uuid in seen:
                                skipped += 1
                                continue
                            seen.append(uuid)
                        flat.append(FLATTEN[kind](row))
                    table.add_page(flat)
                    ctx.emit("read.progress", rows=table.rows, pages=pages, table=ctx.output_table)
            table.finish(EMPTY_COLUMNS[kind])
        ctx.metric("pages_fetched", pages)
        ctx.metric("rows_deduplicated", skipped)
        return StepResult(
            rows_read=table.rows + skipped,
            rows_written=table.rows,
            details={
                "endpoint": public_url(url),
                "data_type": kind,
                "pages": pages,
                "since": since.isoformat() if kind in TIMED else None,
                "until": until.isoformat() if kind in TIMED else None,
                "columns": [[name, t] for name, t in table.types()],
            },
        )


DRIVER = PostHogExtractorDriver


def base_url(settings: Mapping[str, Any]) -> str:
    """The PostHog host: by region, or `custom_base_url` (self-hosted)."""
    region = settings.get("region")
    custom = settings.get("custom_base_url")
    if custom and region in (None, "self_hosted"):
        return str(custom).rstrip("/")
    if custom:
        raise DriverError(
            f"custom_base_url is set but region is {region!r}",
            category="config",
            hint="set region: self_hosted to use custom_base_url, or remove custom_base_url",
        )
    if region == "self_hosted":
        raise DriverError(
            "region self_hosted needs custom_base_url",
            category="config",
            hint="add custom_base_url: https://posthog.example.com to the connection",
        )
    if (region or "us") not in REGIONS:
        raise DriverError(
            f"unknown region {region!r}", category="config", hint="us, eu or self_hosted"
        )
    return REGIONS[region or "us"]


def window(settings: Mapping[str, Any], now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[since − lookback, now) in UTC, as 0.5.7 reads events and sessions."""
    raw = settings.get("initial_since")
    if raw:
        try:
            since = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise DriverError(
                f"initial_since {raw!r} is not an ISO 8601 time",
                category="config",
                hint="write it as 2024-01-01T00:00:00Z",
            ) from None
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    else:
        since = now - DEFAULT_WINDOW
    lookback = dt.timedelta(minutes=int(settings.get("lookback_window_minutes") or 15))
    return (since - lookback).astimezone(dt.UTC), now.astimezone(dt.UTC)


# --- HogQL ------------------------------------------------------------------------------


def literal(text: str) -> str:
    """A HogQL string literal: quotes doubled, backslashes escaped (ClickHouse reads `\\`).

    >>> print(literal("user's action"))
    'user''s action'
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _moment(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def cursor_time(value: Any) -> str:
    """A row's timestamp as an exact UTC literal text for the next page's cursor."""
    text = str(value)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S.%f")


Query = Callable[[Mapping[str, Any], dt.datetime, dt.datetime, Any, int], str]


def _page(
    columns: str, table: str, conditions: list[str], key: tuple[str, str], last: Any, size: int
) -> str:
    """`size` rows of `table` matching `conditions`, in (time, id) `key` order, past the
    cursor `last` (the previous page's last row; None on the first page)."""
    time_column, id_column = key
    if last is not None:
        at, after = literal(cursor_time(last[0])), literal(str(last[1]))
        conditions = [
            *conditions,
            f"({time_column} > {at} OR ({time_column} = {at} AND {id_column} > {after}))",
        ]
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    return (
        f"SELECT {columns} FROM {table}{where} "
        f"ORDER BY {time_column} ASC, {id_column} ASC LIMIT {size}"
    )


def _within(column: str, since: dt.datetime, until: dt.datetime) -> list[str]:
    return [
        f"{column} >= toDateTime('{_moment(since)}')",
        f"{column} < toDateTime('{_moment(until)}')",
    ]


def _events(
    settings: Mapping[str, Any], since: dt.datetime, until: dt.datetime, last: Any, size: int
) -> str:
    conditions = _within("timestamp", since, until)
    names = settings.get("event_types") or []
    if names:
        conditions.append("event IN (" + ", ".join(literal(str(n)) for n in names) + ")")
    columns = "uuid, event, timestamp, distinct_id, person_id, properties"
    return _page(columns, "events", conditions, CURSOR["events"], last, size)


def _persons(
    settings: Mapping[str, Any], since: dt.datetime, until: dt.datetime, last: Any, size: int
) -> str:
    columns = "id, created_at, properties, is_identified"
    return _page(columns, "persons", [], CURSOR["persons"], last, size)


def _sessions(
    settings: Mapping[str, Any], since: dt.datetime, until: dt.datetime, last: Any, size: int
) -> str:
    conditions = _within("$start_timestamp", since, until)
    return _page("*", "sessions", conditions, CURSOR["sessions"], last, size)


def _distinct_ids(
    settings: Mapping[str, Any], since: dt.datetime, until: dt.datetime, last: Any, size: int
) -> str:
    # no time column: OFFSET pages over a total order (0.5.7 reads it the same way)
    offset = int(last or 0)
    return (
        "SELECT distinct_id, person_id FROM person_distinct_ids "
        f"ORDER BY person_id ASC, distinct_id ASC LIMIT {size} OFFSET {offset}"
    )


QUERIES: dict[str, Query] = {
    "events": _events,
    "persons": _persons,
    "sessions": _sessions,
    "person_distinct_ids": _distinct_ids,
}
TIMED = ("events", "sessions")
#: The (time, id) columns each page's cursor is taken from
CURSOR = {
    "events": ("timestamp", "uuid"),
    "persons": ("created_at", "id"),
    "sessions": ("$start_timestamp", "session_id"),
}


def _pages(
    client: JsonClient,
    url: str,
    build: Query,
    since: dt.datetime,
    until: dt.datetime,
    settings: Mapping[str, Any],
    size: int,
) -> Iterator[list[dict[str, Any]]]:
    kind = str(settings["data_type"])
    last: Any = None
    read = 0
    while True:
        answer = client.post(
            url,
            {"query": {"kind": "HogQLQuery", "query": build(settings, since, until, last, size)}},
        )
        columns, results = _result(answer, url)
        rows = [dict(zip(columns, row, strict=False)) for row in results]
        if rows:
            yield rows
        if len(rows) < size:
            return
        read += len(rows)
        if kind == "person_distinct_ids":
            last = read
        else:
            time_column, id_column = CURSOR[kind]
            last = (rows[-1].get(time_column), rows[-1].get(id_column))
            if last[0] is None or last[1] is None:
                raise DriverError(
                    f"PostHog's answer lacks {time_column} or {id_column}, the page cursor",
                    category="data",
                )


def _result(answer: Any, url: str) -> tuple[Sequence[str], Sequence[Sequence[Any]]]:
    if not isinstance(answer, Mapping) or not isinstance(answer.get("results"), list):
        raise DriverError(
            f"{public_url(url)} answered without a `results` list",
            category="data",
            hint="check that the base URL is a PostHog instance's",
        )
    columns = answer.get("columns")
    if not isinstance(columns, list):
        raise DriverError(f"{public_url(url)} answered without `columns`", category="data")
    return [str(c) for c in columns], answer["results"]


# --- rows -------------------------------------------------------------------------------


def _bag(value: Any) -> Mapping[str, Any]:
    """A property bag: PostHog sends it as JSON text or as an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _spread(row: Mapping[str, Any], fields: Sequence[str], prefix: str) -> dict[str, Any]:
    flat = {name: row.get(name) for name in fields if name in row}
    for key, value in _bag(row.get("properties")).items():
        flat[f"{prefix}{key}"] = as_text(value) if isinstance(value, dict | list) else value
    return flat


FLATTEN: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "events": lambda row: _spread(
        row, ("uuid", "event", "timestamp", "distinct_id", "person_id"), "properties_"
    ),
    "persons": lambda row: _spread(
        row, ("id", "created_at", "is_identified"), "person_properties_"
    ),
    "sessions": dict,
    "person_distinct_ids": dict,
}
#: The columns an empty answer still has (what the data type always returns)
EMPTY_COLUMNS: dict[str, Sequence[tuple[str, str]]] = {
    "events": [(c, "VARCHAR") for c in ("uuid", "event", "timestamp", "distinct_id", "person_id")],
    "persons": [("id", "VARCHAR"), ("created_at", "VARCHAR"), ("is_identified", "BOOLEAN")],
    "sessions": [("session_id", "VARCHAR"), ("$start_timestamp", "VARCHAR")],
    "person_distinct_ids": [("distinct_id", "VARCHAR"), ("person_id", "VARCHAR")],
}


# --- discovery --------------------------------------------------------------------------

#: What discovery reports of each data type: the columns every row has (property columns
#: depend on the data and are left out), as 0.5.7 lists its resources.
RESOURCES: dict[str, Sequence[tuple[str, str]]] = {
    "events": [*EMPTY_COLUMNS["events"], ("properties_*", "VARCHAR")],
    "persons": [*EMPTY_COLUMNS["persons"], ("person_properties_*", "VARCHAR")],
    "sessions": [
        ("session_id", "VARCHAR"),
        ("$start_timestamp", "VARCHAR"),
        ("$end_timestamp", "VARCHAR"),
        ("$session_duration", "BIGINT"),
    ],
    "person_distinct_ids": EMPTY_COLUMNS["person_distinct_ids"],
}


def check_access(settings: Mapping[str, Any], timeout_s: float = 10.0) -> None:
    """One `SELECT 1` HogQL query: the key, the project and the host all work, or a DriverError."""
    api_key = settings.get("api_key")
    if not api_key:
        raise DriverError("the posthog connection has no api_key", category="config")
    url = f"{base_url(settings)}/api/projects/{settings.get('project_id')}/query/"
    with JsonClient(
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        secrets=[str(api_key)],
        timeout_s=timeout_s,
        max_retries=0,
        retry_delay_s=0,
    ) as client:
        _result(client.post(url, {"query": {"kind": "HogQLQuery", "query": "SELECT 1"}}), url)
