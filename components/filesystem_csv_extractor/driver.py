"""filesystem.csv_extractor: one CSV file into the step's data-plane table, read by DuckDB.

DuckDB's reader streams the file straight into the table (no Python rows) and its sniffer
types the columns; `dtype` pins a type where the sniffer should not guess. A column the
sniffer calls DOUBLE whose every value has the same number of decimals (money: `79.19`)
is read as DECIMAL(18, that scale) instead, so sums stay exact and values print as written.
The dialect is always set explicitly — delimiter, `"` as quote and escape, comment, skip —
so a value that merely looks like a comment or a header never changes how the file is read.

NULL and empty string stay apart, as the csv_writer writes them (PostgreSQL's CSV
convention): an empty unquoted field is NULL, a quoted empty field `""` is the empty
string. `na_values` adds more NULL markers (unquoted only).

Its path is resolved by the rule every file component shares
(`components.file_input.resolve_data_path`).
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from components.common.quoting import quote_identifier, quote_literal
from components.file_input import (
    ReadsOneFile,
    columns_of,
    selected_columns,
    source_path,
    table_read,
    type_misfit,
)
from components.protocol import (
    DriverError,
    ReadRelation,
    StepContext,
    StepResult,
    no_python_tables,
)

#: pandas dtype names the spec accepts, as DuckDB types
PANDAS_TYPES = {
    "int64": "BIGINT",
    "int32": "INTEGER",
    "float64": "DOUBLE",
    "float32": "FLOAT",
    "string": "VARCHAR",
    "str": "VARCHAR",
    "object": "VARCHAR",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "datetime64": "TIMESTAMP",
    "datetime64[ns]": "TIMESTAMP",
}
#: the spec's encodings, as DuckDB names them (ASCII is a subset of UTF-8)
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "ascii": "utf-8",
    "utf-16": "utf-16",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
}
COMPRESSIONS = {"infer": "auto", "none": "none", "gzip": "gzip", "zstd": "zstd"}
#: Compressions DuckDB's reader lacks: Python's own modules unpack them to a temporary file
#: first (streamed, so memory stays bounded), by name or by file suffix under `infer`.
UNPACKED = {"bz2": ".bz2", "xz": ".xz", "zip": ".zip"}
#: Column types the sniffer may choose when dates are not to be detected: 0.5.7 (pandas)
#: reads a date as text unless `parse_dates` lists its column.
NO_DATE_CANDIDATES = ("BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR")
DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS")


class CSVExtractorDriver(ReadsOneFile):
    """Reads `config["path"]` into `ctx.output_table`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        if ctx.cancelled():
            raise DriverError("cancelled before reading", category="cancelled")
        path = source_path(ctx, config)
        select = selected_columns(config)
        limit = _non_negative_int(config, "limit")
        no_python_tables(ctx.data_plane)
        with _unpacked(ctx, path, config) as (readable, config):
            read = _relation(ctx, config, path, readable, select, limit)
            return read.load(ctx.data_plane, ctx.output_table)

    def takes_fused(self, config: Mapping[str, Any]) -> bool:
        """Its rows can be read as a view of a fused chain (runtime/fusion.py), unless the
        file is first unpacked into a temporary file (bz2, xz, zip)."""
        return _packed_as(config, Path(str(config.get("path") or ""))) is None

    def relation(self, ctx: StepContext, config: Mapping[str, Any]) -> ReadRelation:
        """The SELECT `run` makes the step's table of, typed as `run` types it (the sniffed
        dates and exact decimals): see components/protocol.py `ReadRelation`."""
        if ctx.cancelled():
            raise DriverError("cancelled before reading", category="cancelled")
        path = source_path(ctx, config)
        if _packed_as(config, path) is not None:
            raise DriverError(f"{path.name} is unpacked before it is read", category="internal")
        select = selected_columns(config)
        limit = _non_negative_int(config, "limit")
        return _relation(ctx, config, path, path, select, limit)


def _relation(
    ctx: StepContext,
    config: Mapping[str, Any],
    path: Path,
    readable: Path,
    select: str,
    limit: int | None,
) -> ReadRelation:
    """`SELECT <select> FROM read_csv(readable, ...) [LIMIT n]`, with the column types the
    file's values call for; `load` makes the table of it. `path` is the file as named (a
    packed one is `readable` once unpacked)."""
    import duckdb

    cur = ctx.data_plane
    no_python_tables(cur)
    parse_dates = config.get("parse_dates")
    try:
        pinned = _date_types(cur, readable, config)
        source = _read_csv_call(readable, config, pinned)
        decimals = _exact_decimals(cur, readable, config, select, limit)
        if decimals or pinned:
            source = _read_csv_call(readable, config, {**decimals, **pinned})
    except duckdb.Error as err:
        untyped = _read_csv_call(readable, {**config, "dtype": None})
        raise _csv_failure(err, cur, untyped, parse_dates) from None
    sql = f"SELECT {select} FROM {source}" + (f" LIMIT {limit}" if limit is not None else "")

    def load(plane: Any, table: str) -> StepResult:
        try:
            plane.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}")
        except duckdb.Error as err:
            untyped = _read_csv_call(readable, {**config, "dtype": None})
            raise _csv_failure(err, plane, untyped, parse_dates) from None
        return table_read(plane, table, path)

    return ReadRelation(sql, load, {"path": str(path)})


