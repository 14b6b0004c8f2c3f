"""Rows/s and peak memory of each way the SQL drivers could move data, side by side.

Usage: .venv/bin/python bench/drivers.py [--rows 1000000] [--big-rows 5000000]

Creates a 6-column table (INT, INT, DECIMAL(10,2), VARCHAR, DATETIME, VARCHAR) in MariaDB
and PostgreSQL (127.0.0.1, the test servers' defaults, or OSIRIS_BENCH_MYSQL /
OSIRIS_BENCH_POSTGRES as JSON connection fields), then runs every case in a fresh process
so each peak RSS is its own. `wall s` is the whole process (interpreter start and imports
included); `rows/s` is for the data movement alone. "chosen" marks what the drivers use.
Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
POSTGRES = {
    "host": "127.0.0.1",
    "port": 5432,
    "user": "postgres",
    "password": "",
    "database": "test",
}
SOURCE = """
SELECT range::INT + 1 AS id, (range % 1000)::INT AS customer_id,
       ((range % 10000) / 100 + 0.19)::DECIMAL(10,2) AS amount, 'name_' || range AS name,
       TIMESTAMP '2024-01-01' + to_seconds(range) AS created_at,
       CASE WHEN range % 10 = 0 THEN NULL ELSE 'note ' || range END AS note
FROM range({rows})
"""


@dataclass
class BenchContext:
    """The StepContext a driver sees, on a file-backed DuckDB data plane, events dropped."""

    data_plane: Any
    connection: Mapping[str, Any] | None
    artifacts_dir: Path
    project_dir: Path
    step_id: str = "step"
    output_table: str = '"step"'
    events: list[str] = field(default_factory=list)

    def emit(self, event: str, **data: Any) -> None:
        self.events.append(event)

    def metric(self, name: str, value: float, unit: str | None = None) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def context(connection: Mapping[str, Any] | None, step_id: str = "step") -> BenchContext:
    import duckdb

    workdir = Path(tempfile.mkdtemp(prefix="osiris_bench_"))
    plane = duckdb.connect(str(workdir / "plane.duckdb"))
    return BenchContext(plane.cursor(), connection, workdir, workdir, step_id, f'"{step_id}"')


# ------------------------------------------------------------------------------ cases
# Each case gets (mysql fields, postgres fields, rows) and returns the rows it moved.


def source() -> str:
    """The table the extract cases read: `orders`, or `orders_big` for the memory check."""
    return os.environ.get("BENCH_TABLE", "orders")


def mysql_connectorx(my: dict, pg: dict, rows: int) -> int:
    from components.mysql.io import extract

    return extract(context(my), {"table": source()}).rows_read


def mysql_pymysql_text(my: dict, pg: dict, rows: int) -> int:
    from components.mysql import io as mysql_io
    from components.sql.io import Reader, extract_into

    server, sql = mysql_io.MySQLServer(my), f"SELECT * FROM {source()}"
    session = mysql_io.read_session("mariadb", None)
    reader = Reader(
        "pymysql", text=True, open=lambda: mysql_io.text_batches(server, sql, session, 100_000)
    )
    return extract_into(context(my), [reader]).rows_read


def mysql_pymysql_rows(my: dict, pg: dict, rows: int) -> int:
    """The row-by-row way: PyMySQL's converters make Python objects, pyarrow infers types."""
    import pyarrow as pa
    import pymysql
    import pymysql.cursors

    ctx = context(my)
    conn = pymysql.connect(**my, cursorclass=pymysql.cursors.SSCursor)
    cursor = conn.cursor()
    cursor.execute(f"SELECT * FROM {source()}")
    names = [column[0] for column in cursor.description]
    total = 0
    while batch := cursor.fetchmany(100_000):
        ctx.data_plane.register(
            "arrow_rows",
            pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in batch]),
        )
        ctx.data_plane.execute("CREATE TABLE IF NOT EXISTS out AS FROM arrow_rows LIMIT 0")
        ctx.data_plane.execute("INSERT INTO out FROM arrow_rows")
        ctx.data_plane.unregister("arrow_rows")
        total += len(batch)
    conn.close()
    return total


def mysql_cli(my: dict, pg: dict, rows: int) -> int:
    """The mysql client's tab-separated output (not exact: NULL and 'NULL' print alike)."""
    command = ["mysql", "--batch", "--quick", "--skip-column-names", "-h", my["host"]]
    command += ["-P", str(my["port"]), "-u", my["user"], my["database"], "-e"]
    out = subprocess.run([*command, f"SELECT * FROM {source()}"], capture_output=True, check=True)
    return out.stdout.count(b"\n")


