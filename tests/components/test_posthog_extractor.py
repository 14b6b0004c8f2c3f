"""posthog.extractor against a real HTTP server speaking PostHog's HogQL query endpoint.

The server runs each HogQL query the extractor sends in DuckDB over its own tables, so
the rows are compared with what the server holds, and the pagination under test is the
extractor's own keyset cursor (three events share each timestamp, which has milliseconds).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.posthog_extractor.driver import PostHogExtractorDriver
from components.protocol import DriverError
from tests.components.api_servers import POSTHOG_KEY, PostHogServer
from tests.components.stepcontext import RecordingContext, make_context

EVENTS = 250


@pytest.fixture
def server() -> Iterator[PostHogServer]:
    with PostHogServer(events=EVENTS, persons=230) as running:
        yield running


def connect(server: PostHogServer, **extra: Any) -> dict[str, Any]:
    return {
        "api_key": POSTHOG_KEY,
        "project_id": server.project_id,
        "region": "self_hosted",
        "custom_base_url": server.url,
        **extra,
    }


def run(ctx: RecordingContext, **config: Any) -> Any:
    return PostHogExtractorDriver().run(ctx, {"page_size": 100, **config}, {})


def test_events_across_pages_are_exactly_the_servers(server: PostHogServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connect(server))
    result = run(ctx, data_type="events", initial_since="2000-01-01T00:00:00Z")

    assert result.rows_read == result.rows_written == EVENTS
    assert result.details["pages"] == 3
    assert len(server.hogql) == 3  # 100 + 100 + 50: a short page is the last
    # the second page starts strictly after the first page's last (timestamp, uuid)
    assert " AND (timestamp > '" in server.hogql[1]
    want = server.rows(
        "SELECT uuid, event, timestamp, distinct_id, person_id, properties FROM events "
        "ORDER BY timestamp, uuid"
    )
    got = ctx.rows(order_by="timestamp, uuid")
    assert len(got) == EVENTS and len({row[0] for row in got}) == EVENTS
    for (uuid, event, at, distinct, person, properties), row in zip(want, got, strict=True):
        bag = json.loads(properties)
        assert row[:5] == (uuid, event, at.isoformat(), distinct, person)
        assert row[5:] == (
            bag["$browser"],
            bag["n"],
            json.dumps(bag["cart"], separators=(",", ":")),
        )
    assert ctx.types() == [
        ("uuid", "VARCHAR"),
        ("event", "VARCHAR"),
        ("timestamp", "VARCHAR"),
        ("distinct_id", "VARCHAR"),
        ("person_id", "VARCHAR"),
        ("properties_$browser", "VARCHAR"),
        ("properties_n", "BIGINT"),
        ("properties_cart", "VARCHAR"),
    ]
    # the key travels as a bearer token to the project's query endpoint
    assert {r["auth"] for r in server.record.requests} == {f"Bearer {POSTHOG_KEY}"}
    assert {r["path"] for r in server.record.requests} == {
        f"/api/projects/{server.project_id}/query/"
    }


def test_event_types_and_the_time_window_narrow_the_events(
    server: PostHogServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connect(server))
    # the server's events start two days ago; a window from yesterday holds the later ones
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=2) + dt.timedelta(seconds=30)
    result = run(
        ctx,
        data_type="events",
        event_types=["signup", "user's action"],
        initial_since=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lookback_window_minutes=5,
    )
    cutoff = (since - dt.timedelta(minutes=5)).replace(microsecond=0)
    want = server.rows(
        f"SELECT uuid FROM events WHERE event IN ('signup') "
        f"AND timestamp >= TIMESTAMPTZ '{cutoff.isoformat()}' ORDER BY timestamp, uuid"
    )
    assert [row[0] for row in ctx.rows(order_by="timestamp, uuid")] == [row[0] for row in want]
    assert result.rows_written == len(want) > 0
    assert "event IN ('signup', 'user''s action')" in server.hogql[0]


def test_persons_with_their_properties(server: PostHogServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connect(server))
    result = run(ctx, data_type="persons")
    assert result.rows_written == 230
    assert len(server.hogql) == 3
    want = server.rows(
        "SELECT id, created_at, is_identified, properties FROM persons ORDER BY created_at, id"
    )
    got = ctx.rows(order_by="created_at, id")
    assert [row[:3] for row in got] == [(i, at.isoformat(), ident) for i, at, ident, _ in want]
    assert [row[3:] for row in got] == [
        (json.loads(p)["email"], json.loads(p)["plan"]) for *_, p in want
    ]
    assert [name for name, _ in ctx.types()] == [
        "id",
        "created_at",
        "is_identified",
        "person_properties_email",
        "person_properties_plan",
    ]


def test_no_rows_is_an_empty_table_with_the_known_columns(tmp_path: Path) -> None:
    with PostHogServer(events=0, persons=0) as empty:
        ctx = make_context(tmp_path, connect(empty))
        result = run(ctx, data_type="events", initial_since="2000-01-01")
    assert result.rows_written == 0
    assert ctx.rows() == []
    assert [name for name, _ in ctx.types()] == [
        "uuid",
        "event",
        "timestamp",
        "distinct_id",
        "person_id",
    ]


def test_a_wrong_key_is_an_auth_error_without_the_key(
    server: PostHogServer, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path, connect(server, api_key="phx_wrong_key_424242"))
    with pytest.raises(DriverError) as caught:
        run(ctx, data_type="events")
    assert caught.value.category == "auth"
    assert "phx_wrong_key_424242" not in str(caught.value)
    assert "osiris_connections.yaml" in (caught.value.hint or "")
    assert len(server.record.requests) == 1  # a refused key is not retried


def test_an_unknown_project_is_a_config_error(server: PostHogServer, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, connect(server, project_id="999"))
    with pytest.raises(DriverError, match="404") as caught:
        run(ctx, data_type="persons")
    assert caught.value.category == "config"


def test_a_server_error_is_retried_then_reported(server: PostHogServer, tmp_path: Path) -> None:
    server.record.fail_with = 502
    driver = PostHogExtractorDriver()
    ctx = make_context(tmp_path, connect(server))
    import components.http_io as http_io

    original = http_io.time.sleep
    http_io.time.sleep = lambda _s: None  # the backoff is real; the test does not wait it out
    try:
        with pytest.raises(DriverError, match="502") as caught:
            driver.run(ctx, {"data_type": "persons", "page_size": 100}, {})
    finally:
        http_io.time.sleep = original
    assert caught.value.retryable
    assert len(server.record.requests) == 4  # the first try and three retries
    assert "step" not in [r[0] for r in ctx.data_plane.execute("SHOW TABLES").fetchall()]


def test_region_and_base_url_rules() -> None:
    from components.posthog_extractor.driver import base_url

    assert base_url({}) == "https://us.posthog.com"
    assert base_url({"region": "eu"}) == "https://eu.posthog.com"
    assert base_url({"custom_base_url": "http://ph.local/"}) == "http://ph.local"
    with pytest.raises(DriverError, match="needs custom_base_url"):
        base_url({"region": "self_hosted"})
    with pytest.raises(DriverError, match="region is 'eu'"):
        base_url({"region": "eu", "custom_base_url": "http://ph.local"})


def test_discovery_lists_the_data_types_and_checks_the_key(
    server: PostHogServer, tmp_path: Path
) -> None:
    from runtime.connections import ResolvedConnection
    from runtime.discovery import DiscoveryError, discover

    fields = connect(server)
    catalog = discover(ResolvedConnection("posthog", "main", fields, frozenset({POSTHOG_KEY})))
    names = [table.name for table in catalog.tables]
    assert names == ["events", "person_distinct_ids", "persons", "sessions"]
    events = next(t for t in catalog.tables if t.name == "events")
    assert [c.name for c in events.columns][:5] == [
        "uuid",
        "event",
        "timestamp",
        "distinct_id",
        "person_id",
    ]
    assert server.hogql == ["SELECT 1"]

    wrong = {**fields, "api_key": "phx_not_it_555"}
    with pytest.raises(DiscoveryError) as caught:
        discover(ResolvedConnection("posthog", "main", wrong, frozenset({"phx_not_it_555"})))
    assert caught.value.category == "auth"
    assert "phx_not_it_555" not in str(caught.value)
