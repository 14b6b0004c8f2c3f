"""The security suite's plumbing: secret canaries of every kind, a project that really uses
them, and the scans that prove they never get out.

A canary is a secret the suite sets and then hunts for. Each one holds characters that
change when a value is written into other text — `@ / : " { } ' % + & = # ? \\ ü` and
spaces — so URL-encoding, JSON and YAML escaping, Python reprs and libpq quoting each
spell it differently, and an alphanumeric marker that every one of those spellings keeps.
A scan looks for every spelling the redactor knows, for base64, and for the marker: a leak
in any encoding is found.

The canary project is real: MariaDB has a user whose password is the MySQL canary (read
from the project's `.env`), PostgreSQL answers the Supabase and PostgreSQL connections
(trust authentication on 127.0.0.1 accepts and ignores their passwords, so the secrets
travel for real and the runs succeed), and aliases that fail on purpose — a wrong
password, a port nobody listens on, a role that does not exist — carry canaries too.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from runtime.redaction import encoded_forms
from tests.conftest import MYSQL, ROOT


@dataclass(frozen=True)
class Canary:
    """A secret value to hunt for: `variable` carries it, `marker` survives any encoding."""

    variable: str
    kind: str
    value: str
    marker: str

    def spellings(self) -> set[str]:
        forms = encoded_forms(self.value) | {self.marker}
        return forms | {base64.b64encode(self.value.encode()).decode()}


MYSQL_PASSWORD = Canary(
    "CANARY_MYSQL_PASSWORD", "MySQL connection password", 'p@ss/w:rd"{x}-MyPw7Q2w9', "MyPw7Q2w9"
)
MYSQL_WRONG = Canary(
    "CANARY_MYSQL_WRONG", "MySQL password that fails", "wr0ng p@ss+w/rd=%3D-MyBad3K8e", "MyBad3K8e"
)
SUPABASE_KEY = Canary(
    "CANARY_SUPABASE_KEY",
    "Supabase service-role key",
    "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.SbKey4R8t+/z=",
    "SbKey4R8t",
)
SUPABASE_PASSWORD = Canary(
    "CANARY_SUPABASE_PASSWORD",
    "Supabase database password",
    "Sb pw 'ü' %41&x=1 SbPw5T1y",
    "SbPw5T1y",
)
DSN_URL_PASSWORD = Canary(
    "CANARY_DSN_URL_PASSWORD",
    "password inside a URL DSN (pg_dsn)",
    "Dsn#p@ss/w?rd&x=1:DsnUrl6Y3u",
    "DsnUrl6Y3u",
)
DSN_KV_PASSWORD = Canary(
    "CANARY_DSN_KV_PASSWORD",
    "password inside a key=value DSN",
    "Kv 'q' \\ DsnKv8U4i",
    "DsnKv8U4i",
)
CANARIES = (
    MYSQL_PASSWORD,
    MYSQL_WRONG,
    SUPABASE_KEY,
    SUPABASE_PASSWORD,
    DSN_URL_PASSWORD,
    DSN_KV_PASSWORD,
)


def leaks(text: str | bytes) -> list[str]:
    """Every canary spelling found in `text`, as `kind: spelling`."""
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return [
        f"{canary.kind}: {spelling!r}"
        for canary in CANARIES
        for spelling in sorted(canary.spellings())
        if spelling.encode() in data
    ]


def assert_no_leak(text: str | bytes, where: str) -> None:
    found = leaks(text)
    assert not found, f"{where} holds a secret: {found}"


#: Files that hold a secret on purpose: the user's own `.env`.
SECRET_HOMES = frozenset({".env"})


def leaking_files(root: Path, written_by_the_user: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every file under `root` (gzip unpacked too; symlinks not followed) holding a canary,
    apart from `.env` and the files the test itself wrote a secret into."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name in SECRET_HOMES:
            continue
        if str(path.relative_to(root)) in written_by_the_user:
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        hits = leaks(data)
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def file_count(root: Path) -> int:
    return sum(1 for path in root.rglob("*") if path.is_file())


# -- the canary project --------------------------------------------------------------------------


def kv_quote(value: str) -> str:
    """A libpq conninfo value in single quotes, `\\` and `'` escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_url(password: str, port: int = 5432) -> str:
    return f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/test?sslmode=disable"


def pg_kv(password: str, port: int = 5432, user: str = "postgres") -> str:
    return (
        f"host=127.0.0.1 port={port} user={user} dbname=test sslmode=disable "
        f"password={kv_quote(password)}"
    )


