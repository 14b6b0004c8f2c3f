"""duckdb.writer: the step's one input table into a table of a DuckDB database file.

The rows leave the run's data plane as Arrow record batches (memory bounded by the batch,
no Python rows) and go into a second DuckDB database, the target file, opened by this
driver alone — the data plane itself opens no file. Atomic either way:
- a new database file is built under a temporary name beside the target, checkpointed,
  and renamed over it: a failure leaves no file;
- in an existing file, one transaction loads a staging table and swaps it in (`replace`:
  drop the old table, rename the staging one) or inserts the rows by column name
  (`append`): a failure or a cancel rolls back and the table is as it was.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from components.common.quoting import quote_identifier
from components.file_input import resolve_data_path
from components.file_output import (
    ensure_parent,
    input_columns,
    input_table,
    remove_orphans,
)
from components.protocol import DriverError, StepContext, StepResult, first_paragraph

WRITE_MODES = ("append", "replace")
BATCH_ROWS = 100_000


class DuckDBWriterDriver:
    """Writes the one input table to `config["table"]` in the database file."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        import duckdb

        table = input_table(inputs, "DuckDB writer")
        target, schema, mode, create = _options(config)
        path = database_path(ctx.connection, config, ctx.project_dir)
        if path.exists() and not path.is_file():
            raise DriverError(f"{path} is not a database file", category="config")
        ensure_parent(path, config.get("create_dirs", True) is True)
        input_columns(ctx.data_plane, table)
        if ctx.cancelled():
            raise DriverError("cancelled before writing", category="cancelled")
        fresh = not path.exists()
        remove_orphans(path)
        token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        temporary = path.parent / f".{path.name}.{token}.tmp"
        opened = temporary if fresh else path
        try:
            try:
                db = duckdb.connect(str(opened))
            except duckdb.Error as err:
                raise _open_failure(err, path) from None
            try:
                rows = _load(ctx, db, table, schema, target, mode, create, token)
                if fresh:
                    db.execute("CHECKPOINT")
            finally:
                db.close()
            if fresh:
                with temporary.open("rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
        except OSError as err:
            raise DriverError(
                f"cannot write {path}: {err.strerror or err}", category="io"
            ) from None
        finally:
            if fresh:
                for leftover in (temporary, Path(str(temporary) + ".wal")):
                    leftover.unlink(missing_ok=True)
        return StepResult(
            rows_read=rows,
            rows_written=rows,
            details={"path": str(path), "table": f"{schema}.{target}", "write_mode": mode},
        )

    def files_written(
        self, config: Mapping[str, Any], connection: Mapping[str, Any] | None, project_dir: Path
    ) -> list[Path]:
        """The database file this step writes — through its own DuckDB connection, never
        through the run's data plane."""
        return [database_path(connection, config, project_dir)]


DRIVER = DuckDBWriterDriver


def database_path(
    connection: Mapping[str, Any] | None, config: Mapping[str, Any], project_dir: Path
) -> Path:
    """The target database: the step's `path` inside the project, under the same rules as
    every file writer (also when a connection is named: a path in the step never escapes
    them), else the connection's `path` (absolute once resolved, anywhere the user chose)."""
    given = (connection or {}).get("path")
    if config.get("path") and config.get("path") != ":memory:":
        where = SimpleNamespace(project_dir=project_dir, connection=None)
        return resolve_data_path(where, config.get("path"), writing=True)  # type: ignore[arg-type]
    if isinstance(given, str) and given and given != ":memory:":
        return Path(os.path.realpath(Path(given).expanduser()))
    if given == ":memory:" or config.get("path") == ":memory:":
        raise DriverError(
            "an in-memory database would be gone when the step ends",
            category="config",
            hint="set `path` (or the connection's path) to a database file",
        )
    raise DriverError(
        "the DuckDB writer needs a database file",
        category="config",
        hint="set `connection: '@duckdb.<alias>'` or `path: output/warehouse.duckdb`",
    )


def _options(config: Mapping[str, Any]) -> tuple[str, str, str, bool]:
    target = config.get("table")
    schema = config.get("schema", "main")
    mode = config.get("write_mode", "append")
    create = config.get("create_if_missing", True)
    problems = []
    if not isinstance(target, str) or not target.strip():
        problems.append("`table` is required: the table to write")
    if not isinstance(schema, str) or not schema.strip():
        problems.append("`schema` must be a schema name")
    if mode not in WRITE_MODES:
        problems.append("`write_mode` must be append or replace")
    if not isinstance(create, bool):
        problems.append("`create_if_missing` must be true or false")
    if problems:
        raise DriverError("; ".join(problems), category="config")
    return str(target), str(schema), str(mode), bool(create)


def _load(
    ctx: StepContext,
    db: Any,
    table: str,
    schema: str,
    target: str,
    mode: str,
    create: bool,
    token: str,
) -> int:
    """The rows into `schema.target`, in one transaction; rolled back on any failure."""
    import duckdb

    qualified = f"{quote_identifier(schema)}.{quote_identifier(target)}"
    staging = f"__osiris_staging_{token.replace('-', '_')}"
    try:
        reader = ctx.data_plane.sql(f"SELECT * FROM {table}").to_arrow_reader(BATCH_ROWS)
    except duckdb.Error as err:  # the query behind the input failed at its first batch
        raise DriverError(
            f"reading the input failed: {first_paragraph(err)}", category="data"
        ) from None
    db.register("__osiris_input", reader)
    db.execute("BEGIN TRANSACTION")
    try:
        exists = db.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, target],
        ).fetchone()[0]
        if not exists and not create:
            raise DriverError(
                f"there is no table {schema}.{target} in the database",
                category="config",
                hint="create it, or set create_if_missing: true",
            )
        db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
        if mode == "append" and exists:
            rows = int(
                db.execute(
                    f"INSERT INTO {qualified} BY NAME SELECT * FROM __osiris_input"
                ).fetchone()[0]
            )
        else:
            swap = f"{quote_identifier(schema)}.{quote_identifier(staging)}"
            db.execute(f"CREATE TABLE {swap} AS SELECT * FROM __osiris_input")
            rows = int(db.execute(f"SELECT count(*) FROM {swap}").fetchone()[0])
            db.execute(f"DROP TABLE IF EXISTS {qualified}")
            db.execute(f"ALTER TABLE {swap} RENAME TO {quote_identifier(target)}")
        if ctx.cancelled():
            raise DriverError("cancelled: the table was left as it was", category="cancelled")
        db.execute("COMMIT")
    except DriverError:
        db.execute("ROLLBACK")
        raise
    except duckdb.Error as err:
        db.execute("ROLLBACK")
        raise _write_failure(err, db, schema, target) from None
    finally:
        db.unregister("__osiris_input")
    return rows


