"""Shared fixtures: real MariaDB/PostgreSQL databases, created per test and dropped after.

On a machine without the servers the database tests skip with the reason; under CI
(`CI=true`) a missing server fails the run instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
POSTGRES = {
    "host": "127.0.0.1",
    "port": 5432,
    "user": "postgres",
    "password": "",
    "database": "test",
}
ROOT = Path(__file__).resolve().parent.parent


def _unavailable(what: str, err: Exception) -> None:
    message = f"{what} is not reachable on 127.0.0.1 ({type(err).__name__}: {err})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " — CI must run the database tests", pytrace=False)
    pytest.skip(message)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


#: The files of `osiris init --example quickstart`: connections, the example data, the pipeline.
QUICKSTART_FILES = (
    "osiris_connections.yaml",
    "data/orders.csv",
    "data/customers.csv",
    "pipelines/quickstart.yaml",
)


def lay_out_quickstart(root: Path, *more_pipelines: str) -> Path:
    """The quick-start project in `root` (created), plus other shipped pipelines by file name."""
    for name in (*QUICKSTART_FILES, *(f"pipelines/{p}" for p in more_pipelines)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((ROOT / "examples" / name).read_bytes())
    return root


@pytest.fixture
def quickstart_project(tmp_path: Path) -> Path:
    """A project folder holding the quick-start example, as `osiris init --example` makes it."""
    return lay_out_quickstart(tmp_path / "quickstart")


@pytest.fixture
def mysql_db() -> Iterator[dict[str, Any]]:
    """A fresh MariaDB database; yields connection fields for it."""
    import pymysql

    try:
        admin = pymysql.connect(**MYSQL, autocommit=True, connect_timeout=5)
    except pymysql.MySQLError as err:
        _unavailable("MariaDB", err)
    name = unique_name("osiris_t")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield {**MYSQL, "database": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def pg_db() -> Iterator[dict[str, Any]]:
    """A fresh PostgreSQL schema in database `test`; yields connection fields for it."""
    psycopg = pytest.importorskip("psycopg")
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.Error as err:
        _unavailable("PostgreSQL", err)
    name = unique_name("osiris_t")
    admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield {**POSTGRES, "schema": name}
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.close()
