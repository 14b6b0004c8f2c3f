"""`osiris run --engine spark` on a real standalone cluster (master + 2 one-core workers).

The cluster is Spark's own (tests/spark/cluster.py), started once for this module; every
run is a subprocess, as a user types it. A pipeline reads MariaDB, transforms with the
plan's DuckDB SQL and writes PostgreSQL:

- on the cluster it writes exactly the rows the DuckDB engine writes;
- a worker SIGKILLed (with its executor) while its executor reads, or while it writes the
  stage table, either fails the run cleanly (exit 1, status.json failed, an error a person
  can read, no traceback) or is retried by Spark and the run succeeds — and the target is
  never half-written: its rows before the run on a failure, exactly the source's on a
  success, no row twice;
- an executor SIGKILLed in the stage write with no retry allowed fails the run cleanly,
  the target as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _unavailable

pytestmark = [pytest.mark.db, pytest.mark.long]

pytest.importorskip("pyspark")

from tests.spark.cluster import (  # noqa: E402
    ClusterError,
    Daemon,
    SparkCluster,
    java_available,
    standalone_cluster,
)

OSIRIS = str(Path(sys.executable).with_name("osiris"))
JARS = ("/usr/share/java/mariadb-java-client.jar", "/usr/share/java/postgresql.jar")
SOURCE = "h18ops_orders"
#: enough rows that a read and a stage write each last a while on the cluster
ROWS = 100_000
RUN_TIMEOUT_S = 240

AGGREGATE = """
  - id: aggregate
    component: duckdb.processor
    mode: transform
    inputs:
      orders: "${extract.df}"
    config:
      query: |
        SELECT customer_id,
               count(*) AS orders,
               count(status) AS with_status,
               sum(amount) AS revenue,
               sum(CASE WHEN status = 'paid' THEN amount ELSE 0 END) AS paid,
               min(created_at) AS first_order
        FROM orders
        GROUP BY customer_id
"""
#: every row through, so the stage write takes long enough to kill a worker during it
RESHAPE = """
  - id: aggregate
    component: duckdb.processor
    mode: transform
    inputs:
      orders: "${extract.df}"
    config:
      query: |
        SELECT id, customer_id, amount * 2 AS amount, upper(name) AS name, status
        FROM orders
"""


def pipeline(transform: str, target: str) -> str:
    return f"""oml_version: "0.1.0"
name: h18ops-cluster
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.source"
      query: SELECT id, customer_id, amount, name, created_at, status FROM {SOURCE}
{transform.strip(chr(10))}
  - id: write
    component: postgres.writer
    mode: write
    inputs:
      df: "${{aggregate.df}}"
    config:
      connection: "@postgres.target"
      table: {target}
      write_mode: replace
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[SparkCluster]:
    if not java_available():
        _unavailable("Java", RuntimeError("no java on PATH"))
    missing = [jar for jar in JARS if not Path(jar).exists()]
    if missing:
        _unavailable("the JDBC drivers", FileNotFoundError(", ".join(missing)))
    try:
        with standalone_cluster(workers=2, cores=1, memory="1g") as started:
            try:
                yield started
            finally:  # the session on the cluster goes before the cluster does
                from runtime.spark.session import active_session

                session = active_session()
                if session is not None and session.sparkContext.master == started.master_url:
                    session.stop()
    except ClusterError as err:
        pytest.fail(f"the Spark cluster did not start: {err}", pytrace=False)


@pytest.fixture
def workers(cluster: SparkCluster) -> SparkCluster:
    """The cluster with both workers alive (a test before may have killed one)."""
    for worker in list(cluster.workers):
        if not worker.alive():
            cluster.restart_worker(worker)
    cluster.wait_for_workers(len(cluster.workers))
    return cluster


