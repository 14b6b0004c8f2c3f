"""One file read by a DuckDB table function into the step's table: what the CSV, Parquet
and JSON extractors share (path rule, column choice, limit, errors, the files a run may read).

`resolve_data_path` is the path rule every file component shares, readers and writers: a
path is relative to the connection's `base_dir` (else the project directory) and may not
leave it — not by `..`, not as an absolute path, not through a symlink. A `base_dir`
written in the step itself stays inside the project (a folder elsewhere is a connection
the user sets up in osiris_connections.yaml). No file component reads or writes a hidden
file (`.env`, `.osiris/`, `.git/`), and no writer replaces Osiris's own files
(osiris_connections.yaml, build/, run_logs/, pipelines/). `files_read` reports the same
path before the run, so a data plane locked against files (`allowed_paths`) can open it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from components.common.quoting import quote_identifier
from components.protocol import (
    DriverError,
    ReadRelation,
    StepContext,
    StepResult,
    first_paragraph,
    no_python_tables,
)

#: Folders and files of a project that belong to Osiris: no file writer replaces them.
OSIRIS_FILES = ("osiris_connections.yaml", "build", "run_logs", "pipelines")


def resolve_data_path(
    ctx: StepContext, raw: Any, inline_base: Any = None, *, writing: bool = False
) -> Path:
    """`raw` resolved against the connection's `base_dir` (else the project directory).

    Symlinks are resolved before the check, and the real path is returned, so nothing
    outside the base directory is ever read or written. A `base_dir` from the step's own
    config must lie inside the project. Hidden files are never touched, and a writer
    (`writing`) never replaces Osiris's own files. Refusals are config errors.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise DriverError("`path` is required: the CSV file's path", category="config")
    if "\x00" in raw:
        raise DriverError("`path` contains a NUL character", category="config")
    project_real = Path(os.path.realpath(ctx.project_dir))
    connection = ctx.connection or {}
    base_value = inline_base or connection.get("base_dir")  # inline config wins, as always
    base = Path(str(base_value)).expanduser() if base_value else Path(ctx.project_dir)
    if not base.is_absolute():
        base = Path(ctx.project_dir) / base
    base_real = Path(os.path.realpath(base))
    if inline_base and not base_real.is_relative_to(project_real):
        raise DriverError(
            f"the step's base_dir {str(inline_base)!r} leads outside the project {ctx.project_dir}",
            category="config",
            hint="leave base_dir to the connection: a folder outside the project is a "
            "filesystem connection in osiris_connections.yaml",
        )
    candidate = Path(raw)
    target = Path(os.path.realpath(candidate if candidate.is_absolute() else base_real / candidate))
    if not target.is_relative_to(base_real):
        raise DriverError(
            f"path {raw!r} leads outside the base directory {base}",
            category="config",
            hint="use a path inside the connection's base_dir (no .., no absolute path "
            "elsewhere, no symlink out of it)",
        )
    if target == base_real:
        raise DriverError(f"path {raw!r} names the base directory itself", category="config")
    if any(part.startswith(".") for part in target.relative_to(base_real).parts):
        raise DriverError(
            f"path {raw!r} names a hidden file or folder",
            category="config",
            hint="data files are not hidden: hidden files hold secrets (.env) and state (.osiris/)",
        )
    if writing and target.is_relative_to(project_real):
        inside = target.relative_to(project_real).parts
        if inside and inside[0] in OSIRIS_FILES:
            raise DriverError(
                f"path {raw!r} is Osiris's own {inside[0]}: a writer may not replace it",
                category="config",
                hint="write data files elsewhere in the project, e.g. output/",
            )
    return target


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


def selected_columns(config: Mapping[str, Any]) -> str:
    """The SELECT list of the step's `columns` (all when unset), each name quoted."""
    columns = config.get("columns")
    if columns is None:
        return "*"
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise DriverError("`columns` must be a list of column names", category="config")
    return ", ".join(quote_identifier(name) for name in columns)


