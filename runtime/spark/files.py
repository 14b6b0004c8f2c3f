"""CSV, Parquet and JSON files on Spark: read by Spark's own readers, written as ONE file.

Reading a CSV, DuckDB's sniffer types the columns exactly as a local run does (the CSV
extractor's own rules: exact decimals, dates only where asked, `dtype` pins), on a private
DuckDB, and Spark reads the file with that schema, in parallel. A quoted empty field stays
the empty string and an unquoted one is NULL, as locally.

A file writer writes what the DuckDB writer writes: the DataFrame coalesced to one
partition is written into a hidden staging folder beside the target (inside the base
directory, so on the same file system), and its one part file is renamed over the target
(`os.replace`): a reader sees the old file or the new one, a failure leaves the old one.
Timestamps, decimals print as DuckDB prints them (ISO 8601 with a `T`, the fraction
without trailing zeros; `79.19`).

Options Spark cannot honour the DuckDB way (another encoding, CRLF, `nonnumeric` quoting,
append, bz2/xz/zip/zstd, `skip_rows`, `na_values`; every JSON file) take the exact path:
the component's own DuckDB driver on the Spark driver's machine (`through_duckdb`) — the
same bytes as a local run, at the cost of the rows passing through one machine.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.file_input import source_path
from components.file_output import publish, remove_orphans, target_path
from components.protocol import DriverError, StepContext, StepResult
from runtime.spark import through_duckdb
from runtime.spark.types import spark_type

#: What a quoted empty CSV field reads as before it becomes '' again (Spark reads a quoted
#: and an unquoted empty field alike unless told apart): a private-use character.
_QUOTED_EMPTY = "\ue000"


# ---- reading -------------------------------------------------------------------------------


def _csv_native(config: Mapping[str, Any], path: Path) -> bool:
    """Whether Spark's CSV reader reads this file as DuckDB's does."""
    encoding = str(config.get("encoding", "utf-8")).lower().replace("_", "-")
    compression = str(config.get("compression", "infer"))
    suffix = path.suffix.lower()
    return (
        encoding in ("utf-8", "utf8", "ascii")
        and isinstance(config.get("header", True), bool)
        and not config.get("skip_rows")
        and not config.get("na_values")
        and (
            compression in ("none", "gzip")
            or (compression == "infer" and suffix in ("", ".csv", ".gz", ".txt", ".tsv"))
        )
    )


_DATED = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS")
_ISO = r"-?\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?"


def _iso_only(cur: Any, text_source: str, columns: list[str]) -> bool:
    """Whether every value of these columns is an ISO date or timestamp (one scan)."""
    from components.common.quoting import quote_identifier, quote_literal

    checks = ", ".join(
        f"coalesce(bool_and(regexp_full_match({quote_identifier(c)}, {quote_literal(_ISO)})), true)"
        for c in columns
    )
    return all(cur.execute(f"SELECT {checks} FROM {text_source}").fetchone())


def duckdb_csv_schema(path: Path, config: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """The file's (column, DuckDB type) as the CSV extractor would type it; None when its
    dates are not all ISO 8601 (Spark's parser would read them otherwise)."""
    import duckdb

    from components.filesystem_csv_extractor.driver import (
        _date_types,
        _exact_decimals,
        _read_csv_call,
    )

    limit = config.get("limit")
    with duckdb.connect(":memory:") as cur:
        cur.execute("SET python_enable_replacements = false")
        try:
            pinned = _date_types(cur, path, config)
            decimals = _exact_decimals(cur, path, config, "*", limit)
            source = _read_csv_call(path, config, {**decimals, **pinned})
            described = cur.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            dated = [str(row[0]) for row in described if str(row[1]) in _DATED]
            if dated and not _iso_only(cur, _read_csv_call(path, config, all_varchar=True), dated):
                return None  # dates Spark's parser would read otherwise: the exact path
        except duckdb.Error as err:
            text = str(err).strip().split("\n\n")[0]
            raise DriverError(f"cannot read the CSV file: {text}", category="data") from None
    return [(str(row[0]), str(row[1])) for row in described]


def _csv_options(config: Mapping[str, Any], empty: str) -> dict[str, str]:
    """What Spark's CSV reader and writer are both told: the step's header and delimiter,
    `"` quoting with `""` inside, UTF-8, the empty field NULL and `empty` the empty string."""
    return {
        "header": "true" if config.get("header", True) else "false",
        "sep": str(config.get("delimiter", ",")),
        "quote": '"',
        "escape": '"',
        "nullValue": "",
        "emptyValue": empty,
        "encoding": "UTF-8",
        # DuckDB's spellings of a DOUBLE's NaN and infinities (Java's own, `NaN` and
        # `Infinity`, Spark reads anyway)
        "nanValue": "nan",
        "positiveInf": "inf",
        "negativeInf": "-inf",
    }


def read_csv(ctx: StepContext, config: Mapping[str, Any]) -> Any:
    """The CSV file of the step as a DataFrame typed as a local run types it."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    path = source_path(ctx, config)
    if not _csv_native(config, path):
        return through_duckdb.read(ctx, config, "filesystem.csv_extractor")
    described = duckdb_csv_schema(path, config)
    if described is None:
        return through_duckdb.read(ctx, config, "filesystem.csv_extractor")
    schema = T.StructType([T.StructField(name, spark_type(kind)) for name, kind in described])
    options = {
        **_csv_options(config, empty=_QUOTED_EMPTY),
        "multiLine": "true",
        "mode": "FAILFAST",
        "enforceSchema": "true",
    }
    if config.get("comment"):
        options["comment"] = str(config["comment"])
    frame = ctx.data_plane.spark.read.schema(schema).options(**options).csv(str(path))
    frame = frame.select(
        *(
            F.when(F.col(f"`{name}`") == _QUOTED_EMPTY, F.lit(""))
            .otherwise(F.col(f"`{name}`"))
            .alias(name)
            if kind == "VARCHAR"
            else F.col(f"`{name}`")
            for name, kind in described
        )
    )
    return _shape(frame, config)


def read_parquet(ctx: StepContext, config: Mapping[str, Any]) -> Any:
    path = source_path(ctx, config)
    frame = ctx.data_plane.spark.read.parquet(str(path))
    return _shape(frame, config, dtype=True)


def _shape(frame: Any, config: Mapping[str, Any], dtype: bool = False) -> Any:
    """`columns` (in their order), `dtype` casts, `limit`, as the local extractors apply them."""
    from pyspark.sql import functions as F

    columns = config.get("columns")
    if columns:
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise DriverError(
                f"column {', '.join(map(repr, missing))} is not in the file",
                category="config",
                hint="columns in the file: " + ", ".join(frame.columns),
            )
        frame = frame.select(*(F.col(f"`{name}`") for name in columns))
    if dtype and config.get("dtype"):
        from components.filesystem_csv_extractor.driver import PANDAS_TYPES

        pins = {
            str(k): PANDAS_TYPES.get(str(v).lower(), str(v)) for k, v in config["dtype"].items()
        }
        frame = frame.select(
            *(
                F.col(f"`{name}`").cast(spark_type(pins[name])).alias(name)
                if name in pins
                else F.col(f"`{name}`")
                for name in frame.columns
            )
        )
    if config.get("limit") is not None:
        frame = frame.limit(int(config["limit"]))
    return frame


# ---- writing -------------------------------------------------------------------------------


def _csv_write_native(config: Mapping[str, Any], path: Path, frame: Any) -> bool:
    kinds = {type(field.dataType).__name__ for field in frame.schema.fields}
    plain = kinds <= {
        "BooleanType", "ByteType", "ShortType", "IntegerType", "LongType", "FloatType",
        "DoubleType", "DecimalType", "StringType", "DateType", "TimestampType",
        "TimestampNTZType",
    }  # fmt: skip
    return (
        plain
        and str(config.get("write_mode", "replace")) == "replace"
        and str(config.get("encoding", "utf-8")).lower() in ("utf-8", "utf8")
        and str(config.get("newline", "lf")) == "lf"
        and str(config.get("quoting", "minimal")) in ("minimal", "all")
        and path.suffix.lower() not in (".zst",)
    )


def floats_as_duckdb_prints(frame: Any, name: str, real: bool = False) -> Any:
    """`frame` with its DOUBLE or REAL column `name` as the text DuckDB prints: Python's
    repr — the shortest digits that read back as the same number, positional from 1e-4 up
    to 1e16, else `1e-05`, `1.5e+16`; `nan`, `inf`, `-inf`.

    Spark prints Java's form (positional from 1e-3 up to 1e7, else `1.0E-5`, `1.5E16`;
    `NaN`, `Infinity`), and Java 17 sometimes prints a digit or two more than the shortest
    (`5.6843418860808015E-14` for 2^-44, `9.9999999E14` for the REAL 1e15): then the
    shorter forms (15 and 16 digits; a `real`'s 6 to 8) are tried and the first that reads
    back as the number is taken. The digits and the exponent are read
    from that text and written DuckDB's way, in steps of one column each (Spark computes
    each once).
    """
    from pyspark.sql import functions as F

    value = F.col(f"`{name}`")
    java = F.col("_osiris_java")

    kind, most = ("float", 9) if real else ("double", 17)  # digits that always read back

    def exact(precision: int) -> Any:  # `precision` significant digits, when they suffice
        text = F.format_string(f"%.{precision - 1}e", value)
        return F.when(text.cast(kind) == value, text)

    shorter = [exact(p) for p in range(most - 3 if real else most - 2, most)]
    frame = frame.withColumn("_osiris_java", value.cast("string"))
    frame = frame.withColumn(
        "_osiris_text",
        F.when(
            F.length(F.regexp_replace(java, r"E.*$|[-.]|^-?0\.0*|0+(?=E|$)", "")) >= most - 1,
            F.coalesce(*shorter, F.format_string(f"%.{most - 1}e", value)),
        ).otherwise(java),
    )
    text = F.col("_osiris_text")
    frame = frame.withColumn(
        "_osiris_parts",
        F.struct(
            F.regexp_extract(text, r"^(-?)", 1).alias("sign"),
            F.regexp_extract(text, r"^-?(\d)", 1).alias("lead"),
            F.regexp_replace(F.regexp_extract(text, r"\.(\d+)[eE]", 1), "0+$", "").alias(
                "fraction"
            ),
            # none for a positional text: it is printed as it is
            F.regexp_extract(text, r"[eE]([-+]?\d+)$", 1).try_cast("int").alias("exponent"),
        ),
    )
    sign, lead, fraction, exponent = (
        F.col(f"_osiris_parts.{part}") for part in ("sign", "lead", "fraction", "exponent")
    )
    digits = F.concat(lead, fraction)
    whole = exponent + 1  # how many of the digits stand before the point
    positional = (
        F.when(
            exponent < 0,
            F.concat(sign, F.lit("0."), F.repeat(F.lit("0"), -exponent - 1), digits),
        )
        .when(
            F.length(digits) <= whole,
            F.concat(sign, digits, F.repeat(F.lit("0"), whole - F.length(digits)), F.lit(".0")),
        )
        .otherwise(
            F.concat(
                sign,
                digits.substr(F.lit(1), whole),
                F.lit("."),
                digits.substr(whole + 1, F.lit(400)),
            )
        )
    )
    scientific = F.concat(
        sign,
        lead,
        F.when(fraction == "", F.lit("")).otherwise(F.concat(F.lit("."), fraction)),
        F.lit("e"),
        F.when(exponent < 0, F.lit("-")).otherwise(F.lit("+")),
        F.when(F.abs(exponent) < 10, F.lit("0")).otherwise(F.lit("")),  # two digits at least
        F.abs(exponent).cast("string"),
    )
    printed = (
        F.when(java == "NaN", F.lit("nan"))
        .when(java == "Infinity", F.lit("inf"))
        .when(java == "-Infinity", F.lit("-inf"))
        .when(~text.rlike("[eE]"), text)
        .when((exponent >= -4) & (exponent < 16), positional)
        .otherwise(scientific)
    )
    return frame.withColumn(name, printed).drop("_osiris_java", "_osiris_text", "_osiris_parts")


def as_duckdb_prints(frame: Any) -> Any:
    """Each timestamp, decimal and floating-point number as the text DuckDB's writers
    print for it."""
    from pyspark.sql import functions as F

    def iso(column: Any) -> Any:
        text = F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
        return F.regexp_replace(text, r"\.?0+$", "")

    for field in frame.schema.fields:
        kind = type(field.dataType).__name__
        if kind in ("DoubleType", "FloatType"):
            frame = floats_as_duckdb_prints(frame, field.name, real=kind == "FloatType")
    parts = []
    for field in frame.schema.fields:
        column = F.col(f"`{field.name}`")
        kind = type(field.dataType).__name__
        if kind == "TimestampNTZType":
            column = iso(column)
        elif kind == "TimestampType":  # the session runs in UTC
            column = F.concat(iso(column), F.lit("+00:00"))
        elif kind == "DecimalType":
            column = column.cast("string")
        parts.append(column.alias(field.name))
    return frame.select(*parts)


def write_csv(ctx: StepContext, config: Mapping[str, Any], frame: Any, rows: int) -> StepResult:
    path = target_path(ctx, config)
    if not _csv_write_native(config, path, frame):
        return through_duckdb.write(ctx, config, "filesystem.csv_writer", frame)
    quoting = str(config.get("quoting", "minimal"))
    options = {
        **_csv_options(config, empty='""'),
        "quoteAll": "true" if quoting == "all" else "false",
        "ignoreLeadingWhiteSpace": "false",
        "ignoreTrailingWhiteSpace": "false",
        "lineSep": "\n",
        "compression": "gzip" if path.suffix.lower() == ".gz" else "none",
    }
    printed = as_duckdb_prints(frame).coalesce(1)
    _write_one_file(ctx, path, printed.write.format("csv").options(**options))
    return _written(path, rows, str(config.get("write_mode", "replace")))


_PARQUET = {"zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "uncompressed": "none"}


def write_parquet(ctx: StepContext, config: Mapping[str, Any], frame: Any, rows: int) -> StepResult:
    path = target_path(ctx, config)
    compression = _PARQUET.get(str(config.get("compression", "zstd")), "zstd")
    writer = frame.coalesce(1).write.format("parquet").option("compression", compression)
    _write_one_file(ctx, path, writer)
    return _written(path, rows, "replace")


def _write_one_file(ctx: StepContext, path: Path, writer: Any) -> None:
    """Spark writes one part file (the frame is coalesced) into a hidden folder beside
    `path`, renamed over it; the folder goes whatever happens."""
    remove_orphans(path)
    staging = path.parent / f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.spark"
    try:
        writer.mode("overwrite").save(str(staging))
        parts = [p for p in staging.iterdir() if p.name.startswith("part-")]
        if len(parts) != 1:
            raise DriverError(
                f"Spark wrote {len(parts)} part files for {path.name}, not one",
                category="internal",
            )
        publish(ctx, parts[0], path)
    except OSError as err:
        raise DriverError(f"cannot write {path}: {err.strerror or err}", category="io") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _written(path: Path, rows: int, mode: str) -> StepResult:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return StepResult(
        rows_read=rows,
        rows_written=rows,
        details={"path": str(path), "write_mode": mode, "bytes": size},
    )
