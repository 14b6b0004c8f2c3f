"""The Parquet, JSON and DuckDB-file components, whole process through `osiris run`.

    python bench/formats.py [--rows 1000000] [--runs 3]

Figures: Parquet → duckdb.processor → NDJSON, CSV → duckdb.writer (replace) and
Parquet → Parquet of a 6-column table, with the peak RSS of the `osiris run` process and,
as the floor, DuckDB's own COPY of the same data in one process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OSIRIS, WORK, median, run_measured, time_call

PIPELINES = {
    "parquet_json": """\
oml_version: "0.1.0"
name: parquet_json
steps:
  - {id: src, component: filesystem.parquet_extractor, mode: read, config: {path: data/t.parquet}}
  - id: t
    component: duckdb.processor
    mode: transform
    inputs: {src: "${src.df}"}
    config: {query: "SELECT * FROM src WHERE id % 2 = 0"}
  - id: out
    component: filesystem.json_writer
    mode: write
    inputs: {df: "${t.df}"}
    config: {path: output/t.ndjson}
""",
    "csv_duckdb": """\
oml_version: "0.1.0"
name: csv_duckdb
steps:
  - {id: src, component: filesystem.csv_extractor, mode: read, config: {path: data/t.csv}}
  - id: out
    component: duckdb.writer
    mode: write
    inputs: {df: "${src.df}"}
    config: {path: output/t.duckdb, table: t, write_mode: replace}
""",
    "parquet_parquet": """\
oml_version: "0.1.0"
name: parquet_parquet
steps:
  - {id: src, component: filesystem.parquet_extractor, mode: read, config: {path: data/t.parquet}}
  - id: out
    component: filesystem.parquet_writer
    mode: write
    inputs: {df: "${src.df}"}
    config: {path: output/t.parquet}
""",
}

FLOORS = {
    "parquet_json": "COPY (SELECT * FROM 'data/t.parquet' WHERE id % 2 = 0) "
    "TO 'output/floor.ndjson' (FORMAT json)",
    "csv_duckdb": "ATTACH 'output/floor.duckdb' AS f; "
    "CREATE OR REPLACE TABLE f.t AS SELECT * FROM 'data/t.csv'",
    "parquet_parquet": "COPY (SELECT * FROM 'data/t.parquet') TO 'output/floor.parquet'",
}


def project(rows: int) -> Path:
    import duckdb

    root = WORK / "formats"
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    (root / "osiris_connections.yaml").write_text("connections: {}\n")
    with duckdb.connect() as db:
        db.execute(
            "CREATE TABLE t AS SELECT i AS id, 'name ' || i AS name, "
            "(i % 100000) / 100::DECIMAL(10,2) AS amount, TIMESTAMP '2024-01-01' + "
            "INTERVAL (i) SECOND AS at, i % 7 = 0 AS flag, CAST(NULL AS VARCHAR) AS note "
            f"FROM range({rows}) r(i)"
        )
        db.execute(f"COPY t TO '{root / 'data' / 't.parquet'}' (FORMAT parquet)")
        db.execute(f"COPY t TO '{root / 'data' / 't.csv'}' (FORMAT csv)")
    for name, text in PIPELINES.items():
        (root / f"{name}.yaml").write_text(text)
    return root


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = project(args.rows)
    (root / "output").mkdir()
    print(f"{args.rows:,} rows, median of {args.runs} runs")
    for name in PIPELINES:
        argv = [*OSIRIS, "run", f"{name}.yaml", "--project", str(root)]
        runs = [run_measured(argv, cwd=root) for _ in range(args.runs + 1)][1:]
        failed = [r for r in runs if r.returncode != 0]
        if failed:
            print(f"{name}: failed\n{failed[0].stderr}{failed[0].stdout}")
            continue

        def floor(sql: str = FLOORS[name]) -> None:
            with duckdb.connect() as db:
                for statement in sql.split("; "):
                    db.execute(statement)

        os.chdir(root)
        floor_s = median(time_call(floor, runs=args.runs))
        print(
            f"{name:16} {median([r.seconds for r in runs]):6.2f} s  "
            f"peak {max(r.peak_mb for r in runs):6.0f} MB   DuckDB alone {floor_s:5.2f} s"
        )


if __name__ == "__main__":
    main()
