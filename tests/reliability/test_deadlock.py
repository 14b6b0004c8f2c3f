"""Two upserts into one table at once, touching the same keys in opposite order.

A table lock holds both writers back until both wait on it, and on PostgreSQL a trigger
holds each one, once it has locked its first key, until the other has too (MariaDB's
trigger slows each row down instead), so the two transactions interleave every time: A
updates key 1 then wants key 2, B updates key 2 then wants key 1. PostgreSQL picks one
as the deadlock victim; its step is retried as its `retry` says and the run ends correct.
Either way each transaction lands whole: the two shared keys carry the same writer's label.
"""

from __future__ import annotations

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
    finish,
    mysql_rows,
    postgres_staging_tables,
)

pytestmark = pytest.mark.db

UPSERT = """oml_version: "0.1.0"
name: upsert-LABEL
steps:
  - id: rows
    component: filesystem.csv_extractor
    mode: read
    config: {path: LABEL.csv}
  - id: write
    component: FAMILY.writer
    mode: write
    retry: {max_attempts: 3, backoff_ms: 200}
    inputs: {df: "${rows.df}"}
    config: {table: target, write_mode: upsert, primary_key: id}
"""
#: Each writer's rows, in file order: the shared keys 1 and 2 in opposite orders.
ROWS = {"a": [1, 2, 10], "b": [2, 1, 20]}
SLOW_ROW_S = 0.3


def _project(tmp_path: Path, family: str, fields: dict[str, Any]) -> tuple[Project, list[Path]]:
    project = Project.make(tmp_path, **{family: fields})
    pipelines = []
    for label, keys in ROWS.items():
        lines = ["id,writer"] + [f"{key},{label}" for key in keys]
        (project.root / f"{label}.csv").write_text("\n".join(lines) + "\n")
        text = UPSERT.replace("LABEL", label).replace("FAMILY", family)
        pipelines.append(project.pipeline(label, text))
    return project, pipelines


def _wait(condition: Any, what: str, timeout: float = 60, pause: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(pause)


def _retries(result: dict[str, Any]) -> list[dict[str, Any]]:
    session = Path(result["session_dir"])
    return [e["data"] for e in events(session) if e["event_type"] == "execution.step.retry"]


def test_postgres_upsert_deadlock_is_retried(tmp_path: Path, pg_db: dict[str, Any]) -> None:
    schema = pg_db["schema"]
    target = f'"{schema}".target'
    project, pipelines = _project(tmp_path, "postgres", pg_db)
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {target} (id bigint PRIMARY KEY, writer text)")
        admin.execute(f"INSERT INTO {target} VALUES (1, 'before'), (2, 'before')")
        # A barrier, not a delay: an upsert's BEFORE UPDATE trigger runs once the row is
        # locked; each counts itself in (a sequence: seen at once by every transaction) and
        # waits until both writers hold a key, however slow the machine. A retried victim
        # finds the count reached. The minute is only a safety net.
        admin.execute(f'CREATE SEQUENCE "{schema}".arrivals')
        admin.execute(
            f'CREATE FUNCTION "{schema}".barrier() RETURNS trigger LANGUAGE plpgsql AS $$ '
            f"BEGIN PERFORM nextval('\"{schema}\".arrivals'); "
            "FOR i IN 1..6000 LOOP "
            f'EXIT WHEN (SELECT last_value FROM "{schema}".arrivals) >= 2; '
            "PERFORM pg_sleep(0.01); END LOOP; RETURN NEW; END $$"
        )
        admin.execute(
            f"CREATE TRIGGER barrier BEFORE UPDATE ON {target} "
            f'FOR EACH ROW EXECUTE FUNCTION "{schema}".barrier()'
        )

        def waiting() -> int:
            row = admin.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = to_regclass(%s) AND NOT granted",
                (target,),
            ).fetchone()
            return int(row[0]) if row else 0

        with psycopg.connect(conninfo) as gate:
            gate.execute(f"LOCK TABLE {target} IN SHARE MODE")  # upserts wait here
            runs = [project.start(pipeline) for pipeline in pipelines]
            _wait(lambda: waiting() == 2, "both upserts did not reach the table")
            gate.commit()  # both go at once
        results = [finish(run) for run in runs]

        for result in results:
            assert_succeeded(result)
        retried = [(result, _retries(result)) for result in results]
        victims = [(result, retries) for result, retries in retried if retries]
        assert len(victims) == 1, retried  # one deadlock, one victim
        victim, retries = victims[0]
        assert len(retries) == 1 and "deadlock detected" in retries[0]["error"], retries
        assert "40P01" in retries[0]["error"]
        label = "a" if victim is results[0] else "b"
        rows = admin.execute(f"SELECT id, writer FROM {target} ORDER BY id").fetchall()
        # the victim committed last, and whole: both shared keys carry its label
        assert rows == [(1, label), (2, label), (10, "a"), (20, "b")]
        assert postgres_staging_tables(admin, schema, temporary=False) == []
    assert project.leftover_files() == []


def test_mysql_upserts_in_opposite_order_do_not_deadlock(
    tmp_path: Path, mysql_db: dict[str, Any]
) -> None:
    """MySQL's upsert reads its staging table in primary-key order, whatever the input's
    order: two upserts lock shared keys in the same order, so one waits for the other."""
    database = mysql_db["database"]
    project, pipelines = _project(tmp_path, "mysql", mysql_db)
    with pymysql.connect(**MYSQL, database=database, autocommit=True) as admin:
        mysql_rows(admin, "CREATE TABLE target (id BIGINT PRIMARY KEY, writer VARCHAR(16))")
        mysql_rows(admin, "INSERT INTO target VALUES (1, 'before'), (2, 'before')")
        for event in ("INSERT", "UPDATE"):
            mysql_rows(
                admin,
                f"CREATE TRIGGER slow_{event.lower()} BEFORE {event} ON target "
                f"FOR EACH ROW SET @osiris_slept = SLEEP({SLOW_ROW_S})",
            )

        def waiting() -> int:
            # InnoDB refreshes INNODB_TRX only when nobody read it for 0.1 s: poll slower
            rows = mysql_rows(
                admin,
                "SELECT count(*) FROM information_schema.INNODB_TRX t "
                "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
                f"WHERE t.trx_state = 'LOCK WAIT' AND p.DB = '{database}'",
            )
            return int(rows[0][0])

        with pymysql.connect(**MYSQL, database=database) as gate:
            with gate.cursor() as cursor:
                cursor.execute("SELECT * FROM target WHERE id IN (1, 2) FOR UPDATE")
            runs = [project.start(pipeline) for pipeline in pipelines]
            _wait(lambda: waiting() == 2, "both upserts did not reach the shared keys", pause=0.25)
            gate.commit()
        results = [finish(run) for run in runs]

        for result in results:
            assert_succeeded(result)
        assert [_retries(result) for result in results] == [[], []]
        rows = mysql_rows(admin, "SELECT id, writer FROM target ORDER BY id")
        (_, first), (_, second) = rows[:2]
        assert first == second and first in ("a", "b"), rows  # one transaction, whole
        assert rows[2:] == [(10, "a"), (20, "b")]
    assert project.leftover_files() == []