CONNECTIONS = """\
connections:
  filesystem:
    local: {{default: true, base_dir: .}}
  mysql:
    canary:
      default: true
      host: 127.0.0.1
      port: 3306
      user: {user}
      password: ${{CANARY_MYSQL_PASSWORD}}
      database: {database}
    wrong:
      host: 127.0.0.1
      port: 3306
      user: {user}
      password: ${{CANARY_MYSQL_WRONG}}
      database: {database}
    down:
      host: 127.0.0.1
      port: 1
      user: {user}
      password: ${{CANARY_MYSQL_PASSWORD}}
      database: {database}
  supabase:
    canary:
      default: true
      pg_dsn: ${{CANARY_SUPABASE_DSN}}
      key: ${{CANARY_SUPABASE_KEY}}
      schema: {schema}
    pw:
      host: 127.0.0.1
      port: 5432
      user: postgres
      database: test
      sslmode: disable
      password: ${{CANARY_SUPABASE_PASSWORD}}
      key: ${{CANARY_SUPABASE_KEY}}
      schema: {schema}
    down:
      pg_dsn: ${{CANARY_SUPABASE_DOWN_DSN}}
      key: ${{CANARY_SUPABASE_KEY}}
  postgres:
    canary:
      default: true
      dsn: ${{CANARY_PG_DSN}}
      schema: {schema}
    down:
      dsn: ${{CANARY_PG_DOWN_DSN}}
    ghost:
      dsn: ${{CANARY_PG_GHOST_DSN}}
      schema: {schema}
"""


def step(step_id: str, component: str, mode: str, config: str, extra: str = "") -> str:
    return (
        f"  - id: {step_id}\n    component: {component}\n    mode: {mode}\n"
        f"{extra}    config: {config}\n"
    )


def pipeline(name: str, *steps: str) -> str:
    return f'oml_version: "0.1.0"\nname: {name}\nsteps:\n' + "".join(steps)


#: MySQL → Supabase and PostgreSQL → back → DuckDB → CSV: every canary used, the run succeeds.
TRANSFER = pipeline(
    "transfer",
    step(
        "people",
        "mysql.extractor",
        "read",
        '{connection: "@mysql.canary", query: "SELECT id, name FROM people ORDER BY id"}',
    ),
    step(
        "to_supabase",
        "supabase.writer",
        "write",
        '{connection: "@supabase.canary", table: people_sb, write_mode: replace}',
        '    inputs: {df: "${people.df}"}\n',
    ),
    step(
        "to_postgres",
        "postgres.writer",
        "write",
        '{connection: "@postgres.canary", table: people_pg, write_mode: replace}',
        '    inputs: {df: "${people.df}"}\n',
    ),
    step(
        "from_supabase",
        "supabase.extractor",
        "read",
        '{connection: "@supabase.pw", query: "SELECT id, name FROM people_sb ORDER BY id"}',
        "    needs: [to_supabase]\n",
    ),
    step(
        "from_postgres",
        "postgres.extractor",
        "read",
        '{connection: "@postgres.canary", query: "SELECT id, name FROM people_pg ORDER BY id"}',
        "    needs: [to_postgres]\n",
    ),
    step(
        "joined",
        "duckdb.processor",
        "transform",
        '{query: "SELECT a.id, a.name FROM a JOIN b ON a.id = b.id ORDER BY a.id"}',
        '    inputs: {a: "${from_supabase.df}", b: "${from_postgres.df}"}\n',
    ),
    step(
        "out",
        "filesystem.csv_writer",
        "write",
        "{path: output/people.csv}",
        '    inputs: {df: "${joined.df}"}\n',
    ),
)


def one_step(name: str, component: str, connection: str, query: str) -> str:
    return pipeline(
        name, step("read", component, "read", f'{{connection: "{connection}", query: "{query}"}}')
    )


#: Runs that fail in a driver, each with a canary in its connection: name → (OML, category).
FAILURES: dict[str, tuple[str, str]] = {
    "mysql_wrong_password": (
        one_step("mysql_wrong_password", "mysql.extractor", "@mysql.wrong", "SELECT 1 AS one"),
        "auth",
    ),
    "mysql_unreachable": (
        one_step("mysql_unreachable", "mysql.extractor", "@mysql.down", "SELECT 1 AS one"),
        "network",
    ),
    "mysql_sql_error": (
        one_step("mysql_sql_error", "mysql.extractor", "@mysql.canary", "SELECT nope FROM people"),
        "sql",
    ),
    "supabase_unreachable": (
        one_step("supabase_unreachable", "supabase.extractor", "@supabase.down", "SELECT 1 AS one"),
        "network",
    ),
    "supabase_sql_error": (
        one_step("supabase_sql_error", "supabase.extractor", "@supabase.pw", "SELECT 1/0 AS x"),
        "data",
    ),
    "postgres_unreachable": (
        one_step("postgres_unreachable", "postgres.extractor", "@postgres.down", "SELECT 1 AS one"),
        "network",
    ),
    "postgres_unknown_role": (
        one_step("postgres_unknown_role", "postgres.extractor", "@postgres.ghost", "SELECT 1 AS x"),
        "auth",
    ),
    "postgres_sql_error": (
        one_step("postgres_sql_error", "postgres.extractor", "@postgres.canary", "SELECT 1/0 AS x"),
        "data",
    ),
}


