"""Each step's output, kept where a person (or a model) can look at it after the run.

The data plane is in memory and goes with the run, so before it closes every step's
table is copied into the session: `artifacts/<step_id>/output.parquet` holds its first
`SAMPLE_ROWS` rows (the whole table with `keep_outputs`), and `output.json` says how
many rows the table had, its columns and whether the file is a sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Rows kept per step by default: enough to see what a step made, bounded in size.
SAMPLE_ROWS = 100
OUTPUT_FILE = "output.parquet"
OUTPUT_INFO = "output.json"


def keep_outputs(
    plane: Any,
    session: Any,
    step_ids: Iterable[str],
    whole: bool = False,
    rows: Mapping[str, int] | None = None,
) -> None:
    """Copy each step's table (those that made one) into its artifacts folder.

    Two catalog queries for all steps, and a count only where the sample was cut: a
    plan of thousands of small steps spends milliseconds here, not a query per column.
    `rows` gives the row count of steps whose table holds only their sample (a read
    step that streamed its rows into its writer, runtime/streams.py; the steps of a
    chain fused into one statement, runtime/fusion.py): `RunOutcome.sample_rows`.
    """
    rows = rows or {}
    columns: dict[str, list[list[str]]] = {}
    for table, column, kind in plane.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE NOT internal ORDER BY table_name, column_index"
    ).fetchall():
        columns.setdefault(str(table), []).append([str(column), str(kind)])
    tables = {
        str(row[0]) for row in plane.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    }
    for step_id in step_ids:
        if step_id not in tables:
            continue  # a writer, a skipped or failed step: no table of its own
        name = '"' + step_id.replace('"', '""') + '"'
        folder: Path = session.artifacts_dir(step_id)
        target = folder / OUTPUT_FILE
        select = f"SELECT * FROM {name}" + ("" if whole else f" LIMIT {SAMPLE_ROWS}")
        try:
            kept = _write_parquet(plane, select, target)
            count = rows.get(step_id, kept)
            if not whole and kept == SAMPLE_ROWS and step_id not in rows:  # cut: how many
                (count,) = plane.execute(f"SELECT count(*) FROM {name}").fetchone()
        except Exception as err:  # keeping a sample must never fail the run
            session.event("artifact.error", step_id=step_id, error=str(err)[:500])
            continue
        info = {
            "rows": int(count),
            "kept_rows": kept,
            "whole": kept == int(count),
            "columns": columns.get(step_id, []),
            "file": OUTPUT_FILE,
        }
        (folder / OUTPUT_INFO).write_text(json.dumps(info, sort_keys=True) + "\n", "utf-8")


def _write_parquet(plane: Any, select: str, target: Path) -> int:
    """`select`'s rows as a Parquet file, batch by batch through Arrow (bounded memory);
    returns how many rows it wrote.

    Written by pyarrow, not by a DuckDB `COPY`: the run's data plane is locked and may
    write no file outside its spill folder (runtime/adapters/local.py lock_data_plane)."""
    import pyarrow.parquet as pq

    reader = plane.sql(select).to_arrow_reader(64_000)
    staging = target.with_name(f".{target.name}.tmp")
    written = 0
    with pq.ParquetWriter(staging, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            written += batch.num_rows
    staging.replace(target)
    return written


def output_info(session_dir: Path, step_id: str) -> dict[str, Any] | None:
    """What `keep_outputs` recorded for a step, or None when it kept nothing."""
    try:
        info: dict[str, Any] = json.loads(
            (session_dir / "artifacts" / step_id / OUTPUT_INFO).read_text("utf-8")
        )
    except (OSError, ValueError):
        return None
    return info