DRIVER = CSVExtractorDriver


@contextlib.contextmanager
def _unpacked(
    ctx: StepContext, path: Path, config: Mapping[str, Any]
) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """The file DuckDB reads, and the config to read it with: `path` itself, or for bz2, xz
    and zip (which DuckDB cannot read) the file unpacked into a temporary folder, removed
    after the read. A zip archive must hold exactly one file, as in 0.5.7."""
    name = _packed_as(config, path)
    if name is None:
        yield path, config
        return
    with tempfile.TemporaryDirectory(prefix="unpacked-", dir=_scratch(ctx)) as folder:
        target = Path(folder) / path.with_suffix("").name
        try:
            with _open_packed(path, name) as packed, target.open("wb") as out:
                shutil.copyfileobj(packed, out, 1 << 20)
        except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as err:
            raise DriverError(
                f"cannot unpack {path.name} as {name}: {err}",
                category="data",
                hint="check `compression` against the file (infer decides from the suffix)",
            ) from None
        yield target, {**config, "compression": "none"}


def _packed_as(config: Mapping[str, Any], path: Path) -> str | None:
    """The compression DuckDB cannot read that the file is unpacked from (bz2, xz, zip)."""
    name = str(config.get("compression", "infer"))
    if name == "infer":
        name = next((k for k, suffix in UNPACKED.items() if path.suffix.lower() == suffix), name)
    return name if name in UNPACKED else None


def _scratch(ctx: StepContext) -> Path:
    """Where an unpacked file goes: the data plane's spill folder, the one folder a locked
    data plane may read besides the plan's declared inputs (see lock_data_plane in
    runtime/adapters/local.py); the step's artifacts folder for an unlocked data plane."""
    row = ctx.data_plane.execute("SELECT current_setting('temp_directory')").fetchone()
    spill = Path(str(row[0])) if row and row[0] else None
    folder = spill if spill is not None and spill.is_absolute() else ctx.artifacts_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _open_packed(path: Path, name: str) -> Iterator[IO[bytes]]:
    if name in ("bz2", "xz"):
        with bz2.open(path, "rb") if name == "bz2" else lzma.open(path, "rb") as stream:
            yield stream
        return
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise DriverError(
                f"the zip archive {path.name} holds {len(members)} files; it must hold one",
                category="data",
                hint="put one CSV file in the archive, or unpack it and read the file itself",
            )
        with archive.open(members[0]) as stream:
            yield stream


def _date_types(cur: Any, path: Path, config: Mapping[str, Any]) -> dict[str, str]:
    """Types for the columns `parse_dates` lists: the sniffed date or timestamp type, else
    TIMESTAMP (a value that is not one then fails the read with a clear error)."""
    listed = config.get("parse_dates")
    if not isinstance(listed, list) or not listed:
        return {}
    pinned = {str(name) for name in (config.get("dtype") or {})}
    detecting = {**config, "parse_dates": True}
    described = cur.execute(f"DESCRIBE SELECT * FROM {_read_csv_call(path, detecting)}")
    sniffed = {str(row[0]): str(row[1]) for row in described.fetchall()}
    unknown = [name for name in listed if name not in sniffed]
    if unknown:
        raise DriverError(
            f"parse_dates lists {', '.join(map(repr, unknown))}, not a column of the file",
            category="config",
            hint="columns in the file: " + ", ".join(sniffed),
        )
    return {
        name: sniffed[name] if sniffed[name] in DATE_TYPES else "TIMESTAMP"
        for name in listed
        if name not in pinned
    }


def _exact_decimals(
    cur: Any, path: Path, config: Mapping[str, Any], select: str, limit: int | None
) -> dict[str, str]:
    """DECIMAL types for the sniffed DOUBLE columns whose every value has the same scale.

    `79.19`, `0.10`, `-5.00` read as DECIMAL(18,2): the values stay exact through sums and
    print as they were written. One extra scan of the file, only when a DOUBLE was sniffed.
    """
    pinned = {str(name) for name in (config.get("dtype") or {})}
    sniffed = cur.execute(f"DESCRIBE SELECT {select} FROM {_read_csv_call(path, config)}")
    doubles = [str(row[0]) for row in sniffed.fetchall() if row[1] == "DOUBLE"]
    doubles = [name for name in doubles if name not in pinned]
    if not doubles:
        return {}
    measures = []
    for name in doubles:
        value = quote_identifier(name)
        scale = f"length({value}) - strpos({value}, '.')"
        measures += [
            f"min({scale})",
            f"max({scale})",
            f"bool_and(regexp_full_match({value}, '-?[0-9]+\\.[0-9]+'))",
            f"max(length({value}))",
        ]
    text = _read_csv_call(path, {**config, "dtype": None}, all_varchar=True)
    rows = f"(SELECT * FROM {text}" + (f" LIMIT {limit})" if limit is not None else ")")
    found = cur.execute(f"SELECT {', '.join(measures)} FROM {rows}").fetchone()
    types = {}
    for index, name in enumerate(doubles):
        low, high, plain, longest = found[4 * index : 4 * index + 4]
        if plain and low == high and 1 <= low <= 12 and longest is not None:
            digits = longest - 1  # the point; a minus sign only makes this conservative
            if digits <= 38:
                types[name] = f"DECIMAL({18 if digits <= 18 else 38},{low})"
    return types


