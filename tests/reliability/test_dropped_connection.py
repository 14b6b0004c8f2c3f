"""A connection dropped by the server mid-stream (KILL CONNECTION, pg_terminate_backend).

Only the session of the run under test is cut, found by what it alone touches, so these
run against the shared servers. The step fails as a network error (never as a value the
fast reader could not read, never masked by the rollback on the dead connection), the
target is as it was and no staging table is left; with `retry` an extract is read again
and the run ends correct.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from tests.conftest import MYSQL, POSTGRES
from tests.reliability.harness import (
    Project,
    assert_failed_at,
    assert_succeeded,
    events,
    finish,
    mysql_rows,
    mysql_staging_tables,
    numbered_rows_csv,
    postgres_staging_tables,
)

ROWS = 1_000_000
RETRY = "\n    retry: {max_attempts: 2, backoff_ms: 100}"


def _cut(find: Callable[[], list[int]], kill: Callable[[int], None], timeout: float = 60) -> None:
    """Kill the first session `find` returns, as soon as there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = find()
        if sessions:
            for session in sessions:
                kill(session)
            return
        time.sleep(0.01)
    raise AssertionError(f"the run's session did not show within {timeout} s")


@contextlib.contextmanager
def _frozen(pid: int) -> Iterator[None]:
    """SIGSTOP a process and its children for the block, SIGCONT after."""
    family = [pid, *_descendants(pid)]
    for member in family:
        os.kill(member, signal.SIGSTOP)
    try:
        yield
    finally:
        for member in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGCONT)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _mysql_admin() -> Any:
    return pymysql.connect(**MYSQL, autocommit=True)


def _pg_admin() -> Any:
    return psycopg.connect(
        "host={host} port={port} user={user} dbname={database}".format(**POSTGRES),
        autocommit=True,
    )


def _extract_pipeline(family: str, query: str, retry: bool) -> str:
    return f"""oml_version: "0.1.0"
name: extract-{family}
steps:
  - id: extract
    component: {family}.extractor
    mode: read{RETRY if retry else ""}
    config:
      query: "{query}"
      batch_size: 20000
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {{df: "${{extract.df}}"}}
    config: {{path: out/rows.csv}}
"""


def _check_extract(project: Project, pipeline: Path, result: dict[str, Any], retry: bool) -> None:
    target = project.root / "out" / "rows.csv"
    if retry:
        status = assert_succeeded(result)
        assert status["steps"][0]["attempts"] == 2
        retried = [e for e in events(Path(result["session_dir"])) if "retry" in e["event_type"]]
        assert [e["data"]["category"] for e in retried] == ["network"]
    else:
        assert target.read_text() == "before\n"
        assert_failed_at(result, "extract", "network")
        assert project.leftover_files() == []
        assert_succeeded(project.run(pipeline))
    with target.open() as handle:
        assert sum(1 for _ in handle) == ROWS + 1
    assert project.leftover_files() == []


@pytest.mark.db
@pytest.mark.parametrize("retry", [False, True], ids=["no-retry", "retry"])
def test_mysql_extract_connection_killed(
    tmp_path: Path, mysql_db: dict[str, Any], retry: bool
) -> None:
    marker = f"cut_{uuid.uuid4().hex[:12]}"
    project = Project.make(tmp_path, mysql=mysql_db)
    (project.root / "out").mkdir()
    (project.root / "out" / "rows.csv").write_text("before\n")
    query = f"SELECT seq AS id, md5(seq) AS h, '{marker}' AS tag FROM seq_1_to_{ROWS}"
    pipeline = project.pipeline("p", _extract_pipeline("mysql", query, retry))

    with _mysql_admin() as admin:
        run = project.start(pipeline)

        def readers() -> list[int]:
            rows = mysql_rows(
                admin,
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                f"AND INFO LIKE '%osiris-read-%' AND INFO LIKE '%{marker}%'",
            )
            return [int(row[0]) for row in rows]

        project.wait_for("read.progress", "extract")
        _cut(readers, lambda thread: mysql_rows(admin, f"KILL CONNECTION {thread}"))
        result = finish(run)
    _check_extract(project, pipeline, result, retry)


@pytest.mark.db
@pytest.mark.parametrize("retry", [False, True], ids=["no-retry", "retry"])
def test_postgres_extract_backend_terminated(
    tmp_path: Path, pg_db: dict[str, Any], retry: bool
) -> None:
    marker = f"cut_{uuid.uuid4().hex[:12]}"
    project = Project.make(tmp_path, postgres=pg_db)
    (project.root / "out").mkdir()
    (project.root / "out" / "rows.csv").write_text("before\n")
    query = (
        f"SELECT i AS id, md5(i::text) AS h, '{marker}' AS tag FROM generate_series(1, {ROWS}) AS i"
    )
    pipeline = project.pipeline("p", _extract_pipeline("postgres", query, retry))

    with _pg_admin() as admin:
        run = project.start(pipeline)

        def readers() -> list[int]:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND query LIKE %s AND query NOT LIKE %s",
                (f"%{marker}%", "%_osiris_probe%"),
            ).fetchall()
            return [int(row[0]) for row in rows]

        project.wait_for("read.progress", "extract")
        _cut(readers, lambda pid: admin.execute("SELECT pg_terminate_backend(%s)", (pid,)))
        result = finish(run)
    _check_extract(project, pipeline, result, retry)


WRITE = """oml_version: "0.1.0"
name: write-FAMILY
steps:
  - id: rows
    component: filesystem.csv_extractor
    mode: read
    config: {path: rows.csv}
  - id: write
    component: FAMILY.writer
    mode: write
    inputs: {df: "${rows.df}"}
    config: {table: target, write_mode: WRITE_MODE, batch_size: 10000}
"""
WRITE_ROWS = 400_000


