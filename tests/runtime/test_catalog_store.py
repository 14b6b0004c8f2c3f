"""The catalog store: cache hits, drift, expiry, restarts, artifacts, two processes at once."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime.catalog import (
    CatalogStore,
    ColumnChange,
    DriftReport,
    discovery_id,
    discovery_key,
)
from runtime.discovery import DiscoveryError, DiscoveryOptions

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parents[2]

SCHEMA = """
CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(80));
CREATE TABLE orders (
  id BIGINT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2),
  FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE order_notes (order_id BIGINT, line INT, note TEXT, PRIMARY KEY (order_id, line));
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
"""


@dataclass(frozen=True)
class Connection:
    family: str
    alias: str
    fields: dict[str, Any] = field(default_factory=dict)
    secret_values: frozenset[str] = frozenset()


def run_mysql(fields: dict[str, Any], script: str) -> list[Any]:
    import pymysql

    conn = pymysql.connect(**fields, autocommit=True)
    try:
        with conn.cursor() as cur:
            rows: list[Any] = []
            for statement in filter(str.strip, script.split(";")):
                cur.execute(statement)
                rows = list(cur.fetchall())
            return rows
    finally:
        conn.close()


@pytest.fixture
def source(mysql_db: dict[str, Any]) -> Connection:
    run_mysql(mysql_db, SCHEMA)
    return Connection("mysql", "shop", mysql_db)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CatalogStore]:
    with CatalogStore(tmp_path) as opened:
        yield opened


class Clock:
    """A clock the test moves by hand (TTL tests)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_first_discovery_misses_then_hits(source: Connection, store: CatalogStore) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    def record(event_type: str, **data: Any) -> None:
        events.append((event_type, data))

    first = store.discover(source, on_event=record)
    second = store.discover(source, on_event=record)

    assert (first.cached, second.cached) == (False, True)
    assert first.discovery_id == second.discovery_id
    assert first.discovery_id.startswith("disc_") and len(first.discovery_id) == 21
    assert second.catalog == first.catalog
    assert (first.drift, second.drift) == (None, None)
    did = first.discovery_id
    assert [(name, data.get("table")) for name, data in events] == [
        ("discovery.start", None),
        ("discovery.cache_miss", None),
        ("discovery.schema", "big_orders"),
        ("discovery.schema", "customers"),
        ("discovery.schema", "order_notes"),
        ("discovery.schema", "orders"),
        ("discovery.complete", None),
        ("discovery.start", None),
        ("discovery.cache_hit", None),
        ("discovery.complete", None),
    ]
    assert events[1][1] == {"discovery_id": did, "reason": "absent"}
    assert events[3][1] == {
        "discovery_id": did,
        "schema": source.fields["database"],
        "table": "customers",
        "kind": "table",
        "columns": 3,
        "row_estimate": 0,
    }
    assert events[8][1] == {"discovery_id": did, "drift_checked": True}
    complete = {k: v for k, v in events[9][1].items() if k != "duration_ms"}
    assert complete == {"discovery_id": did, "cached": True, "tables": 4, "drift": None}


@pytest.fixture
def counted_user(source: Connection) -> Iterator[Connection]:
    """The source, read as a user of its own, with MariaDB's per-user statement counters on."""
    admin = source.fields
    name = f"osiris_q_{uuid.uuid4().hex[:8]}"
    previous = run_mysql(admin, "SELECT @@GLOBAL.userstat")[0][0]
    run_mysql(
        admin,
        f"CREATE USER '{name}'@'%' IDENTIFIED BY 'counted-pw';"
        f"GRANT SELECT ON `{admin['database']}`.* TO '{name}'@'%';"
        "SET GLOBAL userstat = 1",
    )
    try:
        yield Connection("mysql", "shop", {**admin, "user": name, "password": "counted-pw"})
    finally:
        run_mysql(admin, f"DROP USER IF EXISTS '{name}'@'%'; SET GLOBAL userstat = {previous}")


def selects_by(connection: Connection) -> int:
    rows = run_mysql(
        {k: v for k, v in connection.fields.items() if k not in ("user", "password")}
        | {"user": "root", "password": ""},
        "SELECT SELECT_COMMANDS FROM information_schema.USER_STATISTICS "
        f"WHERE USER = '{connection.fields['user']}'",
    )
    return int(rows[0][0]) if rows else 0


