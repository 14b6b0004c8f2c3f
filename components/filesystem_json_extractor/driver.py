"""filesystem.json_extractor: one JSON file (an array of objects, or NDJSON: one object a
line) into the step's data-plane table, read by DuckDB.

Each object is a row and its keys are the columns; DuckDB detects the types (ISO 8601
strings become timestamps and dates). JSON has no decimal type, so a number reads as
BIGINT or DOUBLE unless `dtype` pins it (`{price: 'DECIMAL(10,2)'}`: the number's text is
parsed exactly). `null` is NULL and `""` the empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.common.quoting import quote_literal
from components.file_input import ReadsOneFileAsRelation, read_failure, read_relation, source_path
from components.filesystem_parquet_extractor.driver import checked_type
from components.protocol import DriverError, ReadRelation, StepContext

#: the spec's formats, as DuckDB's read_json names them
FORMATS = {"auto": "auto", "array": "array", "ndjson": "newline_delimited"}
#: file endings that say NDJSON when `format` is left out (a compressed file's inner name)
NDJSON_ENDINGS = (".ndjson", ".jsonl")


class JSONExtractorDriver(ReadsOneFileAsRelation):
    """Reads `config["path"]` into `ctx.output_table`."""

    def relation(self, ctx: StepContext, config: Mapping[str, Any]) -> ReadRelation:
        """The SELECT `run` makes the step's table of (components/protocol.py)."""
        import duckdb

        path = source_path(ctx, config)
        form = json_format(config, path)
        call = f"read_json({quote_literal(str(path))}, format={quote_literal(form)}"
        plain = call + ")"

        def source(types: Mapping[str, str]) -> str:
            if not types:
                return plain
            # read_json takes all columns or none: the detected ones, with the pins applied
            try:
                detected = ctx.data_plane.execute(f"DESCRIBE SELECT * FROM {plain}").fetchall()
            except duckdb.Error as err:
                raise read_failure(err, ctx.data_plane, None, "JSON", path) from None
            names = [str(row[0]) for row in detected]
            unknown = sorted(set(types) - set(names))
            if unknown:
                raise DriverError(
                    f"dtype names columns the file does not have: {', '.join(unknown)}",
                    category="config",
                    hint="columns in the file: " + ", ".join(names),
                )
            pairs = [
                f"{quote_literal(str(name))}: "
                + quote_literal(checked_type(types[name]) if name in types else str(kind))
                for name, kind in ((row[0], row[1]) for row in detected)
            ]
            return call + ", columns={" + ", ".join(pairs) + "})"

        return read_relation(ctx, config, path, source, "JSON")


DRIVER = JSONExtractorDriver


def json_format(config: Mapping[str, Any], path: Path) -> str:
    """DuckDB's name of the file's layout: the `format` key, else the file's ending."""
    form = config.get("format")
    if form is None:
        inner = path.name.lower().removesuffix(".gz").removesuffix(".zst")
        form = "ndjson" if inner.endswith(NDJSON_ENDINGS) else "auto"
    if form not in FORMATS:
        raise DriverError(
            f"unknown JSON format {form!r}",
            category="config",
            hint="one of: " + ", ".join(FORMATS),
        )
    return FORMATS[str(form)]