def mysql_connectorx_drain(my: dict, pg: dict, rows: int) -> int:
    """connectorx's stream read and dropped: the reader alone, no data plane."""
    import connectorx

    from components.mysql.io import MySQLServer

    url = MySQLServer(my).connectorx_url()
    stream = connectorx.read_sql(
        url, f"SELECT * FROM {source()}", return_type="arrow_stream", batch_size=100_000
    )
    return sum(batch.num_rows for batch in stream)


def postgres_connectorx(protocol: str) -> Callable[[dict, dict, int], int]:
    def case(my: dict, pg: dict, rows: int) -> int:
        from components.postgres import io as postgres_io

        postgres_io.CONNECTORX_PROTOCOL = protocol
        return postgres_io.extract(context(pg), {"table": source()}).rows_read

    return case


def postgres_copy_csv(my: dict, pg: dict, rows: int) -> int:
    from components.postgres.io import extract

    # sslmode=allow is libpq-only, which keeps connectorx out: the COPY reader runs.
    return extract(context({**pg, "sslmode": "allow"}), {"table": source()}).rows_read


def with_source(ctx: BenchContext, rows: int) -> dict[str, str]:
    ctx.data_plane.execute(f'CREATE TABLE "src" AS {SOURCE.format(rows=rows)}')
    ctx.data_plane.execute("CHECKPOINT")
    return {"df": '"src"'}


def mysql_load_data(my: dict, pg: dict, rows: int) -> int:
    from components.mysql.io import write

    ctx = context(my)
    inputs = with_source(ctx, rows)
    start = time.perf_counter()
    written = write(ctx, {"table": "orders_copy", "write_mode": "replace"}, inputs).rows_written
    return _timed(written, start)


def mysql_insert_batches(my: dict, pg: dict, rows: int) -> int:
    from components.mysql import io as mysql_io

    mysql_io.local_infile_enabled = lambda conn: False  # type: ignore[assignment]
    return mysql_load_data(my, pg, rows)


def postgres_copy(my: dict, pg: dict, rows: int) -> int:
    from components.postgres.io import write

    ctx = context(pg)
    inputs = with_source(ctx, rows)
    start = time.perf_counter()
    written = write(ctx, {"table": "orders_copy", "write_mode": "replace"}, inputs).rows_written
    return _timed(written, start)


def mysql_to_csv(my: dict, pg: dict, rows: int) -> int:
    """What `osiris run` does for MySQL → CSV, minus the runner: extract, then DuckDB COPY."""
    from components.mysql.io import extract

    ctx = context(my, "orders")
    moved = extract(ctx, {"table": "orders"}).rows_read
    target = ctx.artifacts_dir / "orders.csv"
    ctx.data_plane.execute(f"COPY \"orders\" TO '{target}' (FORMAT csv, HEADER true)")
    return moved


def mysql_to_postgres(my: dict, pg: dict, rows: int) -> int:
    """MySQL → PostgreSQL replace: the extractor, then the writer, one data plane."""
    from components.mysql.io import extract
    from components.postgres.io import write

    ctx = context(my, "orders")
    extract(ctx, {"table": "orders"})
    ctx.connection = pg
    config = {"table": "orders_copy", "write_mode": "replace"}
    return write(ctx, config, {"df": '"orders"'}).rows_written


_TIMED: dict[str, float] = {}


def _timed(rows: int, start: float) -> int:
    """Record that only the part after `start` is the measured movement."""
    _TIMED["seconds"] = time.perf_counter() - start
    return rows


CASES: dict[str, tuple[str, Callable[[dict, dict, int], int]]] = {
    "mysql extract: connectorx → DuckDB": ("chosen", mysql_connectorx),
    "mysql extract: PyMySQL text → DuckDB": ("fallback", mysql_pymysql_text),
    "mysql extract: PyMySQL rows → DuckDB": ("rejected", mysql_pymysql_rows),
    "mysql extract: mysql CLI, discarded": ("reference", mysql_cli),
    "mysql extract: connectorx, discarded": ("reference", mysql_connectorx_drain),
    "postgres extract: connectorx cursor → DuckDB": ("chosen", postgres_connectorx("cursor")),
    "postgres extract: connectorx binary → DuckDB": ("rejected", postgres_connectorx("binary")),
    "postgres extract: connectorx csv → DuckDB": ("rejected", postgres_connectorx("csv")),
    "postgres extract: COPY csv → pyarrow → DuckDB": ("fallback", postgres_copy_csv),
    "mysql replace: LOAD DATA LOCAL": ("chosen", mysql_load_data),
    "mysql replace: INSERT batches": ("fallback", mysql_insert_batches),
    "postgres replace: COPY FROM STDIN": ("chosen", postgres_copy),
    "pipeline: mysql → csv": ("target < 3 s, < 300 MB", mysql_to_csv),
    "pipeline: mysql → postgres replace": ("target < 6 s", mysql_to_postgres),
}