def test_a_cache_hit_runs_the_drift_query_only(
    counted_user: Connection, store: CatalogStore
) -> None:
    start = selects_by(counted_user)
    store.discover(counted_user)
    after_miss = selects_by(counted_user)
    hit = store.discover(counted_user)
    after_hit = selects_by(counted_user)
    store.cached(counted_user)
    after_unchecked = selects_by(counted_user)

    assert hit.cached
    assert after_miss - start == 4  # fingerprint, tables, columns, keys: one each, any table count
    assert after_hit - after_miss == 1  # the fingerprint, nothing else
    assert after_unchecked == after_hit  # no connection at all


def test_drift_after_alter_table_is_rediscovered_and_reported(
    source: Connection, store: CatalogStore
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    first = store.discover(source)
    run_mysql(
        source.fields,
        "ALTER TABLE customers ADD COLUMN phone VARCHAR(30), DROP COLUMN name,"
        " MODIFY email VARCHAR(320) NOT NULL;"
        "CREATE TABLE refunds (id INT PRIMARY KEY);"
        "DROP TABLE order_notes",
    )

    second = store.discover(source, on_event=lambda e, **d: events.append((e, d)))

    db = source.fields["database"]
    assert second.cached is False
    assert second.drift == DriftReport(
        tables_added=(f"{db}.refunds",),
        tables_removed=(f"{db}.order_notes",),
        columns_added=(f"{db}.customers.phone",),
        columns_removed=(f"{db}.customers.name",),
        columns_retyped=(ColumnChange(f"{db}.customers", "email", "varchar(255)", "varchar(320)"),),
    )
    assert second.drift.lines() == [
        f"+ table {db}.refunds",
        f"- table {db}.order_notes",
        f"+ column {db}.customers.phone",
        f"- column {db}.customers.name",
        f"~ column {db}.customers.email: varchar(255) → varchar(320)",
    ]
    assert ("discovery.cache_miss", {"discovery_id": first.discovery_id, "reason": "drift"}) in (
        events
    )
    assert [t.name for t in second.catalog.tables] == [
        "big_orders",
        "customers",
        "orders",
        "refunds",
    ]
    third = store.discover(source)
    assert (third.cached, third.drift) == (True, None)


def test_postgres_drift_is_detected(pg_db: dict[str, Any], store: CatalogStore) -> None:
    import psycopg

    schema = pg_db["schema"]
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg_db)
    source = Connection("postgres", "main", pg_db)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE TABLE "{schema}".items (id int PRIMARY KEY, price numeric(8,2))')
        assert store.discover(source).cached is False
        assert store.discover(source).cached is True
        admin.execute(f'ALTER TABLE "{schema}".items ALTER COLUMN price TYPE numeric(12,2)')
        admin.execute(f'ALTER TABLE "{schema}".items ADD COLUMN sku text')

    refreshed = store.discover(source)
    assert refreshed.cached is False
    assert refreshed.drift == DriftReport(
        columns_added=(f"{schema}.items.sku",),
        columns_retyped=(
            ColumnChange(f"{schema}.items", "price", "numeric(8,2)", "numeric(12,2)"),
        ),
    )


def test_an_expired_entry_is_rediscovered(source: Connection, tmp_path: Path) -> None:
    clock = Clock()
    with CatalogStore(tmp_path, ttl_s=60, clock=clock) as store:
        store.discover(source)
        clock.now += 59
        assert store.cached(source) is not None
        assert store.discover(source).cached is True
        clock.now += 2
        assert store.cached(source) is None

        events: list[tuple[str, dict[str, Any]]] = []
        again = store.discover(source, on_event=lambda e, **d: events.append((e, d)))

    assert again.cached is False
    assert again.drift == DriftReport()  # nothing changed, but it was read again
    assert again.drift.changed is False
    assert events[1] == (
        "discovery.cache_miss",
        {"discovery_id": again.discovery_id, "reason": "expired"},
    )


