"""supabase.writer: writes the step's one data-plane input into a Supabase (PostgreSQL) table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.postgres.io import write
from components.protocol import StepContext, StepResult


class SupabaseWriter:
    """The PostgreSQL writer on Supabase connection fields (pg_dsn, or url + password)."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return write(ctx, config, inputs, family="supabase")