@dataclass
class CanaryProject:
    """A project whose connections use every canary; `env` is what a user's shell holds."""

    root: Path
    env: dict[str, str]
    mysql: dict[str, Any]
    schema: str
    outputs: list[str] = field(default_factory=list)

    def osiris(self, *args: str, expect: int | None = 0) -> Output:
        """Run the real `osiris` command line in the project: its exit code and outputs.

        Every output is kept in `outputs`, so a test can check all of them at the end.
        """
        done = subprocess.run(
            [sys.executable, "-m", "osiris_mcp.cli", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            timeout=300,
        )
        result = Output(
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )
        self.outputs.append(f"$ osiris {' '.join(args)}\n{result.stdout}{result.stderr}")
        if expect is not None:
            assert done.returncode == expect, f"osiris {' '.join(args)}: {result}"
        return result


@dataclass(frozen=True)
class Output:
    """What one command printed."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"exit {self.code}\n{self.stdout}\n{self.stderr}"


def canary_env(ghost_user: str) -> dict[str, str]:
    """The canaries a shell would export (the MySQL password comes from `.env` instead)."""
    return {
        MYSQL_WRONG.variable: MYSQL_WRONG.value,
        SUPABASE_KEY.variable: SUPABASE_KEY.value,
        SUPABASE_PASSWORD.variable: SUPABASE_PASSWORD.value,
        "CANARY_SUPABASE_DSN": pg_url(DSN_URL_PASSWORD.value),
        "CANARY_SUPABASE_DOWN_DSN": pg_url(DSN_URL_PASSWORD.value, port=1),
        "CANARY_PG_DSN": pg_kv(DSN_KV_PASSWORD.value),
        "CANARY_PG_DOWN_DSN": pg_kv(DSN_KV_PASSWORD.value, port=1),
        "CANARY_PG_GHOST_DSN": pg_kv(DSN_KV_PASSWORD.value, user=ghost_user),
    }


@pytest.fixture
def mysql_canary(mysql_db: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A MariaDB user whose password is the MySQL canary, owning a small `people` table."""
    import pymysql

    user = "osec_" + uuid.uuid4().hex[:8]
    admin = pymysql.connect(**MYSQL, autocommit=True)
    try:
        with admin.cursor() as cur:
            for host in ("%", "localhost"):
                cur.execute(
                    "CREATE USER %s@%s IDENTIFIED BY %s", (user, host, MYSQL_PASSWORD.value)
                )
                cur.execute(f"GRANT ALL ON `{mysql_db['database']}`.* TO %s@%s", (user, host))
            cur.execute(
                f"CREATE TABLE `{mysql_db['database']}`.people "
                "(id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)"
            )
            cur.execute(
                f"INSERT INTO `{mysql_db['database']}`.people VALUES (1, 'Ada'), (2, 'Grace')"
            )
        yield {**mysql_db, "user": user, "password": MYSQL_PASSWORD.value}
    finally:
        with admin.cursor() as cur:
            for host in ("%", "localhost"):
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        admin.close()


@pytest.fixture
def canary_project(
    tmp_path: Path, mysql_canary: dict[str, Any], pg_db: dict[str, Any]
) -> CanaryProject:
    """The project: connections, `.env` with the MySQL canary, the pipelines, the data."""
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "data").mkdir()
    shutil.copy(ROOT / "examples" / "data" / "orders.csv", root / "data" / "orders.csv")
    (root / "osiris_connections.yaml").write_text(
        CONNECTIONS.format(
            user=mysql_canary["user"], database=mysql_canary["database"], schema=pg_db["schema"]
        ),
        encoding="utf-8",
    )
    (root / ".env").write_text(
        f"{MYSQL_PASSWORD.variable}='{MYSQL_PASSWORD.value}'\n", encoding="utf-8"
    )
    (root / "pipelines" / "transfer.yaml").write_text(TRANSFER, encoding="utf-8")
    for name, (oml, _) in FAILURES.items():
        (root / "pipelines" / f"{name}.yaml").write_text(oml, encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CANARY_", "OSIRIS_", "MYSQL_", "PG_"))
    }
    env.update(canary_env("osiris_ghost_" + uuid.uuid4().hex[:8]))
    env["OSIRIS_LOG_LEVEL"] = "TRACE"
    env["RUST_BACKTRACE"] = "1"  # a panic in a native driver prints all it knows
    return CanaryProject(root, env, mysql_canary, pg_db["schema"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local process sandbox's virtual environment: built once per test session."""
    return tmp_path_factory.mktemp("security-sandbox-cache")
