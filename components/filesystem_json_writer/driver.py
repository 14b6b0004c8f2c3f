"""filesystem.json_writer: the step's one input table into a JSON file, atomically.

Two layouts: `array` (one JSON array of objects) and `ndjson` (one object a line), chosen
by `format` or else by the file's ending (`.ndjson`/`.jsonl` → ndjson, `.json` → array).
Each row is an object whose keys are the input's columns, in order. Values:
- NULL is `null`, the empty string `""`; text is UTF-8 as written (no \\u escapes);
- numbers are JSON numbers, a DECIMAL printed exactly (`79.19`, `12345678901234567.89`);
- timestamps are RFC 3339 strings with microseconds, `2024-01-02 03:04:05.500000`; with
  a time zone in UTC, `2024-01-02T01:04:05.000000+00:00`; dates `2024-01-02` — one layout
  per column, the ones DuckDB's JSON reader (filesystem.json_extractor) detects as
  TIMESTAMP and TIMESTAMP WITH TIME ZONE again (it leaves a naive `...T...` as text).
A path ending in `.gz` or `.zst` is written compressed. The file is written under a
temporary name and renamed (components/file_output.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.common.quoting import quote_literal
from components.file_output import (
    copy_atomically,
    export_select,
    file_size,
    input_columns,
    input_table,
    target_path,
)
from components.protocol import DriverError, StepContext, StepResult

FORMATS = ("array", "ndjson")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
#: timestamps as RFC 3339 text, the layouts DuckDB's JSON reader detects again
_NAIVE = "strftime(CAST({name} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')"
_UTC = "strftime(timezone('UTC', {name}), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"


class JSONWriterDriver:
    """Writes the one input table to `config["path"]`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        table = input_table(inputs, "JSON writer")
        path = target_path(ctx, config)
        form = output_format(config, path)
        if ctx.cancelled():
            raise DriverError("cancelled before writing", category="cancelled")
        columns = input_columns(ctx.data_plane, table)
        compression = COMPRESSIONS.get(path.suffix.lower(), "none")
        options = (
            f"(FORMAT json, ARRAY {'true' if form == 'array' else 'false'}, "
            f"COMPRESSION {quote_literal(compression)})"
        )
        rows = copy_atomically(ctx, export_select(table, columns, _NAIVE, _UTC), path, options)
        return StepResult(
            rows_read=rows,
            rows_written=rows,
            details={"path": str(path), "format": form, "bytes": file_size(path)},
        )

    def takes_fused(self, config: Mapping[str, Any]) -> bool:
        """`run` may be handed a view of a fused chain as its input (runtime/fusion.py): it
        reads the input once, by its one COPY, so the chain runs as that one statement."""
        return True

    def files_written(
        self, config: Mapping[str, Any], connection: Mapping[str, Any] | None, project_dir: Path
    ) -> list[Path]:
        """The file this step replaces (DuckDB itself writes only to the spill folder)."""
        from components.file_input import files_read

        return files_read(config, connection, project_dir)


DRIVER = JSONWriterDriver


def output_format(config: Mapping[str, Any], path: Path) -> str:
    """`array` or `ndjson`: the `format` key, else the file's ending."""
    form = config.get("format")
    if form is None:
        inner = path.name.lower().removesuffix(".gz").removesuffix(".zst")
        if inner.endswith((".ndjson", ".jsonl")):
            return "ndjson"
        if inner.endswith(".json"):
            return "array"
        raise DriverError(
            f"cannot tell the JSON layout from the name {path.name!r}",
            category="config",
            hint="set format: array or format: ndjson, or name the file .json or .ndjson",
        )
    if form not in FORMATS:
        raise DriverError(
            f"unknown JSON format {form!r}", category="config", hint="one of: array, ndjson"
        )
    return str(form)
