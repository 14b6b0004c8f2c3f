"""postgres.writer: writes the step's one data-plane input into a PostgreSQL table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.postgres.io import write
from components.protocol import StepContext, StepResult


class PostgresWriter:
    """COPYs the input (append, replace or upsert) in one transaction; see `postgres_io.py`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return write(ctx, config, inputs)
