"""postgres.extractor: reads a PostgreSQL table or query into the step's data-plane table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.postgres.io import extract
from components.protocol import StepContext, StepResult


class PostgresExtractor:
    """Streams rows read-only into `ctx.output_table`; see `components/postgres/io.py`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return extract(ctx, config)