def test_cached_lookup_makes_no_connection(source: Connection, store: CatalogStore) -> None:
    discovered = store.discover(source).catalog
    # Same source, a password that would fail: only a lookup that never connects succeeds.
    locked_out = Connection("mysql", "shop", {**source.fields, "password": "wrong-pw"})

    assert store.cached(locked_out) == discovered
    assert store.cached(locked_out, DiscoveryOptions()) == discovered
    with pytest.raises(DiscoveryError) as caught:
        store.discover(locked_out)
    assert caught.value.category == "auth"


def test_cached_without_options_takes_a_whole_schema_entry(
    source: Connection, store: CatalogStore
) -> None:
    store.discover(source, DiscoveryOptions(tables=("orders",)))
    assert store.cached(source) is None  # a filtered catalog never stands for the schema

    sampled = store.discover(source, DiscoveryOptions(samples=2)).catalog
    assert store.cached(source) == sampled
    assert store.cached(source, DiscoveryOptions()) is None  # exact options: not discovered
    other_alias = Connection("mysql", "replica", source.fields)
    assert store.cached(other_alias) == sampled.model_copy(update={"connection": "@mysql.replica"})


def test_the_store_survives_a_restart(source: Connection, tmp_path: Path) -> None:
    with CatalogStore(tmp_path) as store:
        first = store.discover(source)
    with CatalogStore(tmp_path) as reopened:
        assert reopened.cached(source) == first.catalog
        assert reopened.discover(source).cached is True
        found = reopened.lookup(first.discovery_id)
    assert found is not None and found.catalog == first.catalog


