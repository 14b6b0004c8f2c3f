"""The database server restarted in the middle of a run.

Against throwaway servers (tests/reliability/servers.py), stopped while a step streams
rows and started again: the target is exactly as before, status.json names the failed
step and a network error, nothing is left behind, and the re-run succeeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
from tests.reliability.servers import ThrowawayMariaDB, ThrowawayPostgres

pytestmark = pytest.mark.db

ROWS = 1_500_000
EXTRACT = """oml_version: "0.1.0"
name: extract-FAMILY
steps:
  - id: extract
    component: FAMILY.extractor
    mode: read
    config:
      query: QUERY
      batch_size: 20000
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${extract.df}"}
    config: {path: out/rows.csv}
"""
#: Rows the server makes up as it streams them: nothing to load first.
QUERIES = {
    "mysql": f"SELECT seq AS id, md5(seq) AS h FROM seq_1_to_{ROWS}",
    "postgres": f"SELECT i AS id, md5(i::text) AS h FROM generate_series(1, {ROWS}) AS i",
}

WRITE_ROWS = 400_000
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
#: (rows, lowest id, highest id) of the target after a successful write.
AFTER = {
    "replace": (WRITE_ROWS, 1, WRITE_ROWS),
    "append": (WRITE_ROWS + 3, -3, WRITE_ROWS),
}


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_server_restarted_mid_extract(
    tmp_path: Path, request: pytest.FixtureRequest, family: str
) -> None:
    server: ThrowawayMariaDB | ThrowawayPostgres
    if family == "mysql":
        server = request.getfixturevalue("throwaway_mariadb")
        project = Project.make(tmp_path, mysql=request.getfixturevalue("restartable_mysql"))
    else:
        server = request.getfixturevalue("throwaway_postgres")
        project = Project.make(tmp_path, postgres=request.getfixturevalue("restartable_pg"))
    (project.root / "out").mkdir()
    target = project.root / "out" / "rows.csv"
    target.write_text("before\n")
    text = EXTRACT.replace("FAMILY", family).replace("QUERY", QUERIES[family])
    pipeline = project.pipeline("p", text)

    run = project.start(pipeline)
    project.wait_for("read.progress", "extract")
    server.stop()
    try:
        result = finish(run)
    finally:
        server.start()

    assert target.read_text() == "before\n"
    failed = assert_failed_at(result, "extract", "network")
    assert failed["error"].startswith(f"{'MySQL' if family == 'mysql' else 'PostgreSQL'} read")
    assert project.leftover_files() == []

    assert_succeeded(project.run(pipeline))
    with target.open() as handle:
        assert sum(1 for _ in handle) == ROWS + 1
    assert project.leftover_files() == []


@pytest.mark.parametrize("write_mode", ["replace", "append"])
def test_postgres_restarted_mid_write(
    tmp_path: Path,
    throwaway_postgres: ThrowawayPostgres,
    restartable_pg: dict[str, Any],
    write_mode: str,
) -> None:
    schema = restartable_pg["schema"]
    target = f'"{schema}".target'
    project = Project.make(tmp_path, postgres=restartable_pg)
    numbered_rows_csv(project.root / "rows.csv", WRITE_ROWS)
    text = WRITE.replace("FAMILY", "postgres").replace("WRITE_MODE", write_mode)
    pipeline = project.pipeline("p", text)
    with throwaway_postgres.connect() as conn:
        conn.execute(f"CREATE TABLE {target} (id bigint PRIMARY KEY, h text)")
        conn.execute(f"INSERT INTO {target} VALUES (-1, 'a'), (-2, 'b'), (-3, 'c')")
        before = conn.execute(f"SELECT * FROM {target} ORDER BY id").fetchall()

    run = project.start(pipeline)
    project.wait_for("write.progress", "write")
    throwaway_postgres.restart()
    result = finish(run)

    with throwaway_postgres.connect() as conn:
        assert conn.execute(f"SELECT * FROM {target} ORDER BY id").fetchall() == before
        assert postgres_staging_tables(conn, schema) == []
    failed = assert_failed_at(result, "write", "network")
    assert failed["error"].startswith("PostgreSQL write failed")
    assert project.leftover_files() == []

    assert_succeeded(project.run(pipeline))
    with throwaway_postgres.connect() as conn:
        after = conn.execute(f"SELECT count(*), min(id), max(id) FROM {target}").fetchone()
        assert postgres_staging_tables(conn, schema) == []
    assert after == AFTER[write_mode]
    assert project.leftover_files() == []


@pytest.mark.parametrize("write_mode", ["replace", "append"])
def test_mysql_restarted_mid_write(
    tmp_path: Path,
    throwaway_mariadb: ThrowawayMariaDB,
    restartable_mysql: dict[str, Any],
    write_mode: str,
) -> None:
    """A replace loads a real staging table, which the writer cannot drop while its server
    is down: the next write of the same target drops it (its writer's lock is free)."""
    database = restartable_mysql["database"]
    project = Project.make(tmp_path, mysql=restartable_mysql)
    numbered_rows_csv(project.root / "rows.csv", WRITE_ROWS)
    text = WRITE.replace("FAMILY", "mysql").replace("WRITE_MODE", write_mode)
    pipeline = project.pipeline("p", text)
    with throwaway_mariadb.connect(database) as conn:
        mysql_rows(conn, "CREATE TABLE target (id BIGINT PRIMARY KEY, h TEXT)")
        mysql_rows(conn, "INSERT INTO target VALUES (-1, 'a'), (-2, 'b'), (-3, 'c')")
        before = mysql_rows(conn, "SELECT * FROM target ORDER BY id")

    run = project.start(pipeline)
    project.wait_for("write.progress", "write")
    throwaway_mariadb.restart()
    result = finish(run)

    with throwaway_mariadb.connect(database) as conn:
        assert mysql_rows(conn, "SELECT * FROM target ORDER BY id") == before
        left = mysql_staging_tables(conn, database)
    assert len(left) == (1 if write_mode == "replace" else 0), left
    failed = assert_failed_at(result, "write", "network")
    assert failed["error"].startswith("MySQL write failed")
    assert project.leftover_files() == []

    rerun = project.run(pipeline)
    assert_succeeded(rerun)
    cleanups = [
        e["data"] for e in events(Path(rerun["session_dir"])) if e["event_type"] == "write.cleanup"
    ]
    assert [c["dropped"] for c in cleanups] == ([left] if left else [])
    with throwaway_mariadb.connect(database) as conn:
        after = mysql_rows(conn, "SELECT count(*), min(id), max(id) FROM target")[0]
        assert mysql_staging_tables(conn, database) == []
    assert after == AFTER[write_mode]
    assert project.leftover_files() == []
