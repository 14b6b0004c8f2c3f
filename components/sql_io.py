"""Moving rows between SQL servers and the run's DuckDB data plane: the engine-neutral half.

`mysql_io` and `postgres_io` describe a query's columns as `Column`s and offer one or more
`Reader`s (fast columnar first, a text fallback after); `extract_into` streams the first
reader that can read the data into the step's output table, batch by batch, in one DuckDB
transaction. For writers, `export_csv` streams an input table out as ordered CSV files of
`batch_size` rows for the servers' bulk loaders. Nothing here speaks a wire protocol.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import duckdb
import pyarrow as pa

from components.protocol import DriverError, StepContext, StepResult

#: Config keys that carry the connection's secrets; their values never reach a message.
SECRET_KEYS = ("password", "pg_dsn", "key")
#: The Arrow batch being loaded, as the data plane's SQL sees it (a local variable's name).
BATCH_VIEW = "_osiris_batch"
#: Fewest rows per bulk-load file: each file costs a statement, and files live on disk,
#: so a tiny batch_size would only add round trips without saving memory.
MIN_ROWS_PER_FILE = 10_000


def connection_fields(
    ctx: StepContext, config: Mapping[str, Any], keys: Iterable[str]
) -> dict[str, Any]:
    """The resolved connection, with the step's inline connection fields on top."""
    fields = dict(ctx.connection or {})
    fields.update({key: config[key] for key in keys if config.get(key) not in (None, "")})
    return fields


def scrub(message: str, fields: Mapping[str, Any]) -> str:
    """`message` with every secret of `fields` (and anything shaped like a password) masked.

    >>> scrub("login root:s3cret@db failed (password=s3cret)", {"password": "s3cret"})
    'login root:***@db failed (password=***)'
    """
    secrets = {str(fields[key]) for key in SECRET_KEYS if fields.get(key)}
    for secret in sorted(secrets, key=len, reverse=True):
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            message = message.replace(form, "***")
    message = re.sub(r"(://[^:/@\s]*:)[^@\s]+@", r"\1***@", message)
    return re.sub(r"(password\s*=\s*)('[^']*'|[^\s,;)]+)", r"\1***", message, flags=re.I)


def cancelled() -> DriverError:
    """The error a driver raises when the run asks it to stop between batches."""
    return DriverError("cancelled before the step finished", category="cancelled")


def quote_ident(name: str) -> str:
    """A DuckDB (and PostgreSQL) identifier: `a"b` → `"a""b"`."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def batch_size(config: Mapping[str, Any]) -> int:
    """Rows per batch: the step's `batch_size`, 100 000 by default."""
    return int(config.get("batch_size") or 100_000)


def split_table(table: str, schema: str | None) -> tuple[str | None, str]:
    """(schema, table) from a step's `table`, which may be written `schema.table`."""
    if schema is None and "." in table:
        schema, table = table.split(".", 1)
    return schema, table


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Column:
    """One output column: its DuckDB type and how each reader's wire value becomes it.

    `fast_load` and `text_load` are DuckDB expressions over `{c}`, the column as the fast
    (columnar) or the text reader delivers it. `fast_load` is None when the fast reader
    cannot read the column exactly, which sends the whole read to the text reader.
    """

    name: str
    duck_type: str
    text_load: str
    fast_load: str | None = None
    #: The text reader sends bytes, not text (binary strings).
    binary: bool = False
    #: Server-side expression replacing the bare column (e.g. a `::text` cast), if any.
    select: str | None = None
    #: Arrives as the exact text of an unconstrained number; narrowed to a DECIMAL after.
    narrow: bool = False


class Unreadable(Exception):
    """A reader met a value it cannot convert exactly; the next reader should try."""


@dataclass(frozen=True)
class Reader:
    """One way to read the step's rows: `open()` gives the columns and a batch iterator."""

    name: str
    #: Batches carry text (use `Column.text_load`) rather than typed Arrow columns.
    text: bool
    open: Callable[[], tuple[Sequence[Column], Iterator[pa.RecordBatch]]]