def _write_failure(err: Exception, db: Any, schema: str, target: str) -> DriverError:
    import duckdb

    text = first_paragraph(err).split("\nLINE ")[0].strip()
    if isinstance(err, duckdb.BinderException | duckdb.ConversionException):
        described = db.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, target],
        ).fetchall()
        columns = ", ".join(f"{name} {kind}" for name, kind in described)
        return DriverError(
            f"cannot append to {schema}.{target}: {text}",
            category="data",
            hint=f"the table has: {columns}; write_mode: replace rewrites it with the "
            "input's columns",
        )
    if isinstance(err, duckdb.ConstraintException):
        return DriverError(
            f"a row breaks a constraint of {schema}.{target}: {text}", category="data"
        )
    return DriverError(f"writing {schema}.{target} failed: {text}", category="data")


def _open_failure(err: Exception, path: Path) -> DriverError:
    text = first_paragraph(err).split("\nLINE ")[0].strip()
    if "lock" in text.lower():
        return DriverError(
            f"cannot open {path.name}: another process holds it open",
            category="io",
            retryable=True,
            hint="close the other DuckDB session (a notebook, the duckdb shell) and run again",
        )
    return DriverError(
        f"{path.name} is not a DuckDB database this version can open: {text}",
        category="config",
        hint="point path at a DuckDB database file, or at a name that does not exist yet",
    )
