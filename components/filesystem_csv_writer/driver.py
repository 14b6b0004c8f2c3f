"""filesystem.csv_writer: the step's one input table into a CSV file, atomically.

DuckDB's `COPY` streams the table into a temporary file beside the target, which is then
renamed over it (`os.replace`): readers see the old file or the new one, never half of
one, and a failure leaves the old file as it was and no temporary file behind.

What the file holds (lossless through filesystem.csv_extractor):
- the input's columns, in the input's order; values as DuckDB prints them, so
  DECIMAL(10,2) stays `79.19` and a double prints in its shortest exact form;
- NULL is an empty unquoted field, the empty string is a quoted empty field `""`
  (PostgreSQL's CSV convention); a value holding the delimiter, a quote or a line break
  is quoted, with `"` doubled;
- timestamps in ISO 8601: `2024-01-02T03:04:05.5`; with a time zone, as UTC with an
  explicit offset, `2024-01-02T01:04:05+00:00`; dates `2024-01-02`.

A path ending in `.gz` or `.zst` is written compressed.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from components.common.quoting import quote_identifier, quote_literal
from components.file_input import resolve_data_path
from components.file_output import (
    ensure_parent,
    export_select,
    file_size,
    move_beside,
    publish,
    staged_paths,
    writing,
)
from components.protocol import (
    DriverError,
    RowStream,
    StepContext,
    StepResult,
    missing_input,
    no_python_tables,
)

NEWLINES = {"lf": "\n", "crlf": "\r\n"}
QUOTING = ("minimal", "all", "nonnumeric")
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-16": "utf-16", "ascii": "ascii"}
ENCODINGS |= {"latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1"}
WRITE_MODES = ("replace", "append")
#: a target named *.csv.gz or *.csv.zst is written compressed, as the extractor infers it
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}

_NUMERIC = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
)  # fmt: skip
_CHUNK = 1 << 20


class CSVWriterDriver:
    """Writes the one input table, or the rows streamed from a read step, to `config["path"]`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        import duckdb

        tables = set(inputs.values())  # one upstream table, possibly under several names
        if len(tables) != 1:
            raise DriverError(
                f"the CSV writer takes exactly one input, got {len(tables)}",
                category="config",
                hint="connect one upstream step with inputs or needs",
            )
        table = tables.pop()

        def copy(copied: Path, options: _Options, compression: str) -> int:
            cur = ctx.data_plane
            no_python_tables(cur)
            try:
                columns = cur.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
            except duckdb.Error as err:
                raise missing_input(err) from None
            select = export_select(table, columns, _ISO_NAIVE, _ISO_UTC)
            copy = f"COPY ({select}) TO {quote_literal(str(copied))} "
            copy += _copy_options(options, columns, compression)
            return int(cur.execute(copy).fetchone()[0])

        return _write(ctx, config, copy)

    def takes_fused(self, config: Mapping[str, Any]) -> bool:
        """`run` may be handed a view of a fused chain as its input (runtime/fusion.py): it
        reads the input once, by its one COPY, so the chain runs as that one statement."""
        return True

    def takes_stream(self, config: Mapping[str, Any]) -> bool:
        """Rows can stream in unless the file is compressed (one compressed stream is
        written by one COPY)."""
        return Path(str(config.get("path") or "")).suffix.lower() not in COMPRESSIONS

    def write_stream(
        self, ctx: StepContext, config: Mapping[str, Any], stream: RowStream
    ) -> StepResult:
        """Write the rows a read step streams (see `components.protocol.RowStream`)."""

        def copy(copied: Path, options: _Options, compression: str) -> int:
            return _copy_stream(ctx.data_plane, stream, copied, options)

        return _write(ctx, config, copy)