@pytest.fixture
def project(tmp_path: Path, mysql_db: dict[str, Any], pg_db: dict[str, Any]) -> Path:
    """A project whose MariaDB holds `ROWS` orders and whose PostgreSQL schema is empty."""
    import pymysql

    conn = pymysql.connect(**mysql_db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {SOURCE} (id INT PRIMARY KEY, customer_id INT NOT NULL, "
            "amount DECIMAL(10,2) NOT NULL, name VARCHAR(64) NOT NULL, "
            "created_at DATETIME NOT NULL, status VARCHAR(16))"
        )
        cur.execute(
            f"INSERT INTO {SOURCE} SELECT seq, seq % 997, ROUND((seq % 100000) / 7, 2), "
            "CONCAT('customer ', seq % 997), '2026-01-01 00:00:00' + INTERVAL seq SECOND, "
            f"ELT(1 + seq % 4, 'paid', 'refunded', 'pending', NULL) FROM seq_1_to_{ROWS}"
        )
        cur.execute(f"ANALYZE TABLE {SOURCE}")
    conn.close()
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "osiris_connections.yaml").write_text(
        f"""connections:
  mysql:
    source:
      host: 127.0.0.1
      port: 3306
      user: root
      password: ""
      database: {mysql_db["database"]}
  postgres:
    target:
      host: 127.0.0.1
      port: 5432
      user: postgres
      password: ""
      database: test
      schema: {pg_db["schema"]}
"""
    )
    return folder


def run(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OSIRIS, "run", "pipeline.yaml", "--project", ".", *extra],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
    )


def on_cluster(cluster: SparkCluster, *conf: str) -> list[str]:
    args = ["--engine", "spark", "--spark-master", cluster.master_url]
    # each worker offers 1g; half of it is plenty for these rows
    for setting in ("spark.executor.memory=512m", *conf):
        args += ["--spark-conf", setting]
    return args


def status_of(folder: Path) -> dict[str, Any]:
    """The status.json of the project's latest run (run ids sort by their start)."""
    path = sorted((folder / "run_logs" / "h18ops-cluster").glob("*/status.json"))[-1]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def rows_of(pg_db: dict[str, Any], table: str, order: str) -> list[tuple[Any, ...]]:
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg_db)
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            f'SELECT * FROM "{pg_db["schema"]}".{table} ORDER BY {order}'
        ).fetchall()


def pg(pg_db: dict[str, Any], sql: str) -> Any:
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg_db)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{pg_db["schema"]}"')
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else None


def apps_done(cluster: SparkCluster) -> int:
    apps = cluster.state().get("completedapps", [])
    assert isinstance(apps, list)
    return len(apps)


def source_total(folder: Path) -> Decimal:
    import pymysql
    import yaml

    fields = yaml.safe_load((folder / "osiris_connections.yaml").read_text())
    conn = pymysql.connect(**fields["connections"]["mysql"]["source"])
    with conn.cursor() as cur:
        cur.execute(f"SELECT SUM(amount) FROM {SOURCE}")
        (total,) = cur.fetchone()
    conn.close()
    return Decimal(total)


def test_cluster_run_writes_what_the_duckdb_engine_writes(
    workers: SparkCluster, project: Path, pg_db: dict[str, Any]
) -> None:
    (project / "pipeline.yaml").write_text(pipeline(AGGREGATE, "h18ops_revenue_duckdb"))
    local = run(project)
    assert local.returncode == 0, local.stdout + local.stderr
    (project / "pipeline.yaml").write_text(pipeline(AGGREGATE, "h18ops_revenue_spark"))
    apps_before = apps_done(workers)

    done = run(project, *on_cluster(workers))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    spark_status = next(s for s in status_of(project)["steps"] if s["id"] == "write")
    assert spark_status["rows_written"] == 997
    expected = rows_of(pg_db, "h18ops_revenue_duckdb", "customer_id")
    got = rows_of(pg_db, "h18ops_revenue_spark", "customer_id")
    assert len(got) == 997
    assert got == expected
    assert sum(row[1] for row in got) == ROWS
    # and what MariaDB itself sums, so both engines are not merely wrong alike
    assert sum(row[3] for row in got) == source_total(project)
    # the application ran on the cluster's executors, not in a local JVM
    assert apps_done(workers) == apps_before + 1


