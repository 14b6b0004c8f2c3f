"""Data movement, whole process, side by side with the reference tool and the physical floor.

    python bench/run.py [--rows 1000000] [--runs 5] [--only mysql_csv,csv_csv,...]

Figures (issue 4): MySQL → CSV of a 1M-row, 6-column table in < 3 s, ≥ 5x faster than the
reference, peak RSS < 300 MB; CSV → DuckDB → CSV of 1M rows in < 1.5 s; MySQL →
PostgreSQL (replace) of 1M rows in < 6 s. Issue 8 adds PostgreSQL → CSV and 5M rows.
Each figure is the median of interleaved runs; the floor is what the database's own
client (or DuckDB's COPY) takes for the same data.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    OSIRIS,
    Figure,
    ProcessRun,
    median,
    precompile,
    print_figures,
    reference_venv,
    run_measured,
    save,
)

DATABASE = "osiris_bench"
TABLE = "bench_orders"
COLUMNS = "id, customer_id, amount, name, created_at, status"

CONNECTIONS = f"""connections:
  mysql:
    bench:
      default: true
      host: 127.0.0.1
      port: 3306
      user: root
      password: ""
      database: {DATABASE}
  postgres:
    bench:
      default: true
      host: 127.0.0.1
      port: 5432
      user: postgres
      password: ""
      database: test
      schema: public
  filesystem:
    local:
      default: true
      base_dir: .
"""


def pipeline(name: str, extract: str, load: str) -> str:
    return f'oml_version: "0.1.0"\nname: {name}\nsteps:\n{extract}{load}'


MYSQL_EXTRACT = f"""  - id: extract
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.bench"
      query: SELECT {COLUMNS} FROM {TABLE}
"""
PG_EXTRACT = MYSQL_EXTRACT.replace("mysql.extractor", "postgres.extractor").replace(
    "@mysql.bench", "@postgres.bench"
)
CSV_EXTRACT = """  - id: extract
    component: filesystem.csv_extractor
    mode: read
    config:
      connection: "@filesystem.local"
      path: input.csv
"""
TRANSFORM = """  - id: transform
    component: duckdb.processor
    mode: transform
    inputs:
      df: "${extract.df}"
    config:
      query: >-
        SELECT id, customer_id, amount * 2 AS amount, upper(name) AS name, created_at, status
        FROM df_extract
"""
CSV_WRITE = """  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${extract.df}"
    config:
      connection: "@filesystem.local"
      path: out.csv
"""
PG_WRITE = f"""  - id: write
    component: postgres.writer
    mode: write
    inputs:
      df: "${{extract.df}}"
    config:
      connection: "@postgres.bench"
      table: {TABLE}_copy
      write_mode: replace
"""


DUCKDB_COPY = (
    "import duckdb; "
    "duckdb.sql(\"COPY (SELECT * FROM read_csv('input.csv')) TO 'floor.csv' (HEADER)\")"
)


def prepare_mysql(rows: int, database: str = DATABASE, table: str = TABLE) -> None:
    script = f"""
CREATE DATABASE IF NOT EXISTS {database};
USE {database};
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (
  id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL,
  name VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL, status VARCHAR(16)
);
INSERT INTO {table}
SELECT seq, seq % 5000, ROUND((seq % 100000) / 7, 2), CONCAT('customer ', seq % 5000),
       '2026-01-01 00:00:00' + INTERVAL seq SECOND,
       ELT(1 + seq % 4, 'paid', 'refunded', 'pending', NULL)
FROM seq_1_to_{rows};
"""
    subprocess.run(["mysql", "-h127.0.0.1", "-uroot"], input=script, text=True, check=True)


def prepare_postgres(rows: int) -> None:
    script = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (
  id INT PRIMARY KEY, customer_id INT NOT NULL, amount NUMERIC(10,2) NOT NULL,
  name VARCHAR(64) NOT NULL, created_at TIMESTAMP NOT NULL, status VARCHAR(16)
);
INSERT INTO {TABLE}
SELECT g, g % 5000, round(((g % 100000) / 7.0)::numeric, 2), 'customer ' || (g % 5000),
       timestamp '2026-01-01' + g * interval '1 second',
       (ARRAY['paid', 'refunded', 'pending', NULL])[1 + g % 4]
FROM generate_series(1, {rows}) AS g;
ANALYZE {TABLE};
"""
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-v", "ON_ERROR_STOP=1"],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )


def prepare_csv(work: Path, rows: int) -> None:
    import duckdb

    duckdb.sql(
        f"""COPY (
          SELECT i AS id, i % 5000 AS customer_id,
                 round((i % 100000) / 7, 2)::DECIMAL(10,2) AS amount,
                 'customer ' || (i % 5000) AS name,
                 TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at,
                 ['paid', 'refunded', 'pending', NULL][1 + i % 4] AS status
          FROM range(1, {rows} + 1) t(i)
        ) TO '{work / "input.csv"}' (HEADER)"""
    )


def project(root: Path, name: str, text: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "osiris_connections.yaml").write_text(CONNECTIONS)
    (folder / "pipeline.yaml").write_text(text)
    return folder


def ours(folder: Path) -> ProcessRun:
    result = run_measured([*OSIRIS, "run", "pipeline.yaml", "--project", "."], cwd=folder)
    if result.returncode != 0:
        raise RuntimeError(f"osiris run failed in {folder}:\n{result.stdout}\n{result.stderr}")
    return result


def reference(ref: Path, folder: Path) -> ProcessRun | None:
    env = {**os.environ, "MYSQL_PASSWORD": "", "PYTHONDONTWRITEBYTECODE": "1"}
    result = run_measured(
        [str(ref / "bin" / "osiris"), "run", "pipeline.yaml"], cwd=folder, env=env
    )
    if result.returncode != 0:
        print(f"  reference failed in {folder}: {result.stderr[-600:] or result.stdout[-600:]}")
        return None
    return result


def measure(
    name: str,
    folder: Path,
    runs: int,
    ref_folder: Path | None,
    ref: Path | None,
    floor: Callable[[], float] | None,
    rows: int,
    target_s: float | None,
    floor_label: str | None = None,
    mem_target_mb: float | None = None,
) -> Figure:
    mine: list[ProcessRun] = []
    theirs: list[ProcessRun] = []
    floors: list[float] = []
    for _ in range(runs):
        mine.append(ours(folder))
        if ref and ref_folder:
            got = reference(ref, ref_folder)
            if got:
                theirs.append(got)
        if floor:
            floors.append(floor())
    seconds = median([r.seconds for r in mine])
    peak = max(r.peak_mb for r in mine)
    met = target_s is None or seconds < target_s
    if mem_target_mb is not None:
        met = met and peak < mem_target_mb
    target = f"< {target_s:g} s" if target_s else None
    if mem_target_mb is not None:
        target = (
            f"{target}, peak < {mem_target_mb:g} MB" if target else f"peak < {mem_target_mb:g} MB"
        )
    figure = Figure(
        name,
        "s",
        round(seconds, 3),
        reference=round(median([r.seconds for r in theirs]), 3) if theirs else None,
        floor=round(median(floors), 3) if floors else None,
        floor_label=floor_label,
        target=target,
        met=met,
        peak_mb=round(peak, 1),
        reference_peak_mb=round(max(r.peak_mb for r in theirs), 1) if theirs else None,
        runs=runs,
        extra={"rows_per_s": round(rows / seconds)},
    )
    return figure


def _memory_growth(figures: list[Figure], rows: int) -> None:
    """Note how peak memory grew against the 1M-row run: bounded means far below linear."""
    import json

    from bench.common import WORK

    baseline = WORK / "run_1000000.json"
    if not baseline.exists():
        return
    peaks = {
        f["name"].rsplit(",", 1)[0]: f.get("peak_mb") for f in json.loads(baseline.read_text())
    }
    for figure in figures:
        before = peaks.get(figure.name.rsplit(",", 1)[0])
        if before and figure.peak_mb:
            growth = figure.peak_mb / before
            note = (
                f"peak memory {before:.0f} MB at 1M rows → {figure.peak_mb:.0f} MB at "
                f"{rows / 1e6:g}M rows: {growth:.1f}× for {rows / 1e6:g}× the rows"
            )
            figure.note = f"{figure.note}; {note}" if figure.note else note


