"""filesystem.parquet_writer: the step's one input table into a Parquet file, atomically.

Parquet keeps DuckDB's types: DECIMAL(10,2), timestamps (with or without a time zone),
dates, NULL and the empty string all come back exactly through
filesystem.parquet_extractor or any Parquet reader. DuckDB's `COPY` streams the table by
row group; the file is written under a temporary name and renamed (components/file_output.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.common.quoting import quote_literal
from components.file_output import (
    copy_atomically,
    file_size,
    input_columns,
    input_table,
    target_path,
)
from components.protocol import DriverError, StepContext, StepResult

COMPRESSIONS = ("zstd", "snappy", "gzip", "uncompressed")


class ParquetWriterDriver:
    """Writes the one input table to `config["path"]`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        table = input_table(inputs, "Parquet writer")
        compression = config.get("compression", "zstd")
        if compression not in COMPRESSIONS:
            raise DriverError(
                f"unknown compression {compression!r}",
                category="config",
                hint="one of: " + ", ".join(COMPRESSIONS),
            )
        row_group = config.get("row_group_size", 122880)
        if isinstance(row_group, bool) or not isinstance(row_group, int) or row_group < 1:
            raise DriverError("`row_group_size` must be a whole number ≥ 1", category="config")
        path = target_path(ctx, config)
        if ctx.cancelled():
            raise DriverError("cancelled before writing", category="cancelled")
        input_columns(ctx.data_plane, table)
        options = (
            f"(FORMAT parquet, COMPRESSION {quote_literal(str(compression))}, "
            f"ROW_GROUP_SIZE {row_group})"
        )
        rows = copy_atomically(ctx, f"SELECT * FROM {table}", path, options)
        return StepResult(
            rows_read=rows,
            rows_written=rows,
            details={"path": str(path), "bytes": file_size(path)},
        )

    def files_written(
        self, config: Mapping[str, Any], connection: Mapping[str, Any] | None, project_dir: Path
    ) -> list[Path]:
        """The file this step replaces (DuckDB itself writes only to the spill folder)."""
        from components.file_input import files_read

        return files_read(config, connection, project_dir)


DRIVER = ParquetWriterDriver
