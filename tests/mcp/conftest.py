"""Shared plumbing for the MCP server tests: projects, servers, real clients, snapshots.

Every tool test talks to the server through the SDK's own client, in-process, in both
protocol eras: `auto` (the current per-request protocol, dispatched directly) and
`legacy` (the 2025-11-25 initialize handshake over in-memory JSON-RPC streams).

The project's connections file reads a MySQL password from `${OSIRIS_TEST_CANARY}`;
the database tests create a real MariaDB user with that password, so the canary is a
secret the server really uses — and must never show.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.location import PyTestLocation

from osiris_mcp.errors import error_code_of
from osiris_mcp.project import Project
from osiris_mcp.server import OsirisServer, build_server
from tests.conftest import MYSQL

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "snapshots" / "mcp"
CANARY = "Canary-Pw-9c41f7e2d0"
CANARY_VARIABLE = "OSIRIS_TEST_CANARY"
MODES = ("auto", "legacy")  # current protocol (2026-07-28) and the 2025-11-25 handshake

QUICKSTART = (ROOT / "examples" / "pipelines" / "quickstart.yaml").read_text("utf-8")

BROKEN = """\
oml_version: "0.1.0"
name: broken
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config:
      path: data/orders.csv
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [ordrs]
    inputs:
      df: "${orders.df}"
    config:
      path: output/orders.csv
"""


class McpSnapshot(JSONSnapshotExtension):
    """Readable JSON snapshots: snapshots/mcp/<test module>/<test name>.json."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / test_location.basename)


@pytest.fixture
def contract_snapshot(snapshot: Any) -> Any:
    return snapshot.use_extension(McpSnapshot)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write_connections(project: Path, mysql: dict[str, Any] | None = None) -> None:
    """A connections file: the local folder, MySQL with the canary as its password, and a
    MySQL alias nobody listens on (`@mysql.down`, for slow, retrying runs)."""
    mysql = mysql or {**MYSQL, "user": "osiris_nobody", "database": "osiris_none"}
    (project / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  filesystem:\n"
        "    local:\n"
        "      default: true\n"
        "      base_dir: .\n"
        "  mysql:\n"
        "    shop:\n"
        "      default: true\n"
        f"      host: {mysql['host']}\n"
        f"      port: {mysql['port']}\n"
        f"      user: {mysql['user']}\n"
        f"      password: ${{{CANARY_VARIABLE}}}\n"
        f"      database: {mysql['database']}\n"
        "    down:\n"
        "      host: 127.0.0.1\n"
        "      port: 1\n"
        "      user: nobody\n"
        "      database: nothing\n",
        encoding="utf-8",
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the example data and a connections file holding the canary."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "data", root / "data")
    monkeypatch.setenv(CANARY_VARIABLE, CANARY)
    write_connections(root)
    return root


def make_server(project: Path, **options: Any) -> OsirisServer:
    """A server for `project`; options are `Project` fields (limits, the `writes` policy)."""
    return build_server(Project(project, **options))


@asynccontextmanager
async def connect(
    server: OsirisServer, mode: str = "auto", **options: Any
) -> AsyncIterator[Client]:
    async with Client(server, mode=mode, **options) as client:
        yield client


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(project: Path, mode: str) -> AsyncIterator[Client]:
    async with connect(make_server(project), mode) as connected:
        yield connected


async def ok(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool that must succeed; its structured result."""
    result = await client.call_tool(tool, arguments or {})
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    assert not result.is_error, text
    assert result.structured_content is not None
    assert json.loads(text) == result.structured_content  # the text is the same JSON
    return result.structured_content


async def fails(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail with a coded error; its code (the whole text is checked)."""
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, result.structured_content
    text = result.content[0].text  # type: ignore[union-attr]
    code = error_code_of(text)
    assert code is not None, text
    assert "Hint: " in text and "Traceback" not in text, text
    return code


def error_text(result: Any) -> str:
    return str(result.content[0].text)


@pytest.fixture
def canary_user(mysql_db: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A real MariaDB user on the test database whose password is the canary."""
    import pymysql

    user = "osiris_c_" + uuid.uuid4().hex[:8]
    admin = pymysql.connect(**MYSQL, autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{CANARY}'")
            cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{CANARY}'")
            for host in ("%", "localhost"):
                cur.execute(f"GRANT ALL ON `{mysql_db['database']}`.* TO '{user}'@'{host}'")
        yield {**mysql_db, "user": user, "password": CANARY}
    finally:
        with admin.cursor() as cur:
            for host in ("%", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        admin.close()


SHOP_SCHEMA = (
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(80) NOT NULL, country CHAR(2))",
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, "
    "amount DECIMAL(10,2) NOT NULL, status VARCHAR(16) NOT NULL)",
    "INSERT INTO customers VALUES (1, 'Ada', 'GB'), (2, 'Grace', 'US'), (3, 'Alan', 'GB')",
    "INSERT INTO orders VALUES (1, 1, 10.50, 'paid'), (2, 1, 20.00, 'paid'), "
    "(3, 2, 7.25, 'refunded'), (4, 3, 99.99, 'paid')",
)


def run_mysql(fields: dict[str, Any], *statements: str) -> list[Any]:
    import pymysql

    conn = pymysql.connect(**fields, autocommit=True)
    try:
        rows: list[Any] = []
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


@pytest.fixture
def shop(project: Path, canary_user: dict[str, Any]) -> dict[str, Any]:
    """The project's MySQL connection pointing at a real database with a small shop in it."""
    run_mysql(canary_user, *SHOP_SCHEMA)
    write_connections(project, canary_user)
    return canary_user


#: Reads MySQL, aggregates in DuckDB, replaces a MySQL table: a plan that needs consent.
REVENUE = """\
oml_version: "0.1.0"
name: revenue
steps:
  - id: orders
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.shop"
      query: SELECT id, customer_id, amount, status FROM orders
  - id: revenue
    component: duckdb.processor
    mode: transform
    inputs:
      orders: "${orders.df}"
    config:
      query: |
        SELECT customer_id, sum(amount) AS revenue
        FROM orders
        WHERE status = 'paid'
        GROUP BY customer_id
        ORDER BY customer_id
  - id: store
    component: mysql.writer
    mode: write
    inputs:
      df: "${revenue.df}"
    config:
      connection: "@mysql.shop"
      table: revenue_by_customer
      write_mode: replace
"""


def everything_in(project: Path) -> str:
    """Every text file the server wrote in the project (logs, audit, caches, runs, memory)."""
    parts = []
    for path in sorted(project.rglob("*")):
        if path.is_file() and path.suffix not in (".duckdb", ".wal"):
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)
