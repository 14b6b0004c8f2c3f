"""Moving rows between SQL servers and the run's DuckDB data plane: the engine-neutral half.

`components.mysql.io` and `components.postgres.io` describe a query's columns as `Column`s
and offer one or more `Reader`s (fast columnar first, a text fallback after);
`extract_into` streams the first reader that can read the data into the step's output
table, batch by batch, in one DuckDB transaction. For writers, `export_csv` streams an
input table out as ordered CSV files of `batch_size` rows for the servers' bulk loaders.
Nothing here speaks a wire protocol.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from components.common.quoting import quote_identifier as quote_ident
from components.common.quoting import quote_literal
from components.common.secrets import is_secret_key, mask
from components.protocol import DriverError, ReadFailed, StepContext, StepResult

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


#: Server-side time limit of every extract session when neither the step
#: (`fetch_timeout_s`) nor its connection (`statement_timeout_s`) sets one: a query that
#: stalls the server (`SLEEP`, a runaway join) ends on its own. 0 turns the limit off.
DEFAULT_STATEMENT_TIMEOUT_S = 3600.0


def read_time_limit(ctx: StepContext, config: Mapping[str, Any]) -> float | None:
    """The read's time limit in seconds (None: none): the step's `fetch_timeout_s`, else
    the connection's `statement_timeout_s`, else `DEFAULT_STATEMENT_TIMEOUT_S`.

    >>> from types import SimpleNamespace
    >>> read_time_limit(SimpleNamespace(connection={"statement_timeout_s": 30}), {})
    30.0
    >>> read_time_limit(SimpleNamespace(connection={"statement_timeout_s": 0}), {}) is None
    True
    """
    for value in (config.get("fetch_timeout_s"), (ctx.connection or {}).get("statement_timeout_s")):
        if value in (None, ""):
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise DriverError(
                f"the statement time limit must be a number of seconds, got {value!r}",
                category="config",
                hint="set statement_timeout_s (connection) or fetch_timeout_s (step), 0 for none",
            ) from None
        return seconds if seconds > 0 else None
    return DEFAULT_STATEMENT_TIMEOUT_S


def scrub(message: str, fields: Mapping[str, Any]) -> str:
    """`message` with every secret of `fields` (and anything shaped like a password) masked.

    >>> scrub("login root:s3cret@db failed (password=s3cret)", {"password": "s3cret"})
    'login root:***@db failed (password=***)'
    """
    secrets = {str(value) for key, value in fields.items() if is_secret_key(key) and value}
    return mask(message, secrets)


def run_tag(run_id: str) -> str:
    """The tag every query of a run carries in a comment, so that a cancel can find the
    run's queries on the server (`KILL QUERY`, `pg_cancel_backend`) from another connection.

    >>> run_tag("run_20261127T070125Z_1dfd69")
    'osiris-run-run_20261127T070125Z_1dfd69'
    """
    return "osiris-run-" + re.sub(r"[^A-Za-z0-9_-]", "", run_id)


def tagged(ctx: StepContext, sql: str) -> str:
    """`sql` behind a comment naming the step's run (no tag outside a run)."""
    run_id = getattr(ctx, "run_id", None)
    return f"/* {run_tag(str(run_id))} */ {sql}" if run_id else sql


def cancelled() -> DriverError:
    """The error a driver raises when the run asks it to stop between batches."""
    return DriverError("cancelled before the step finished", category="cancelled")


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
    _require_distinct(columns)
    definition = ", ".join(f"{quote_ident(c.name)} {c.duck_type}" for c in columns)
    plane.execute(f"CREATE OR REPLACE TABLE {ctx.output_table} ({definition})")
    projection = ", ".join(_wire_load(c, i, text) for i, c in enumerate(columns))
    wire_names = _wire(columns)
    rows = 0
    for batch in batches:
        if ctx.cancelled():
            raise cancelled()
        if limit is not None and rows + batch.num_rows > limit:
            batch = batch.slice(0, limit - rows)
        if batch.num_rows:
            # An Arrow relation, not a replacement scan (the locked data plane has none) nor
            # a registered view (it would keep every batch alive until COMMIT: memory would
            # grow with the table).
            relation = plane.from_arrow(batch.rename_columns(wire_names))
            relation.project(projection).insert_into(ctx.output_table)
            del relation
            rows += batch.num_rows
            ctx.emit("read.progress", rows=rows, table=ctx.output_table)
        if limit is not None and rows >= limit:
            break
    return rows