def _write(
    ctx: StepContext, config: Mapping[str, Any], copy: Callable[[Path, _Options, str], int]
) -> StepResult:
    """Check the config, `copy` the rows into a temporary file, and publish it at the
    target: replaced, or appended onto the old file's rows; in the file's encoding."""
    options = _Options.of(config)
    path = resolve_data_path(ctx, config.get("path"), config.get("base_dir"), writing=True)
    if path.is_dir():
        raise DriverError(f"{config['path']!r} is a directory", category="config")
    compression = COMPRESSIONS.get(path.suffix.lower(), "none")
    if compression != "none" and (options.encoding != "utf-8" or options.write_mode == "append"):
        raise DriverError(
            f"{path.name} is written {compression}-compressed: utf-8 and replace only",
            category="config",
            hint="drop the .gz/.zst suffix to append or to write another encoding",
        )
    ensure_parent(path, options.create_dirs)
    if ctx.cancelled():
        raise DriverError("cancelled before writing", category="cancelled")
    staged, copied = staged_paths(ctx.data_plane, path)
    temporaries = [copied, staged]
    with writing(path, temporaries):
        rows = copy(copied, options, compression)
        if copied != staged:
            move_beside(copied, staged)
        final = staged
        with _writers_of(path):  # read the old file and rename over it as one step
            appending = options.write_mode == "append"
            appending = appending and path.is_file() and file_size(path) > 0
            if appending or options.encoding != "utf-8":
                final = staged.with_suffix(".out.tmp")
                temporaries.append(final)
                with final.open("wb") as out:
                    try:
                        if appending:
                            _append_onto(out, path, staged, options)
                        else:
                            _transcode(staged, out, options.encoding, skip_header=False)
                    except UnicodeEncodeError as err:
                        raise DriverError(
                            f"a value cannot be written in {options.encoding}: {err.reason} "
                            f"({err.object[err.start : err.end]!r})",
                            category="data",
                            hint="write utf-8, or clean the value upstream",
                        ) from None
            publish(ctx, final, path)
    return StepResult(
        rows_read=rows,
        rows_written=rows,
        details={"path": str(path), "write_mode": options.write_mode, "bytes": file_size(path)},
    )


#: The view each streamed batch is written from, on the writer's own cursor.
_BATCH_VIEW = "_osiris_streamed_batch"


def _copy_stream(plane: Any, stream: RowStream, copied: Path, options: _Options) -> int:
    """The streamed rows into `copied`, as one `COPY` of the whole table would write them:
    each batch is copied into a part file (the header with the first) and appended."""
    part = copied.with_name(copied.name + ".part")
    out = copied.open("wb")
    rows = 0

    def restart() -> None:  # the reader starts again: so does the file
        nonlocal rows
        out.seek(0)
        out.truncate()
        rows = 0

    relations = stream.relations(plane, restart)
    try:
        for relation in relations:
            columns = stream.columns
            relation.create_view(_BATCH_VIEW, replace=True)
            header = options.header and out.tell() == 0
            rows += _copy_part(plane, columns, part, options, header)
            with part.open("rb") as data:
                shutil.copyfileobj(data, out, _CHUNK)
    finally:
        close = getattr(relations, "close", None)  # a write that failed: the reader stops now
        if close is not None:
            close()
        out.close()
        part.unlink(missing_ok=True)
        plane.execute(f"DROP VIEW IF EXISTS {_BATCH_VIEW}")
    return rows


def _copy_part(
    plane: Any, columns: list[tuple[str, str]], part: Path, options: _Options, header: bool
) -> int:
    select = export_select(_BATCH_VIEW, list(columns), _ISO_NAIVE, _ISO_UTC)
    copy = f"COPY ({select}) TO {quote_literal(str(part))} "
    copy += _copy_options(options, list(columns), "none", header=header)
    return int(plane.execute(copy).fetchone()[0])


DRIVER = CSVWriterDriver


@contextlib.contextmanager
def _writers_of(path: Path) -> Iterator[None]:
    """One writer at a time for the files of `path`'s folder (runs, processes, threads).

    Two appends that each read the old file and rename their own union over it would lose
    one run's rows; an advisory lock (flock) on the folder itself serializes them, and
    replace too, without leaving a lock file among the user's data. Where flock does not
    exist (Windows) writers are not serialized.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # closing the descriptor releases the lock


class _Options:
    """The config, checked, with the spec's defaults."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.delimiter = config.get("delimiter", ",")
        self.header = config.get("header", True)
        self.newline = NEWLINES.get(str(config.get("newline", "lf")))
        self.quoting = config.get("quoting", "minimal")
        self.encoding = ENCODINGS.get(str(config.get("encoding", "utf-8")).lower(), "")
        self.create_dirs = config.get("create_dirs", True)
        self.write_mode = config.get("write_mode", "replace")

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> _Options:
        options = cls(config)
        problems = []
        if not isinstance(options.delimiter, str) or len(options.delimiter) != 1:
            problems.append("`delimiter` must be one character")
        elif options.delimiter in ('"', "\n", "\r"):
            problems.append("`delimiter` cannot be a quote or a line break")
        if not isinstance(options.header, bool):
            problems.append("`header` must be true or false")
        if options.newline is None:
            problems.append("`newline` must be lf or crlf")
        if options.quoting not in QUOTING:
            problems.append("`quoting` must be one of " + ", ".join(QUOTING))
        if not options.encoding:
            problems.append("`encoding` must be one of " + ", ".join(ENCODINGS))
        if not isinstance(options.create_dirs, bool):
            problems.append("`create_dirs` must be true or false")
        if options.write_mode not in WRITE_MODES:
            problems.append("`write_mode` must be replace or append")
        if problems:
            raise DriverError("; ".join(problems), category="config")
        return options