def test_the_store_is_json_in_private_folders(source: Connection, store: CatalogStore) -> None:
    result = store.discover(source)

    for folder in (store.cache_dir, store.artifacts_root, result.artifacts_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    values = _raw_values(store.cache_dir)
    entry = values[json.dumps(result.discovery_id).encode()]
    assert entry["format"] == 1
    assert entry["key"] == discovery_key(source, DiscoveryOptions())
    assert entry["catalog"]["connection"] == "@mysql.shop"
    assert "password" not in json.dumps(entry["key"])


def _raw_values(cache_dir: Path) -> dict[bytes, Any]:
    """Every value in the diskcache folder, decoded as zlib'd JSON: pickle would not decode."""
    found = {}
    with sqlite3.connect(cache_dir / "cache.db") as db:
        for key, filename, value in db.execute("SELECT key, filename, value FROM Cache"):
            raw = (cache_dir / filename).read_bytes() if filename else value
            found[zlib.decompress(key)] = json.loads(zlib.decompress(raw))
    return found


def test_discovery_id_ignores_secrets_and_the_timeout(source: Connection) -> None:
    key = discovery_key(source, DiscoveryOptions(tables=("B*", "a")))
    other_password = Connection("mysql", "other", {**source.fields, "password": "x-secret"})

    assert key == {
        "component": "mysql",
        "options": {"samples": 0, "schemas": [], "tables": ["a", "b*"]},
        "source": {
            "family": "mysql",
            "host": "127.0.0.1",
            "port": 3306,
            "database": source.fields["database"],
            "schema": None,
            "user": "root",
        },
    }
    assert discovery_id(key) == discovery_id(
        discovery_key(other_password, DiscoveryOptions(tables=("a", "b*"), timeout_s=3))
    )
    assert discovery_id(key) != discovery_id(discovery_key(source, DiscoveryOptions()))


def test_artifacts_are_written_and_follow_the_schema(
    source: Connection, store: CatalogStore
) -> None:
    db = source.fields["database"]
    first = store.discover(source)
    folder = first.artifacts_dir
    assert sorted(p.name for p in folder.iterdir()) == [
        "catalog.json",
        "events.jsonl",
        "summary.json",
        f"table.{db}.big_orders.json",
        f"table.{db}.customers.json",
        f"table.{db}.order_notes.json",
        f"table.{db}.orders.json",
    ]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["discovery_id"] == first.discovery_id
    assert summary["tables"][3] == {
        "schema": db,
        "name": "orders",
        "kind": "table",
        "row_estimate": 0,
        "columns": 3,
        "primary_key": ["id"],
        "artifact": f"table.{db}.orders.json",
    }
    orders = json.loads((folder / f"table.{db}.orders.json").read_text())
    assert orders["foreign_keys"] == [
        {"columns": ["customer_id"], "ref_table": "customers", "ref_columns": ["id"]}
    ]
    assert json.loads((folder / "catalog.json").read_text())["tables"][3] == orders

    run_mysql(source.fields, "DROP TABLE order_notes")
    second = store.discover(source)
    assert not (folder / f"table.{db}.order_notes.json").exists()
    assert json.loads((folder / "summary.json").read_text())["drift"]["tables_removed"] == [
        f"{db}.order_notes"
    ]
    assert store.artifact_path(second.discovery_id, "summary.json") == folder / "summary.json"


@pytest.mark.parametrize(
    ("discovery", "artifact"),
    [
        ("disc_0123456789abcdef", "../../../etc/passwd"),
        ("disc_0123456789abcdef", ".summary.json.tmp"),
        ("disc_0123456789abcdef", "sub/summary.json"),
        ("../disc_0123456789abcdef", "summary.json"),
        ("disc_0123456789ABCDEF", "summary.json"),
        ("disc_0123456789abcdef", "summary.json"),  # well-formed, but no such discovery
    ],
)
def test_artifact_path_rejects_anything_but_a_known_artifact(
    store: CatalogStore, discovery: str, artifact: str
) -> None:
    assert store.artifact_path(discovery, artifact) is None


def test_diff_reports_drift_without_storing_it(source: Connection, store: CatalogStore) -> None:
    assert store.diff(source) is None  # nothing cached yet
    store.discover(source)
    run_mysql(source.fields, "ALTER TABLE orders ADD COLUMN currency CHAR(3)")

    db = source.fields["database"]
    expected = DriftReport(columns_added=(f"{db}.orders.currency",))
    assert store.diff(source) == expected
    assert store.diff(source) == expected  # still measured against the cached entry
    assert store.discover(source).drift == expected


CONCURRENT_WORKER = """
import json, sys
from runtime.catalog import CatalogStore
from runtime.discovery import DiscoveryOptions

class Connection:
    family, alias = "mysql", "shop"
    def __init__(self, fields):
        self.fields = fields

project, fields = sys.argv[1], json.loads(sys.argv[2])
with CatalogStore(project) as store:
    for round in range(20):
        result = store.discover(Connection(fields), refresh=round % 2 == 0)
        assert len(result.catalog.tables) == 4, result
print("ok")
"""


def test_two_processes_discovering_at_once_never_corrupt_the_store(
    source: Connection, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", CONCURRENT_WORKER, str(tmp_path), json.dumps(source.fields)]
    workers = [
        subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outcomes = [worker.communicate(timeout=120) for worker in workers]

    assert [(w.returncode, out) for w, (out, _) in zip(workers, outcomes, strict=True)] == [
        (0, "ok\n"),
        (0, "ok\n"),
    ], [err for _, err in outcomes]
    with CatalogStore(tmp_path) as store:
        catalog = store.cached(source)
        assert catalog is not None and len(catalog.tables) == 4
        result = store.discover(source)
    assert result.cached is True
    for artifact in result.artifacts_dir.iterdir():
        lines = artifact.read_text().splitlines() if artifact.suffix == ".jsonl" else None
        for text in lines if lines is not None else [artifact.read_text()]:
            json.loads(text)  # every file (every event line) whole
    assert not [p for p in result.artifacts_dir.iterdir() if p.name.startswith(".")]


def test_csv_folder_drift_is_detected(tmp_path: Path, store: CatalogStore) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text("id,amount\n1,10\n2,12\n")
    source = Connection("filesystem", "files", {"base_dir": str(data)})
    assert store.discover(source).cached is False
    assert store.discover(source).cached is True

    (data / "orders.csv").write_text("id,amount,note\n1,10.5,a\n2,12,b\n")
    (data / "refunds.csv").write_text("id\n1\n")
    refreshed = store.discover(source)

    assert refreshed.cached is False
    assert refreshed.drift == DriftReport(
        tables_added=("refunds.csv",),
        columns_added=("orders.csv.note",),
        columns_retyped=(ColumnChange("orders.csv", "amount", "BIGINT", "DOUBLE"),),
    )