class ReaderStream:
    """The rows of the first of `readers` that can read them, as a `RowStream` for the one
    writer that consumes them (the runner runs the two together, see runtime/runner.py).

    What `extract_into` would have loaded, relation by relation and typed the same, with
    the same fallback: a reader raising `Unreadable` makes the consumer `restart()` and
    the next reader start. The first `sample_rows` rows still go into the step's output
    table, so the run keeps a sample of what was read, as for any other step.
    `errors()` is the family's context translating its driver's errors (`server.errors`).
    """

    def __init__(
        self,
        ctx: StepContext,
        readers: Sequence[Reader],
        errors: Callable[[], AbstractContextManager[None]],
        *,
        limit: int | None = None,
        sample_rows: int = 0,
    ) -> None:
        self.ctx, self.readers, self.errors = ctx, readers, errors
        self.limit, self.sample_rows = limit, sample_rows
        self.columns: list[tuple[str, str]] = []
        self.rows = 0
        self.finished = False
        self.details: dict[str, Any] = {}

    def relations(self, plane: Any, restart: Callable[[], None]) -> Iterator[Any]:
        for position, reader in enumerate(self.readers):
            try:
                yield from self._read(plane, reader)
            except Unreadable as err:
                if position == len(self.readers) - 1:
                    raise ReadFailed(DriverError(str(err), category="data")) from err
                self.ctx.emit("read.fallback", reader=reader.name, reason=str(err))
                self.rows = 0
                restart()
                continue
            self.details = {
                "reader": reader.name,
                "columns": [list(column) for column in self.columns],
            }
            self.finished = True
            return

    def _read(self, plane: Any, reader: Reader) -> Iterator[Any]:
        ctx, sample = self.ctx, self.sample_rows
        with self._failures():
            columns, batches = reader.open()
        try:
            _require_distinct(columns)
            self.columns = [(column.name, column.duck_type) for column in columns]
            projection = ", ".join(
                f"CAST(({_wire_load(column, i, reader.text)}) AS {column.duck_type}) "
                f"AS {quote_ident(column.name)}"
                for i, column in enumerate(columns)
            )
            plane.execute(f"CREATE OR REPLACE TABLE {ctx.output_table} AS {_empty(columns)}")
            wire_names = _wire(columns)
            while True:
                with self._failures():
                    batch = next(batches, None)
                    if ctx.cancelled():
                        raise cancelled()
                if batch is None:
                    break
                if self.limit is not None and self.rows + batch.num_rows > self.limit:
                    batch = batch.slice(0, self.limit - self.rows)
                if batch.num_rows:
                    relation = plane.from_arrow(batch.rename_columns(wire_names)).project(
                        projection
                    )
                    if self.rows < sample:
                        relation.limit(sample - self.rows).insert_into(ctx.output_table)
                    self.rows += batch.num_rows
                    yield relation
                    del relation
                    ctx.emit("read.progress", rows=self.rows, table=ctx.output_table)
                if self.limit is not None and self.rows >= self.limit:
                    break
            if not self.rows:  # no rows: one empty relation still gives the columns
                yield plane.sql(_empty(columns))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """The reader's errors as `ReadFailed`; `Unreadable` passes (the next reader tries)."""
        try:
            with self.errors():
                yield
        except (Unreadable, ReadFailed):
            raise
        except DriverError as err:
            raise ReadFailed(err) from err


def _wire_load(column: Column, position: int, text: bool) -> str:
    load = column.text_load if text else column.fast_load or column.text_load
    return load.format(c=f"c{position}")


