"""One file read by a DuckDB table function into the step's table: what the Parquet and JSON
extractors share (path rule, column choice, limit, errors, the files a run may read).

The file's path is the step's `path` under the connection's `base_dir`, resolved by
`resolve_data_path` as the CSV components resolve it; `files_read` reports that same
path before the run, so a data plane locked against files (`allowed_paths`) can open it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from components.file_output import first_paragraph
from components.filesystem_csv_extractor.driver import quote_identifier, resolve_data_path
from components.protocol import DriverError, StepContext, StepResult, no_python_tables


def source_path(ctx: StepContext, config: Mapping[str, Any]) -> Path:
    path = resolve_data_path(ctx, config.get("path"), config.get("base_dir"))
    if not path.is_file():
        raise DriverError(
            f"no file at {config['path']!r} ({path})",
            category="config",
            hint="check `path`: it is relative to the connection's base_dir",
        )
    return path


def files_read(
    config: Mapping[str, Any], connection: Mapping[str, Any] | None, project_dir: Path
) -> list[Path]:
    """The file a step will read, resolved exactly as its driver resolves it."""
    where = SimpleNamespace(project_dir=project_dir, connection=connection)
    return [resolve_data_path(where, config.get("path"), config.get("base_dir"))]  # type: ignore[arg-type]


def read_into_table(
    ctx: StepContext,
    config: Mapping[str, Any],
    path: Path,
    source: Callable[[Mapping[str, str]], str],
    kind: str,
) -> StepResult:
    """`CREATE TABLE <output> AS SELECT <columns> FROM <source(types)> [LIMIT n]`.

    `source(types)` builds the table-function call; `types` (column -> DuckDB type) are
    the step's `dtype` pins. `kind` names the format in messages ("Parquet", "JSON").
    """
    import duckdb

    if ctx.cancelled():
        raise DriverError("cancelled before reading", category="cancelled")
    columns = config.get("columns")
    select = "*"
    if columns is not None:
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise DriverError("`columns` must be a list of column names", category="config")
        select = ", ".join(quote_identifier(name) for name in columns)
    limit = config.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DriverError("`limit` must be a whole number ≥ 0", category="config")
    dtype = config.get("dtype") or {}
    if not isinstance(dtype, Mapping):
        raise DriverError("`dtype` must map column names to types", category="config")
    types = {str(k): str(v) for k, v in dtype.items()}
    cur = ctx.data_plane
    no_python_tables(cur)
    try:
        sql = f"CREATE OR REPLACE TABLE {ctx.output_table} AS SELECT {select} FROM {source(types)}"
        cur.execute(sql + (f" LIMIT {limit}" if limit is not None else ""))
    except duckdb.Error as err:
        raise read_failure(err, cur, source({}) if types else None, kind, path) from None
    rows = int(cur.execute(f"SELECT count(*) FROM {ctx.output_table}").fetchone()[0])
    names = [d[0] for d in cur.execute(f"SELECT * FROM {ctx.output_table} LIMIT 0").description]
    return StepResult(
        rows_read=rows, rows_written=rows, details={"path": str(path), "columns": names}
    )


def read_failure(
    err: Exception, cur: Any, untyped_source: str | None, kind: str, path: Path
) -> DriverError:
    """A DuckDB error as a DriverError: its first paragraph, and a hint where one helps."""
    import duckdb

    text = first_paragraph(err).split("\nLINE ")[0].strip()
    if isinstance(err, duckdb.BinderException | duckdb.CatalogException):
        available = _columns_of(cur, untyped_source) if untyped_source else []
        hint = "columns in the file: " + ", ".join(available) if available else None
        if hint is None and "not found" in text:
            hint = "check `columns` and `dtype` against the file's column names"
        return DriverError(f"cannot read the {kind} file: {text}", category="config", hint=hint)
    if isinstance(err, duckdb.ConversionException) or "Conversion Error" in text:
        return DriverError(
            f"a value does not fit its column type: {text}",
            category="data",
            hint="pin the column's type with dtype (e.g. {column: VARCHAR})",
        )
    if isinstance(err, duckdb.IOException) and "permission" in text.lower():
        return DriverError(f"cannot read {path.name}: {text}", category="permission")
    return DriverError(
        f"{path.name} is not a readable {kind} file: {text}",
        category="data",
        hint=f"check that the file is {kind} (its name and its content)",
    )


def _columns_of(cur: Any, source: str) -> list[str]:
    try:
        return [str(d[0]) for d in cur.execute(f"SELECT * FROM {source} LIMIT 0").description]
    except Exception:  # the file itself may be what fails; the hint is then left out
        return []
