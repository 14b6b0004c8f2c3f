"""mysql.writer: writes the step's one data-plane input into a MySQL/MariaDB table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.mysql.io import write
from components.protocol import StepContext, StepResult


class MySQLWriter:
    """Bulk-loads the input (append, replace or upsert) atomically; see `components/mysql/io.py`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return write(ctx, config, inputs)
