"""supabase.extractor: reads a Supabase (PostgreSQL) table or query into the data plane."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.postgres.io import extract
from components.protocol import StepContext, StepResult


class SupabaseExtractor:
    """The PostgreSQL extractor on Supabase connection fields (pg_dsn, or url + password)."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return extract(ctx, config, family="supabase")