@pytest.mark.db
@pytest.mark.parametrize("write_mode", ["replace", "append", "upsert"])
def test_mysql_writer_connection_killed(
    tmp_path: Path, mysql_db: dict[str, Any], write_mode: str
) -> None:
    database = mysql_db["database"]
    project = Project.make(tmp_path, mysql=mysql_db)
    numbered_rows_csv(project.root / "rows.csv", WRITE_ROWS)
    text = WRITE.replace("FAMILY", "mysql").replace("WRITE_MODE", write_mode)
    if write_mode == "upsert":
        text = text.replace("batch_size", "primary_key: id, batch_size")
    pipeline = project.pipeline("p", text)
    with _mysql_admin() as admin:
        mysql_rows(admin, f"CREATE TABLE `{database}`.target (id BIGINT PRIMARY KEY, h TEXT)")
        mysql_rows(admin, f"INSERT INTO `{database}`.target VALUES (-1, 'a'), (-2, 'b')")
        before = mysql_rows(admin, f"SELECT * FROM `{database}`.target ORDER BY id")

        def writers() -> list[int]:
            rows = mysql_rows(
                admin,
                "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                f"AND DB = '{database}'",
            )
            return [int(row[0]) for row in rows]

        run = project.start(pipeline)
        project.wait_for("write.progress", "write")
        # Frozen, the run cannot finish its loads between the lookup and the kill (each LOAD
        # DATA batch is short): its connection is cut mid-write, whatever it was doing.
        with _frozen(run.pid):
            _cut(writers, lambda thread: mysql_rows(admin, f"KILL CONNECTION {thread}"))
        result = finish(run)

        assert mysql_rows(admin, f"SELECT * FROM `{database}`.target ORDER BY id") == before
        assert_failed_at(result, "write", "network")
        assert mysql_staging_tables(admin, database) == []
        assert project.leftover_files() == []

        assert_succeeded(project.run(pipeline))
        count, low, high = mysql_rows(
            admin, f"SELECT count(*), min(id), max(id) FROM `{database}`.target"
        )[0]
        assert mysql_staging_tables(admin, database) == []
    assert project.leftover_files() == []
    expected = {
        "replace": (WRITE_ROWS, 1, WRITE_ROWS),
        "append": (WRITE_ROWS + 2, -2, WRITE_ROWS),
        "upsert": (WRITE_ROWS + 2, -2, WRITE_ROWS),
    }
    assert (count, low, high) == expected[write_mode]


@pytest.mark.db
@pytest.mark.parametrize("write_mode", ["replace", "append", "upsert"])
def test_postgres_writer_backend_terminated(
    tmp_path: Path, pg_db: dict[str, Any], write_mode: str
) -> None:
    schema = pg_db["schema"]
    target = f'"{schema}".target'
    project = Project.make(tmp_path, postgres=pg_db)
    numbered_rows_csv(project.root / "rows.csv", WRITE_ROWS)
    text = WRITE.replace("FAMILY", "postgres").replace("WRITE_MODE", write_mode)
    if write_mode == "upsert":
        text = text.replace("batch_size", "primary_key: id, batch_size")
    pipeline = project.pipeline("p", text)
    with _pg_admin() as admin:
        admin.execute(f"CREATE TABLE {target} (id bigint PRIMARY KEY, h text)")
        admin.execute(f"INSERT INTO {target} VALUES (-1, 'a'), (-2, 'b')")
        before = admin.execute(f"SELECT * FROM {target} ORDER BY id").fetchall()

        def writers() -> list[int]:
            rows = admin.execute(
                "SELECT DISTINCT pid FROM pg_locks WHERE relation = to_regclass(%s) "
                "AND pid <> pg_backend_pid()",
                (target,),
            ).fetchall()
            return [int(row[0]) for row in rows]

        run = project.start(pipeline)
        project.wait_for("write.progress", "write")
        _cut(writers, lambda pid: admin.execute("SELECT pg_terminate_backend(%s)", (pid,)))
        result = finish(run)

        assert admin.execute(f"SELECT * FROM {target} ORDER BY id").fetchall() == before
        assert_failed_at(result, "write", "network")
        assert postgres_staging_tables(admin, schema, temporary=False) == []
        assert project.leftover_files() == []

        assert_succeeded(project.run(pipeline))
        row = admin.execute(f"SELECT count(*), min(id), max(id) FROM {target}").fetchone()
    assert project.leftover_files() == []
    expected = {
        "replace": (WRITE_ROWS, 1, WRITE_ROWS),
        "append": (WRITE_ROWS + 2, -2, WRITE_ROWS),
        "upsert": (WRITE_ROWS + 2, -2, WRITE_ROWS),
    }
    assert row == expected[write_mode]


def test_a_link_cut_mid_stream_is_a_network_error() -> None:
    """connectorx's words for a MySQL link cut mid-read (seen above): the read failed and
    may be retried, not a value the text reader should read all over again."""
    from components.mysql.io import _connectorx_error
    from components.protocol import DriverError
    from components.sql.io import Unreadable

    cut = (
        "cx writer failed: Source(MySQLError(CodecError { IO error: `bytes remaining on stream' }))"
    )
    error = _connectorx_error(RuntimeError(cut), {})
    assert isinstance(error, DriverError), error
    assert (error.category, error.retryable) == ("network", True)
    value = (
        "Could not retrieve `core::option::Option<chrono::naive::date::NaiveDate>`: "
        "Couldn't convert the value `Date(\"'0000-00-00'\")` to a desired type"
    )
    assert isinstance(_connectorx_error(RuntimeError(value), {}), Unreadable)
