"""supabase.extractor and supabase.writer: PostgreSQL drivers on Supabase connection fields.

The tests point Supabase connections at the local PostgreSQL, through `pg_dsn` and through
explicit host fields; deriving the host from a project URL is checked without a network.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from components.postgres.io import PostgresServer, supabase_fields
from components.protocol import DriverError
from components.supabase_extractor.driver import SupabaseExtractor
from components.supabase_writer.driver import SupabaseWriter
from tests.components.databases import postgres_sql as sql
from tests.components.databases import supabase_dsn as dsn
from tests.components.stepcontext import make_context


def test_url_and_password_make_the_direct_database_connection() -> None:
    fields = supabase_fields({"url": "https://abcdefgh.supabase.co", "password": "pw"})
    assert fields == {
        "host": "db.abcdefgh.supabase.co",
        "port": 5432,
        "user": "postgres",
        "database": "postgres",
        "sslmode": "require",
        "password": "pw",
        "pg_dsn": None,
    }
    assert supabase_fields({"project_id": "abcdefgh", "password": "pw"}) == fields


def test_explicit_fields_win_over_derived_ones() -> None:
    fields = supabase_fields(
        {"url": "https://abcdefgh.supabase.co", "host": "pooler.example", "port": 6543}
    )
    assert (fields["host"], fields["port"], fields["user"]) == ("pooler.example", 6543, "postgres")
    # Through a transaction pooler session settings do not stick: libpq reads instead.
    assert PostgresServer(fields).connectorx_url() is None


def test_a_malformed_dsn_is_reported_without_echoing_it() -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    with pytest.raises(DriverError) as raised:
        supabase_fields({"pg_dsn": f"host=127.0.0.1 password {canary}"})
    assert raised.value.category == "config"
    assert canary not in f"{raised.value} {raised.value.hint}"


@pytest.mark.db
@pytest.mark.parametrize("via", ["pg_dsn", "host fields"])
def test_extract_then_write_through_a_supabase_connection(
    tmp_path: Path, pg_db: dict[str, Any], via: str
) -> None:
    sql(
        pg_db,
        "CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), note text)",
        "INSERT INTO orders VALUES (1, 79.19, ''), (2, NULL, NULL)",
    )
    if via == "pg_dsn":
        connection = {"pg_dsn": dsn(pg_db), "schema": pg_db["schema"]}
    else:
        derived = {"url": "https://abcdefgh.supabase.co", "password": "unused"}
        connection = {**derived, **pg_db, "sslmode": "disable"}
    ctx = make_context(tmp_path, connection, step_id="orders")
    result = SupabaseExtractor().run(ctx, {"table": "orders"}, {})
    assert result.details["reader"] == "connectorx"
    assert ctx.rows() == [(1, Decimal("79.19"), ""), (2, None, None)]
    SupabaseWriter().run(ctx, {"table": "copy", "write_mode": "replace"}, {"df": '"orders"'})
    assert sql(pg_db, "SELECT * FROM copy ORDER BY id") == ctx.rows()


@pytest.mark.db
def test_failing_login_through_pg_dsn_never_shows_the_password(
    tmp_path: Path, pg_db: dict[str, Any]
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    connection = {"pg_dsn": dsn({**pg_db, "user": "nobody_here"}, password=canary)}
    ctx = make_context(tmp_path, connection)
    with pytest.raises(DriverError) as raised:
        SupabaseExtractor().run(ctx, {"query": "SELECT 1 AS one"}, {})
    assert raised.value.category == "auth"
    assert canary not in f"{raised.value} {raised.value.hint} {ctx.events}"