#: a timestamp as ISO 8601 text: DuckDB prints `2024-01-02 03:04:05.5`, ISO wants a T
#: (first space only: a BC date prints `... (BC) ...`); with a time zone, in UTC. An AD
#: timestamp has one space, so a plain `replace` does it at 0.6 of `regexp_replace`'s cost
#: (measured: 5M timestamps through COPY, 0.85 s against 1.35 s of CPU); BC ones keep it.
_FIRST_SPACE_TO_T = (
    "CASE WHEN {ts} >= TIMESTAMP '0001-01-01' THEN replace(CAST({ts} AS VARCHAR), ' ', 'T') "
    "ELSE regexp_replace(CAST({ts} AS VARCHAR), ' ', 'T') END"
)
_ISO_NAIVE = _FIRST_SPACE_TO_T.replace("{ts}", "{name}")
_ISO_UTC = "(" + _FIRST_SPACE_TO_T.replace("{ts}", "timezone('UTC', {name})") + ") || '+00:00'"


def _type_of(column: tuple[Any, ...]) -> str:
    return str(column[1]).upper()


def _copy_options(
    options: _Options, columns: list[tuple[Any, ...]], compression: str, header: bool | None = None
) -> str:
    """COPY's options for the file; `header` overrides the config's (a streamed part)."""
    header = options.header if header is None else header
    parts = [
        "FORMAT csv",
        # set, not inferred: the temporary file's name does not end in .gz
        f"COMPRESSION {quote_literal(compression)}",
        f"HEADER {'true' if header else 'false'}",
        f"DELIMITER {quote_literal(options.delimiter)}",
        "QUOTE '\"'",
        "ESCAPE '\"'",
        "NULLSTR ''",
        f"NEW_LINE {quote_literal(str(options.newline))}",
    ]
    if options.quoting == "all":
        parts.append("FORCE_QUOTE *")
    elif options.quoting == "nonnumeric":
        text_columns = [
            quote_identifier(str(c[0]))
            for c in columns
            if _type_of(c).split("(")[0] not in _NUMERIC
        ]
        if text_columns:
            parts.append(f"FORCE_QUOTE ({', '.join(text_columns)})")
    return "(" + ", ".join(parts) + ")"


def _append_onto(out: IO[bytes], existing: Path, staged: Path, options: _Options) -> None:
    """The existing file, then the new rows (without their header, after checking it)."""
    encoding = options.encoding
    with existing.open("rb") as old:
        head = old.read(4)
        old.seek(0)
        shutil.copyfileobj(old, out, _CHUNK)
        old.seek(0)
        old_header = old.readline()
    if encoding == "utf-16":
        # Appended text continues the existing file's byte order, without a second BOM.
        encoding = "utf-16-be" if head.startswith(codecs.BOM_UTF16_BE) else "utf-16-le"
        old_header = old_header + b"\x00" if encoding == "utf-16-le" else old_header
    if not _ends_with_newline(existing, encoding):
        out.write(str(options.newline).encode(encoding))
    if options.header:
        with staged.open("r", encoding="utf-8", newline="") as new:
            new_header = new.readline()
        old_text = _decode_header(old_header, encoding)
        if old_text.rstrip("\r\n") != new_header.rstrip("\r\n"):
            raise DriverError(
                f"cannot append to {existing.name}: its header differs from the input's columns",
                category="data",
                hint="write to a new file, or use write_mode: replace",
            )
    _transcode(staged, out, encoding, skip_header=options.header)


def _decode_header(line: bytes, encoding: str) -> str:
    return line.decode(encoding, errors="replace").lstrip("\ufeff")


def _ends_with_newline(path: Path, encoding: str) -> bool:
    newline = "\n".encode(encoding)
    if file_size(path) < len(newline):
        return False
    with path.open("rb") as handle:
        handle.seek(-len(newline), os.SEEK_END)
        return handle.read() == newline


def _transcode(staged: Path, out: IO[bytes], encoding: str, *, skip_header: bool) -> None:
    """Copy DuckDB's UTF-8 output into `out` in `encoding`, in chunks."""
    if encoding == "utf-8":
        with staged.open("rb") as src:
            if skip_header:
                src.readline()
            shutil.copyfileobj(src, out, _CHUNK)
        return
    encoder = codecs.getincrementalencoder(encoding)("strict")
    with staged.open("r", encoding="utf-8", newline="") as src:
        if skip_header:
            src.readline()
        while chunk := src.read(_CHUNK):
            out.write(encoder.encode(chunk))
        out.write(encoder.encode("", final=True))