def run_case(name: str, rows: int) -> None:
    """Child process: run one case, print its figures as JSON."""
    my, pg = json.loads(os.environ["BENCH_MYSQL"]), json.loads(os.environ["BENCH_POSTGRES"])
    start = time.perf_counter()
    moved = CASES[name][1](my, pg, rows)
    seconds = _TIMED.get("seconds", time.perf_counter() - start)
    print(json.dumps({"rows": moved, "seconds": seconds, "peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited through fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ setup


def setup(rows: int, big_rows: int, my: dict, pg: dict) -> None:
    """The source tables: `orders` (rows) and `orders_big` (big_rows) on both servers."""
    import pymysql

    from components.mysql.io import write as mysql_write
    from components.postgres.io import write as postgres_write

    admin = pymysql.connect(**{k: v for k, v in my.items() if k != "database"}, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{my['database']}` CHARACTER SET utf8mb4")
    admin.close()
    _postgres(pg, f'CREATE SCHEMA "{pg["schema"]}"')
    for table, count in (("orders", rows), ("orders_big", big_rows)):
        ctx = context(my)
        inputs = with_source(ctx, count)
        mysql_write(ctx, {"table": table, "primary_key": "id"}, inputs)
        ctx.connection = pg
        postgres_write(ctx, {"table": table, "primary_key": "id"}, inputs)


def teardown(my: dict, pg: dict) -> None:
    import pymysql

    admin = pymysql.connect(**{k: v for k, v in my.items() if k != "database"}, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{my['database']}`")
    admin.close()
    _postgres(pg, f'DROP SCHEMA IF EXISTS "{pg["schema"]}" CASCADE')


def _postgres(pg: dict, statement: str) -> None:
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement)


def measure(name: str, rows: int, env: dict[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--case", name, "--rows", str(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        return {"error": 1.0, "wall": wall}
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return {**figures, "wall": wall}


def report(name: str, note: str, figures: dict[str, float], rows: int) -> None:
    if "error" in figures:
        print(f"  {name:<48} {'failed':>10}")
        return
    rate = figures["rows"] / figures["seconds"] if figures["seconds"] else 0
    print(
        f"  {name:<48} {rows:>9,} {figures['wall']:>7.2f} {rate:>12,.0f} "
        f"{figures['peak_mb']:>8.0f}  {note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.rows)
        return
    suffix = uuid.uuid4().hex[:8]
    my = {**MYSQL, **json.loads(os.environ.get("OSIRIS_BENCH_MYSQL", "{}"))}
    pg = {**POSTGRES, **json.loads(os.environ.get("OSIRIS_BENCH_POSTGRES", "{}"))}
    my["database"], pg["schema"] = f"osiris_bench_{suffix}", f"osiris_bench_{suffix}"
    env = {**os.environ, "BENCH_MYSQL": json.dumps(my), "BENCH_POSTGRES": json.dumps(pg)}
    print(f"setting up {args.rows:,} and {args.big_rows:,} rows on both servers ...", flush=True)
    setup(args.rows, args.big_rows, my, pg)
    try:
        print(f"\n  {'case':<48} {'rows':>9} {'wall s':>7} {'rows/s':>12} {'peak MB':>8}")
        for name, (note, _) in CASES.items():
            report(name, note, measure(name, args.rows, env), args.rows)
        print("\n  memory bound: the same read of", f"{args.big_rows:,} rows")
        big_env = {**env, "BENCH_TABLE": "orders_big"}
        for name in (
            "mysql extract: connectorx → DuckDB",
            "postgres extract: connectorx cursor → DuckDB",
        ):
            report(name, "chosen, big", measure(name, args.big_rows, big_env), args.big_rows)
    finally:
        teardown(my, pg)


if __name__ == "__main__":
    main()