class ReadsOneFile:
    """A driver whose step reads the one file its config names (`path`)."""

    def files_read(
        self, config: Mapping[str, Any], connection: Mapping[str, Any] | None, project_dir: Path
    ) -> list[Path]:
        """The file this step reads: the run's data plane may read it and no other
        (runtime/adapters/local.py). Resolved exactly as the driver resolves it."""
        return files_read(config, connection, project_dir)


class ReadsOneFileAsRelation(ReadsOneFile):
    """A reader whose rows are one SELECT, its `relation(ctx, config)`: `run` makes the
    step's table of it, and a fused chain may read it as a view instead (runtime/fusion.py)."""

    def relation(self, ctx: StepContext, config: Mapping[str, Any]) -> ReadRelation:
        raise NotImplementedError

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return self.relation(ctx, config).load(ctx.data_plane, ctx.output_table)

    def takes_fused(self, config: Mapping[str, Any]) -> bool:
        return True


def read_relation(
    ctx: StepContext,
    config: Mapping[str, Any],
    path: Path,
    source: Callable[[Mapping[str, str]], str],
    kind: str,
) -> ReadRelation:
    """`SELECT <columns> FROM <source(types)> [LIMIT n]`: the step's rows, which `load`
    makes its table of (or a fused chain reads as a view: components/protocol.py).

    `source(types)` builds the table-function call; `types` (column -> DuckDB type) are
    the step's `dtype` pins. `kind` names the format in messages ("Parquet", "JSON").
    """
    import duckdb

    if ctx.cancelled():
        raise DriverError("cancelled before reading", category="cancelled")
    select = selected_columns(config)
    limit = config.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DriverError("`limit` must be a whole number ≥ 0", category="config")
    dtype = config.get("dtype") or {}
    if not isinstance(dtype, Mapping):
        raise DriverError("`dtype` must map column names to types", category="config")
    types = {str(k): str(v) for k, v in dtype.items()}
    no_python_tables(ctx.data_plane)
    sql = f"SELECT {select} FROM {source(types)}" + (f" LIMIT {limit}" if limit is not None else "")

    def load(cur: Any, table: str) -> StepResult:
        try:
            cur.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}")
        except duckdb.Error as err:
            raise read_failure(err, cur, source({}) if types else None, kind, path) from None
        return table_read(cur, table, path)

    return ReadRelation(sql, load, {"path": str(path)})


def table_read(cur: Any, table: str, path: Path) -> StepResult:
    """What a reader reports: the rows now in `table`, its columns, the file they came from."""
    rows = int(cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    names = [d[0] for d in cur.execute(f"SELECT * FROM {table} LIMIT 0").description]
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
        available = columns_of(cur, untyped_source) if untyped_source else []
        hint = "columns in the file: " + ", ".join(available) if available else None
        if hint is None and "not found" in text:
            hint = "check `columns` and `dtype` against the file's column names"
        return DriverError(f"cannot read the {kind} file: {text}", category="config", hint=hint)
    if misfit := type_misfit(err, text):
        return misfit
    if isinstance(err, duckdb.IOException) and "permission" in text.lower():
        return DriverError(f"cannot read {path.name}: {text}", category="permission")
    return DriverError(
        f"{path.name} is not a readable {kind} file: {text}",
        category="data",
        hint=f"check that the file is {kind} (its name and its content)",
    )


PIN_TYPE_HINT = "pin the column's type with dtype (e.g. {column: VARCHAR})"


def type_misfit(err: Exception, text: str, hint: str = PIN_TYPE_HINT) -> DriverError | None:
    """A DuckDB conversion error (`text`, its first paragraph) as a data error; None for
    any other error."""
    import duckdb

    if isinstance(err, duckdb.ConversionException) or "Conversion Error" in text:
        message = f"a value does not fit its column type: {text}"
        return DriverError(message, category="data", hint=hint)
    return None


def columns_of(cur: Any, source: str) -> list[str]:
    """The columns `source` reads; none when it cannot be read."""
    try:
        return [str(d[0]) for d in cur.execute(f"SELECT * FROM {source} LIMIT 0").description]
    except Exception:  # the file itself may be what fails; the hint is then left out
        return []