def extract_into(
    ctx: StepContext,
    readers: Sequence[Reader],
    *,
    limit: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> StepResult:
    """Stream the first reader that can read the rows into `ctx.output_table`.

    Each attempt runs in one data-plane transaction, so a failed or cancelled read leaves
    no half-written table; a reader raising `Unreadable` is rolled back and the next starts.
    """
    for position, reader in enumerate(readers):
        try:
            columns, rows = _load_atomically(ctx, reader, limit)
        except Unreadable as err:
            if position == len(readers) - 1:
                raise DriverError(str(err), category="data") from err
            ctx.emit("read.fallback", reader=reader.name, reason=str(err))
            continue
        info = {
            "reader": reader.name,
            "columns": [[column.name, column.duck_type] for column in columns],
            **(details or {}),
        }
        # the rows read from the source are the rows written into the data plane; the
        # runner records both as metrics from this result
        return StepResult(rows_read=rows, rows_written=rows, details=info)
    raise DriverError("no reader was offered for this step", category="config")


def _load_atomically(
    ctx: StepContext, reader: Reader, limit: int | None
) -> tuple[Sequence[Column], int]:
    plane = ctx.data_plane
    plane.execute("BEGIN TRANSACTION")
    try:
        columns, batches = reader.open()
        try:
            rows = _load(ctx, columns, batches, reader.text, limit)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        for column in columns:
            if column.narrow:
                narrow_decimal(ctx, column.name)
        plane.execute("COMMIT")
    except BaseException:
        plane.execute("ROLLBACK")
        raise
    return columns, rows


def _load(
    ctx: StepContext,
    columns: Sequence[Column],
    batches: Iterator[pa.RecordBatch],
    text: bool,
    limit: int | None,
) -> int:
    plane = ctx.data_plane
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        duplicated = sorted({name for name in names if names.count(name) > 1})
        raise DriverError(
            f"the query returns more than one column named {', '.join(duplicated)}",
            category="sql",
            hint="give each column a distinct alias (SELECT a.id AS order_id, b.id AS ...)",
        )
    definition = ", ".join(f"{quote_ident(c.name)} {c.duck_type}" for c in columns)
    plane.execute(f"CREATE OR REPLACE TABLE {ctx.output_table} ({definition})")
    loads = [
        (c.text_load if text else c.fast_load or c.text_load).format(c=f"c{i}")
        for i, c in enumerate(columns)
    ]
    insert = f"INSERT INTO {ctx.output_table} SELECT {', '.join(loads)} FROM {BATCH_VIEW}"
    wire_names = [f"c{i}" for i in range(len(columns))]
    rows = 0
    for batch in batches:
        if ctx.cancelled():
            raise cancelled()
        if limit is not None and rows + batch.num_rows > limit:
            batch = batch.slice(0, limit - rows)
        if batch.num_rows:
            # DuckDB finds the batch by its variable name (a replacement scan). A registered
            # view would keep every batch alive until COMMIT: memory would grow with the table.
            _osiris_batch = batch.rename_columns(wire_names)
            plane.execute(insert)
            del _osiris_batch
            rows += batch.num_rows
            ctx.emit("read.progress", rows=rows, table=ctx.output_table)
        if limit is not None and rows >= limit:
            break
    return rows


def narrow_decimal(ctx: StepContext, column: str) -> None:
    """Turn a text column of exact numbers into the narrowest DECIMAL(38, s) that holds all.

    PostgreSQL's unconstrained `numeric` (SUM, AVG, ...) has no declared scale; reading its
    text and choosing the scale from the data keeps every digit. Values that do not fit
    (NaN, more than 38 digits) leave the column as exact text, with an event saying so.
    """
    plane, name = ctx.data_plane, quote_ident(column)
    integer_digits, scale, all_plain = plane.execute(
        f"SELECT max(length(ltrim(split_part({name}, '.', 1), '-'))), "
        f"coalesce(max(length(split_part({name}, '.', 2))), 0), "
        rf"coalesce(bool_and(regexp_full_match({name}, '-?[0-9]+(\.[0-9]+)?')), true) "
        f"FROM {ctx.output_table}"
    ).fetchone()
    # No value to learn from (all NULL): a scale that loses nothing for common figures.
    scale = 10 if integer_digits is None else int(scale)
    if not all_plain or (integer_digits or 0) + scale > 38:
        ctx.emit("read.kept_as_text", column=column, reason="numbers wider than DECIMAL(38)")
        return
    plane.execute(f"ALTER TABLE {ctx.output_table} ALTER {name} TYPE DECIMAL(38, {scale})")


def text_batch(rows: Sequence[Sequence[Any]], columns: Sequence[Column]) -> pa.RecordBatch:
    """An Arrow batch of text (or bytes) columns from DB-API rows of str/bytes/None."""
    if not rows:
        return pa.record_batch([pa.array([], pa.string()) for _ in columns], names=_wire(columns))
    arrays = [
        pa.array(values, pa.binary() if column.binary else pa.string())
        for values, column in zip(zip(*rows, strict=True), columns, strict=True)
    ]
    return pa.record_batch(arrays, names=_wire(columns))


def _wire(columns: Sequence[Column]) -> list[str]:
    return [f"c{i}" for i in range(len(columns))]


def is_panic(err: BaseException) -> bool:
    """Whether `err` is a Rust panic surfacing from connectorx (a BaseException subclass)."""
    return type(err).__name__ == "PanicException"


# --------------------------------------------------------------------------- writing


def input_columns(plane: Any, table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of a data-plane table, in order."""
    return [(row[0], row[1]) for row in plane.execute(f"DESCRIBE {table}").fetchall()]


def count_rows(plane: Any, table: str) -> int:
    """Rows in a data-plane table."""
    return int(plane.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@contextmanager
def export_csv(
    plane: Any, table: str, expressions: Sequence[str], options: str, rows_per_file: int
) -> Iterator[Iterator[Path]]:
    """CSV files of `SELECT expressions FROM table`, `rows_per_file` rows each, in table order.

    Each file is written by one DuckDB COPY of a rowid range (no rows pass through Python)
    into a private temporary directory, removed afterwards. Files are made one at a time as
    the caller asks, so the disk holds one file (the caller deletes each once loaded).
    A full disk is an `io` DriverError.
    """
    remove_orphaned_bulk_dirs(Path(tempfile.gettempdir()))
    try:
        workdir = Path(tempfile.mkdtemp(prefix=f"{BULK_PREFIX}{os.getpid()}_"))
    except OSError as err:
        raise _no_room(tempfile.gettempdir(), err.strerror or str(err)) from None
    try:
        yield _csv_files(plane, table, expressions, options, rows_per_file, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


#: Bulk-load folders are named `osiris_bulk_<pid>_<random>`: a folder whose process is gone
#: (killed mid-write, so it never removed it) can be told from a concurrent run's.
BULK_PREFIX = "osiris_bulk_"


def remove_orphaned_bulk_dirs(root: Path) -> None:
    """Delete the bulk-load folders in `root` whose writing process no longer runs."""
    for folder in root.glob(f"{BULK_PREFIX}*_*"):
        pid = folder.name[len(BULK_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _no_room(folder: str | Path, reason: str) -> DriverError:
    return DriverError(
        f"cannot write bulk-load files in {folder}: {reason}",
        category="io",
        hint="free space in the temporary folder, or point TMPDIR at a disk with room",
    )


def _copy_to(plane: Any, select: str, path: Path, options: str) -> None:
    """DuckDB `COPY (select) TO path`; a write the disk refuses is an `io` DriverError."""
    try:
        plane.execute(f"COPY ({select}) TO {quote_literal(str(path))} ({options})")
    except duckdb.IOException as err:
        # DuckDB reports the OS error as JSON inside its message: keep just its words
        errno = re.search(r'"errno":\s*"(\d+)"', str(err))
        reason = os.strerror(int(errno.group(1))) if errno else str(err).splitlines()[0]
        raise _no_room(path.parent.parent, reason) from None


def _csv_files(
    plane: Any,
    table: str,
    expressions: Sequence[str],
    options: str,
    rows_per_file: int,
    workdir: Path,
) -> Iterator[Path]:
    select = f"SELECT {', '.join(expressions)} FROM {table}"
    try:
        (last,) = plane.execute(f"SELECT max(rowid) FROM {table}").fetchone()
    except duckdb.Error:  # a view has no rowid: one file
        path = workdir / "all.csv"
        _copy_to(plane, select, path, options)
        yield path
        return
    step = max(rows_per_file, MIN_ROWS_PER_FILE)
    for index, start in enumerate(range(0, -1 if last is None else last + 1, step)):
        path = workdir / f"chunk_{index}.csv"
        _copy_to(
            plane, f"{select} WHERE rowid >= {start} AND rowid < {start + step}", path, options
        )
        yield path


def progress(ctx: StepContext, rows: int, table: str) -> None:
    """Report rows written so far, and stop if the run was cancelled."""
    ctx.emit("write.progress", rows=rows, table=table)
    if ctx.cancelled():
        raise cancelled()


def match_columns(source: Sequence[str], target: Sequence[str], table: str) -> list[str]:
    """The target column for each source column: same name, else the one equal ignoring case."""
    exact = set(target)
    folded: dict[str, list[str]] = {}
    for name in target:
        folded.setdefault(name.lower(), []).append(name)
    matched = []
    for name in source:
        candidates = [name] if name in exact else folded.get(name.lower(), [])
        if len(candidates) != 1:
            raise DriverError(
                f"column {name!r} of the input has no single match in table {table}",
                category="config",
                hint=f"the table has columns: {', '.join(target)}; rename the input column "
                "in an upstream duckdb.processor or add the column to the table",
            )
        matched.append(candidates[0])
    return matched


def primary_key(config: Mapping[str, Any]) -> list[str]:
    """The step's `primary_key` as a list (empty when not given)."""
    key = config.get("primary_key")
    if key is None:
        return []
    return [key] if isinstance(key, str) else list(key)


def check_write_config(config: Mapping[str, Any], source: Sequence[str]) -> tuple[str, list[str]]:
    """(write_mode, primary_key), checked against the input's columns."""
    mode = str(config.get("write_mode") or "append")
    key = primary_key(config)
    if mode not in ("append", "replace", "upsert"):
        raise DriverError(f"unknown write_mode {mode!r}", category="config")
    if mode == "upsert" and not key:
        raise DriverError("write_mode upsert needs primary_key", category="config")
    missing = [name for name in key if name not in source]
    if missing:
        raise DriverError(
            f"primary_key column {', '.join(missing)} is not a column of the input",
            category="config",
            hint=f"the input has columns: {', '.join(source)}",
        )
    return mode, key


def single_input(inputs: Mapping[str, str]) -> str:
    """The one data-plane table a writer reads (it may arrive under several names)."""
    tables = set(inputs.values())
    if len(tables) != 1:
        raise DriverError(f"a writer takes exactly one input, got {len(tables)}", category="config")
    return tables.pop()


def write_by_mode(
    writer: Any,
    config: Mapping[str, Any],
    mode: str,
    key: Sequence[str],
    append: Callable[[list[str]], int],
) -> tuple[int, bool]:
    """Create the target, or write into it by `write_mode`: (rows written, created).

    `writer` is a database's table writer (target_columns, create, replace, upsert);
    `append` is how that database appends into the target. Runs inside the caller's
    transaction, so any failure leaves the target as it was.
    """
    existing = writer.target_columns()
    if existing is None:
        if config.get("create_if_missing") is False:
            raise DriverError(
                f"table {writer.target} does not exist",
                category="config",
                hint="create it first, or set create_if_missing: true",
            )
        return int(writer.create(key)), True
    targets = match_columns(writer.source_names, existing, writer.target)
    if mode == "replace":
        return int(writer.replace(targets)), False
    if mode == "upsert":
        return int(writer.upsert(targets, key)), False
    return int(append(targets)), False
