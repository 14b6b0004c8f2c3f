"""mysql.extractor: reads a MySQL/MariaDB table or query into the step's data-plane table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.mysql.io import extract, stream
from components.protocol import RowStream, StepContext, StepResult


class MySQLExtractor:
    """Streams rows read-only into `ctx.output_table`; see `components/mysql/io.py`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return extract(ctx, config)

    def stream(
        self, ctx: StepContext, config: Mapping[str, Any], sample_rows: int = 0
    ) -> RowStream:
        """The rows for the one writer that consumes them, not loaded into a table."""
        return stream(ctx, config, sample_rows=sample_rows)
