"""supabase.writer: writes the step's one data-plane input into a Supabase (PostgreSQL) table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.postgres.io import write, write_stream
from components.protocol import RowStream, StepContext, StepResult


class SupabaseWriter:
    """The PostgreSQL writer on Supabase connection fields (pg_dsn, or url + password)."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return write(ctx, config, inputs, family="supabase")

    def takes_stream(self, config: Mapping[str, Any]) -> bool:
        """Rows streamed from a read step load as they come, in every write mode."""
        return True

    def write_stream(
        self, ctx: StepContext, config: Mapping[str, Any], stream: RowStream
    ) -> StepResult:
        """Write the rows a read step streams (see `components.protocol.RowStream`)."""
        return write_stream(ctx, config, stream, family="supabase")
