"""SIGKILL in the middle of a database write (LOAD DATA into MySQL, COPY into PostgreSQL).

A killed process cleans nothing up: its server rolls back the open transaction, but a
MySQL staging table is a real table and stays, and the bulk-load folder stays on disk.
The target is as before; status.json, once read, says the run failed at the write; the
next write of the same target drops the dead writer's staging tables (their lock is
free) and the next bulk load removes the dead process's folder; the re-run succeeds.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from tests.conftest import MYSQL, POSTGRES
from tests.reliability.harness import (
    Project,
    assert_succeeded,
    events,
    mysql_rows,
    mysql_staging_tables,
    numbered_rows_csv,
    postgres_staging_tables,
    status_of,
)

pytestmark = pytest.mark.db

ROWS = 400_000
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
    config: {table: target, write_mode: replace, batch_size: 10000}
"""


class Target:
    """The table written, as the test sees it through its own connection."""

    def __init__(self, family: str, fields: dict[str, Any]) -> None:
        self.family = family
        if family == "mysql":
            self.database = fields["database"]
            self.conn: Any = pymysql.connect(**MYSQL, database=self.database, autocommit=True)
        else:
            self.schema = fields["schema"]
            conninfo = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
            self.conn = psycopg.connect(conninfo, autocommit=True)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        if self.family == "mysql":
            return mysql_rows(self.conn, statement)
        cursor = self.conn.execute(statement.replace("target", f'"{self.schema}".target'))
        return cursor.fetchall() if cursor.description else []

    def contents(self) -> list[tuple[Any, ...]] | None:
        """(rows, lowest id, highest id), or None when the table does not exist."""
        try:
            return self.sql("SELECT count(*), min(id), max(id) FROM target")
        except (pymysql.MySQLError, psycopg.Error):
            return None

    def staging(self) -> list[str]:
        if self.family == "mysql":
            return mysql_staging_tables(self.conn, self.database)
        return postgres_staging_tables(self.conn, self.schema, temporary=False)

    def sessions(self) -> int:
        """Sessions of other clients still open on the database (MySQL) or the target."""
        if self.family == "mysql":
            return len(
                mysql_rows(
                    self.conn,
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
                    f"AND DB = '{self.database}'",
                )
            )
        rows = self.conn.execute(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE pid <> pg_backend_pid() "
            "AND relation = to_regclass(%s)",
            (f'"{self.schema}".target',),
        ).fetchall()
        return int(rows[0][0])


@pytest.mark.parametrize(
    ("family", "exists"),
    [("mysql", True), ("mysql", False), ("postgres", True)],
    ids=["mysql-replace", "mysql-create", "postgres-replace"],
)
def test_sigkill_mid_database_write(
    tmp_path: Path, request: pytest.FixtureRequest, family: str, exists: bool
) -> None:
    fields = request.getfixturevalue("mysql_db" if family == "mysql" else "pg_db")
    project = Project.make(tmp_path, **{family: fields})
    numbered_rows_csv(project.root / "rows.csv", ROWS)
    pipeline = project.pipeline("p", WRITE.replace("FAMILY", family))
    target = Target(family, fields)
    if exists:
        target.sql("CREATE TABLE target (id BIGINT PRIMARY KEY, h TEXT)")
        target.sql("INSERT INTO target VALUES (-1, 'a'), (-2, 'b')")
    before = target.contents()

    run = project.start(pipeline)
    session, _ = project.wait_for("write.progress", "write")  # 1 file of 40 loaded
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    deadline = time.monotonic() + 60
    while target.sessions():  # the server ends the dead client's session, and frees its locks
        assert time.monotonic() < deadline, "the killed run's session outlived it by 60 s"
        time.sleep(0.05)

    assert target.contents() == before
    status = status_of(session)
    assert status["status"] == "failed" and "ended without finishing" in status["error"]
    write = next(step for step in status["steps"] if step["id"] == "write")
    assert (write["status"], write["category"]) == ("failed", "internal"), write
    left = target.staging()
    assert len(left) == (1 if family == "mysql" else 0), left  # a real table outlives its writer
    orphans = [p.name for p in project.tmp.iterdir()]
    assert [name.split("_")[2] for name in orphans] == [str(run.pid)], orphans  # osiris_bulk_<pid>

    rerun = project.run(pipeline)
    assert_succeeded(rerun)
    assert target.contents() == [(ROWS, 1, ROWS)]
    assert target.staging() == []
    assert project.leftover_files() == []
    cleanups = [e for e in events(Path(rerun["session_dir"])) if e["event_type"] == "write.cleanup"]
    assert [e["data"]["dropped"] for e in cleanups] == ([left] if left else [])
    target.conn.close()