def when_connected(
    cluster: SparkCluster, port: int, process: subprocess.Popen[str]
) -> tuple[Daemon, int] | None:
    """(worker, executor pid) as soon as an executor opens a connection to `port`; None if
    the run ended before one did."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        found = cluster.connected_to(port)
        if found is not None:
            return found
        time.sleep(0.05)
    return None


def start_copy(cluster: SparkCluster, project: Path, pg_db: dict[str, Any], *conf: str) -> Any:
    """The every-row pipeline started on the cluster, over a target holding 7 rows."""
    (project / "pipeline.yaml").write_text(pipeline(RESHAPE, "h18ops_copy"))
    pg(
        pg_db,
        "CREATE TABLE h18ops_copy (id INT, customer_id INT, amount NUMERIC(12,2), name TEXT, "
        "status TEXT); INSERT INTO h18ops_copy SELECT g, 0, 0, 'before', NULL "
        "FROM generate_series(1, 7) AS g",
    )
    return subprocess.Popen(
        [OSIRIS, "run", "pipeline.yaml", "--project", ".",
         *on_cluster(cluster, "osiris.jdbc.partitions=4", *conf)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def target_rows(pg_db: dict[str, Any]) -> tuple[Any, ...]:
    """(rows, distinct ids, sum of ids, least name) of the target."""
    found = pg(pg_db, "SELECT count(*), count(DISTINCT id), sum(id), min(name) FROM h18ops_copy")
    return tuple(found[0])


def assert_clean_failure(
    process: subprocess.Popen[str], stdout: str, stderr: str, project: Path, pg_db: dict[str, Any]
) -> None:
    """Exit 1, status.json failed with the error the terminal showed, the target as before."""
    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    status = status_of(project)
    assert status["status"] == "failed"
    failed = [s for s in status["steps"] if s.get("status") == "failed"]
    assert failed and failed[0].get("error"), status
    assert failed[0]["error"][:60] in stdout + stderr
    assert target_rows(pg_db) == (7, 7, 28, "before")


def assert_no_stage_left(pg_db: dict[str, Any]) -> None:
    assert pg(
        pg_db,
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename LIKE '\\_osiris\\_%'",
    ) == [(0,)]


@pytest.mark.parametrize(("phase", "port"), [("read", 3306), ("stage write", 5432)])
def test_a_worker_killed_mid_run_never_leaves_the_target_half_written(
    workers: SparkCluster, project: Path, pg_db: dict[str, Any], phase: str, port: int
) -> None:
    process = start_copy(workers, project, pg_db)
    found = when_connected(workers, port, process)
    if found is not None:
        worker, _ = found
        worker.kill()  # the worker and its executor, as a host that died
    stdout, stderr = finish(process)
    assert found is not None, f"the run ended before any executor began its {phase}"

    if process.returncode == 0:  # Spark ran the lost tasks again on the other worker
        assert "Traceback" not in stderr
        assert status_of(project)["status"] == "success"
        total, distinct, ids, name = target_rows(pg_db)
        assert (total, distinct, ids) == (ROWS, ROWS, ROWS * (ROWS + 1) // 2)
        assert name.startswith("CUSTOMER ")
    else:
        assert_clean_failure(process, stdout, stderr, project, pg_db)
    assert_no_stage_left(pg_db)


def test_an_executor_killed_with_no_retries_left_fails_the_run_cleanly(
    workers: SparkCluster, project: Path, pg_db: dict[str, Any]
) -> None:
    """An executor's own death counts against its tasks (a lost worker does not): with one
    attempt per task the job aborts in the middle of the stage write."""
    process = start_copy(workers, project, pg_db, "spark.task.maxFailures=1")
    found = when_connected(workers, 5432, process)
    if found is not None:
        _, executor = found
        os.kill(executor, signal.SIGKILL)
    stdout, stderr = finish(process)
    assert found is not None, "the run ended before any executor began its stage write"

    assert_clean_failure(process, stdout, stderr, project, pg_db)
    assert_no_stage_left(pg_db)