def _read_csv_call(
    path: Path,
    config: Mapping[str, Any],
    decimals: Mapping[str, str] | None = None,
    *,
    all_varchar: bool = False,
) -> str:
    """`read_csv(...)` with every dialect option explicit: the sniffer only types columns."""
    delimiter = config.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DriverError("`delimiter` must be one character", category="config")
    header = config.get("header", True)
    skip = _non_negative_int(config, "skip_rows") or 0
    if isinstance(header, bool):
        has_header = header
    elif isinstance(header, int) and header >= 0:
        has_header, skip = True, skip + header  # row N holds the names: skip the rows above
    else:
        raise DriverError("`header` must be true, false or a row number", category="config")
    encoding = ENCODINGS.get(str(config.get("encoding", "utf-8")).lower().replace("_", "-"))
    if encoding is None:
        raise DriverError(
            f"unsupported encoding {config.get('encoding')!r}",
            category="config",
            hint="one of: " + ", ".join(sorted(set(ENCODINGS))),
        )
    compression = COMPRESSIONS.get(str(config.get("compression", "infer")))
    if compression is None and str(config.get("compression")) in UNPACKED:
        compression = "none"  # unpacked already (see _unpacked)
    if compression is None:
        raise DriverError(
            f"unsupported compression {config.get('compression')!r}",
            category="config",
            hint="one of: " + ", ".join(COMPRESSIONS),
        )
    comment = config.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 1:
        raise DriverError("`comment` must be one character", category="config")
    if config.get("skip_blank_lines", True) is not True:
        raise DriverError(
            "skip_blank_lines: false is not supported: blank lines are always skipped",
            category="config",
            hint="leave skip_blank_lines out (a one-column file reads an empty line as NULL)",
        )
    na_values = config.get("na_values") or []
    if not isinstance(na_values, list) or not all(isinstance(v, str) for v in na_values):
        raise DriverError("`na_values` must be a list of strings", category="config")
    nulls = ["", *[v for v in na_values if v != ""]]
    options = [
        quote_literal(str(path)),
        f"delim={quote_literal(delimiter)}",
        "quote='\"'",
        "escape='\"'",
        f"header={'true' if has_header else 'false'}",
        f"skip={skip}",
        f"comment={quote_literal(comment)}",
        f"encoding={quote_literal(encoding)}",
        f"compression={quote_literal(compression)}",
        "nullstr=[" + ", ".join(quote_literal(v) for v in nulls) + "]",
        "allow_quoted_nulls=false",  # "" is the empty string, never NULL
    ]
    dtype = config.get("dtype") or {}
    if not isinstance(dtype, Mapping):
        raise DriverError("`dtype` must map column names to types", category="config")
    types = {str(k): PANDAS_TYPES.get(str(v).lower(), str(v)) for k, v in dtype.items()}
    types |= decimals or {}
    parse_dates = config.get("parse_dates")
    if parse_dates is False or isinstance(parse_dates, list):
        candidates = ", ".join(quote_literal(c) for c in NO_DATE_CANDIDATES)
        options.append(f"auto_type_candidates=[{candidates}]")
    if all_varchar:
        options.append("all_varchar=true")
    elif types:
        pairs = [f"{quote_literal(k)}: {quote_literal(v)}" for k, v in types.items()]
        options.append("types={" + ", ".join(pairs) + "}")
    return "read_csv(" + ", ".join(options) + ")"


def _non_negative_int(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DriverError(f"`{key}` must be a whole number ≥ 0", category="config")
    return value


def _csv_failure(
    err: Exception, cur: Any, untyped_source: str, parse_dates: Any = None
) -> DriverError:
    """A DuckDB error as a DriverError: its first paragraph, and a hint where one helps."""
    import duckdb

    text = str(err).strip().split("\n\n")[0].strip()
    dates_hint = (
        "a column listed in parse_dates holds a value that is not a date or "
        "timestamp; remove the column from parse_dates or pin its type with dtype"
    )
    if isinstance(parse_dates, list) and (misfit := type_misfit(err, text, dates_hint)):
        return misfit
    if isinstance(err, duckdb.BinderException | duckdb.CatalogException):
        available = columns_of(cur, untyped_source)
        hint = "columns in the file: " + ", ".join(available) if available else None
        return DriverError(f"cannot read the CSV file: {text}", category="config", hint=hint)
    if misfit := type_misfit(err, text):
        return misfit
    if isinstance(err, duckdb.IOException):
        return DriverError(f"cannot read the CSV file: {text}", category="io")
    return DriverError(
        f"cannot read the CSV file: {text}",
        category="data",
        hint="check delimiter, header, encoding and skip_rows against the file",
    )