def timed_shell(command: str, cwd: Path) -> float:
    return run_measured(["bash", "-c", command], cwd=cwd).seconds


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 1_000_000)))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="mysql_csv,csv_csv,mysql_pg,pg_csv")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    precompile()
    rows = args.rows
    label = f"{rows / 1e6:g}M rows"
    ref = None if args.no_reference else reference_venv()
    root = Path(tempfile.mkdtemp(prefix="osiris-bench-run-"))
    figures: list[Figure] = []
    try:
        if only & {"mysql_csv", "mysql_pg"}:
            prepare_mysql(rows)
        if "mysql_csv" in only:
            text = pipeline("mysql-csv", MYSQL_EXTRACT, CSV_WRITE)
            folder = project(root, "mysql_csv", text)
            ref_folder = project(root, "mysql_csv_ref", text) if ref else None
            select = f"SELECT {COLUMNS} FROM {DATABASE}.{TABLE}"
            dump = f"mysql -h127.0.0.1 -uroot -B -e '{select}' > dump.tsv"
            figures.append(
                measure(
                    f"MySQL → CSV, {label}",
                    folder,
                    args.runs,
                    ref_folder,
                    ref,
                    lambda: timed_shell(dump, root),
                    rows,
                    3.0 if rows <= 1_000_000 else None,
                    "mysql client -B",
                    mem_target_mb=300 if rows <= 1_000_000 else None,
                )
            )
        if "csv_csv" in only:
            text = pipeline(
                "csv-duckdb-csv",
                CSV_EXTRACT,
                TRANSFORM + CSV_WRITE.replace("${extract.df}", "${transform.df}"),
            )
            folder = project(root, "csv_csv", text)
            prepare_csv(folder, rows)
            ref_folder = None
            if ref:
                ref_folder = project(root, "csv_csv_ref", text)
                shutil.copy(folder / "input.csv", ref_folder / "input.csv")
            copy = f"{sys.executable} -c {shlex.quote(DUCKDB_COPY)}"
            figures.append(
                measure(
                    f"CSV → DuckDB → CSV, {label}",
                    folder,
                    args.runs,
                    ref_folder,
                    ref,
                    lambda: timed_shell(copy, folder),
                    rows,
                    1.5 if rows <= 1_000_000 else None,
                    "DuckDB COPY",
                )
            )
        if "mysql_pg" in only:
            text = pipeline("mysql-postgres", MYSQL_EXTRACT, PG_WRITE)
            folder = project(root, "mysql_pg", text)
            figures.append(
                measure(
                    f"MySQL → PostgreSQL (replace), {label}",
                    folder,
                    args.runs,
                    None,
                    None,
                    None,
                    rows,
                    6.0 if rows <= 1_000_000 else None,
                )
            )
            figures[
                -1
            ].note = "the reference has no PostgreSQL writer (its Supabase writer speaks REST)"
        if "pg_csv" in only:
            prepare_postgres(rows)
            text = pipeline("pg-csv", PG_EXTRACT, CSV_WRITE)
            folder = project(root, "pg_csv", text)
            dump = (
                "psql -h 127.0.0.1 -U postgres -d test -c "
                f"\"\\copy (SELECT {COLUMNS} FROM {TABLE}) TO 'dump.csv' CSV HEADER\" > /dev/null"
            )
            figures.append(
                measure(
                    f"PostgreSQL → CSV, {label}",
                    folder,
                    args.runs,
                    None,
                    None,
                    lambda: timed_shell(dump, root),
                    rows,
                    None,
                    "psql \\copy",
                )
            )
            figures[-1].note = "the reference has no PostgreSQL extractor"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_figures(f"run ({label})", figures)
    for figure in figures:
        print(f"  {figure.name}: {figure.extra['rows_per_s']:,} rows/s")
    if rows > 1_000_000:
        _memory_growth(figures, rows)
    save(f"run_{rows}", figures)
    return figures


if __name__ == "__main__":
    main()