def _empty(columns: Sequence[Column]) -> str:
    """A SELECT of no rows with the columns' names and types."""
    typed = ", ".join(
        f"CAST(NULL AS {column.duck_type}) AS {quote_ident(column.name)}" for column in columns
    )
    return f"SELECT {typed} LIMIT 0"


def _require_distinct(columns: Sequence[Column]) -> None:
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        duplicated = sorted({name for name in names if names.count(name) > 1})
        raise DriverError(
            f"the query returns more than one column named {', '.join(duplicated)}",
            category="sql",
            hint="give each column a distinct alias (SELECT a.id AS order_id, b.id AS ...)",
        )


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


class _NativeStderr:
    """A filter on fd 2, installed by the first connectorx read, for the process's life.

    connectorx's Rust threads write panics and "cx writer failed: …" lines straight to
    the process's stderr — past Python and every redactor, quoting the server's message
    and sometimes the connection — and may do so after the read has already failed in
    Python. So fd 2 becomes a pipe that one thread reads line by line: lines of a native
    reader's failure are kept (the step's error says them, scrubbed) and not passed on;
    every other line passes on to the real stderr, scrubbed of every secret a read has
    registered. At exit the pipe is drained before the process ends.
    """

    _NATIVE = re.compile(
        r"^(thread '[^']*'.*? panicked at|cx writer failed|stack backtrace:|"
        r"note: (run with `RUST_BACKTRACE|Some details are omitted))"
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fields: list[Mapping[str, Any]] = []
        self._caught: list[str] = []
        self._real: int | None = None
        self._pipe = -1
        self._thread: threading.Thread | None = None

    @contextmanager
    def captured(self, fields: Mapping[str, Any]) -> Iterator[Callable[[], str]]:
        with self._lock:
            self._fields.append(fields)
            self._install()
            mark = len(self._caught)

        def caught() -> str:
            with self._lock:
                text = "\n".join(self._caught[mark:])
            return scrub(text.strip(), fields)

        yield caught

    def _install(self) -> None:
        alive = self._thread is not None and self._thread.is_alive()
        if alive and os.fstat(2).st_ino == self._pipe:
            return  # fd 2 is still our pipe (a test harness may have swapped it since)
        sys.stderr.flush()
        read_end, write_end = os.pipe()
        self._pipe = os.fstat(write_end).st_ino
        real = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        if self._real is None:
            atexit.register(self._drain)
        self._real = real
        self._thread = threading.Thread(
            target=self._forward, args=(read_end, real), name="osiris-native-stderr", daemon=True
        )
        self._thread.start()

    def _forward(self, read_end: int, real: int) -> None:
        native = False  # inside a native failure's lines (its continuation is indented)
        with os.fdopen(read_end, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", "replace")
                with self._lock:
                    for fields in self._fields:
                        line = scrub(line, fields)
                    native = bool(self._NATIVE.match(line)) or (
                        native and (line.startswith((" ", "\t")) or not line.strip())
                    )
                    if native:
                        self._caught.append(line.rstrip("\n"))
                        del self._caught[:-200]  # bounded: the recent native lines only
                        continue
                try:
                    os.write(real, line.encode("utf-8", "replace"))
                except OSError:
                    return  # the real stderr is gone

    def _drain(self) -> None:
        """Put stderr back and let the forwarder pass on what is still in the pipe."""
        if self._real is None:
            return
        sys.stderr.flush()
        os.dup2(self._real, 2)  # closes the pipe's last write end: the forwarder sees EOF
        if self._thread is not None:
            self._thread.join(timeout=5)


#: Every connectorx read runs inside `native_stderr.captured(fields)`.
native_stderr = _NativeStderr()


def with_native_text(error: Exception, caught: str) -> Exception:
    """`error` (a DriverError or Unreadable) with what the native reader wrote to stderr
    (already scrubbed) added to its message, so the step's error says it and nothing else
    does."""
    if not caught:
        return error
    note = f" (the reader reported: {' '.join(caught.split())[:500]})"
    if isinstance(error, DriverError):
        return DriverError(
            str(error) + note,
            category=error.category,
            retryable=error.retryable,
            hint=error.hint,
        )
    return type(error)(str(error) + note)


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
    into a private temporary directory, removed afterwards. A thread writes the next file
    while the caller loads the one before, so DuckDB's export runs beside the server's
    load instead of before it; the disk holds at most three files (one loading, one
    ready, one being written: the caller deletes each once loaded).
    A full disk is an `io` DriverError.
    """
    with (
        load_folder() as workdir,
        made_ahead(_csv_files(plane, table, expressions, options, rows_per_file, workdir)) as files,
    ):
        yield files


@contextmanager
def load_folder() -> Iterator[Path]:
    """A private folder in `bulk_folder()` for one write's files, removed afterwards."""
    root = bulk_folder()
    remove_orphaned_bulk_dirs(root.parent)
    try:
        root.mkdir(exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="load_", dir=root))
    except OSError as err:
        raise _no_room(root.parent, err.strerror or str(err)) from None
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def export_stream_csv(
    plane: Any,
    relations: Iterator[Any],
    restarted: Callable[[], bool],
    expressions: Sequence[str],
    options: str,
) -> Iterator[Iterator[Path | None]]:
    """CSV files of the relations a read step streams (`RowStream.relations`), one a
    relation, made ahead by a thread as `export_csv`'s are: the read, the export and the
    caller's load run side by side. None comes in place of a file when the reader started
    again (`restarted()` says so since the last relation): the caller drops what it loaded.
    """

    def files(workdir: Path) -> Generator[Path | None, None, None]:
        for index, relation in enumerate(relations):
            if restarted():
                yield None
            relation.create_view(_STREAMED_BATCH, replace=True)
            path = workdir / f"batch_{index}.csv"
            _copy_to(
                plane, f"SELECT {', '.join(expressions)} FROM {_STREAMED_BATCH}", path, options
            )
            yield path

    with load_folder() as workdir, made_ahead(files(workdir)) as made:
        yield made


#: The view each streamed batch is exported from, on the writer's own cursor.
_STREAMED_BATCH = "_osiris_streamed_rows"


_Made = TypeVar("_Made")


@contextmanager
def made_ahead(items: Generator[_Made, None, None]) -> Iterator[Iterator[_Made]]:
    """`items`, each made by a thread while the caller works on the one before.

    The thread stays one item ahead (it waits while a made item is not taken); an error
    it meets is raised to the caller at that item. Leaving the block early stops the
    thread after the item it is making and waits for it, so nothing uses the data plane
    or the folder once the block is left.
    """
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(kind: str, value: Any) -> None:
        while not stop.is_set():
            try:
                ready.put((kind, value), timeout=0.05)
                return
            except queue.Full:
                continue

    def make() -> None:
        try:
            with closing(items):
                for item in items:
                    if stop.is_set():
                        return
                    offer("item", item)
        except BaseException as err:  # raised again in the caller's thread
            offer("error", err)
            return
        offer("end", None)

    def taken() -> Iterator[_Made]:
        while True:
            kind, value = ready.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield value

    maker = threading.Thread(target=make, name="osiris-bulk-export", daemon=True)
    maker.start()
    try:
        yield taken()
    finally:
        stop.set()
        maker.join()


def bulk_folder() -> Path:
    """This process's folder for bulk-load files, in the system's temporary folder:
    `osiris_bulk_<pid>_<hex>`. A locked data plane may write there (runtime/adapters/
    local.py); the folder goes when the process exits, and a killed process's folder is
    removed by the next writer (`remove_orphaned_bulk_dirs`)."""
    pid = os.getpid()
    if pid not in _BULK_TOKENS:  # a forked process gets a folder of its own
        _BULK_TOKENS[pid] = uuid.uuid4().hex[:12]
        atexit.register(_remove_bulk_folder, pid)
    return Path(tempfile.gettempdir()).resolve() / f"{BULK_PREFIX}{pid}_{_BULK_TOKENS[pid]}"


_BULK_TOKENS: dict[int, str] = {}


def _remove_bulk_folder(pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(bulk_folder(), ignore_errors=True)


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
) -> Generator[Path, None, None]:
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
