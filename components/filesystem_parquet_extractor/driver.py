"""filesystem.parquet_extractor: one Parquet file into the step's data-plane table.

Parquet carries its own types, so DuckDB's reader keeps them exactly: DECIMAL(10,2) stays
DECIMAL(10,2), a timestamp stays a timestamp, NULL stays NULL and '' the empty string.
The file streams into the table by row group; no row becomes a Python object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.common.quoting import quote_identifier, quote_literal
from components.file_input import ReadsOneFileAsRelation, read_relation, source_path
from components.protocol import DriverError, ReadRelation, StepContext

#: A DuckDB type name as `dtype` may give it: it is spliced into a CAST, so nothing else.
TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?")


class ParquetExtractorDriver(ReadsOneFileAsRelation):
    """Reads `config["path"]` into `ctx.output_table`."""

    def relation(self, ctx: StepContext, config: Mapping[str, Any]) -> ReadRelation:
        """The SELECT `run` makes the step's table of (components/protocol.py)."""
        path = source_path(ctx, config)

        def source(types: Mapping[str, str]) -> str:
            call = f"read_parquet({quote_literal(str(path))})"
            if not types:
                return call
            casts = [
                f"CAST({quote_identifier(k)} AS {checked_type(v)}) AS {quote_identifier(k)}"
                for k, v in types.items()
            ]
            return f"(SELECT * REPLACE ({', '.join(casts)}) FROM {call})"

        return read_relation(ctx, config, path, source, "Parquet")


DRIVER = ParquetExtractorDriver


def checked_type(name: str) -> str:
    """`name` if it is a plain DuckDB type name, else a config error."""
    if not TYPE_NAME.fullmatch(name.strip()):
        raise DriverError(
            f"{name!r} is not a column type",
            category="config",
            hint="use a DuckDB type name such as VARCHAR, BIGINT or DECIMAL(10,2)",
        )
    return name.strip()
