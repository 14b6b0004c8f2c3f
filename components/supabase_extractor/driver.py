"""supabase.extractor: reads a Supabase (PostgreSQL) table or query into the data plane."""

from __future__ import annotations

from components.postgres.io import Extractor


class SupabaseExtractor(Extractor):
    """The PostgreSQL extractor on Supabase connection fields (pg_dsn, or url + password)."""

    family = "supabase"
