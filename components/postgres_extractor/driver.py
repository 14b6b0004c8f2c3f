"""postgres.extractor: reads a PostgreSQL table or query into the step's data-plane table."""

from __future__ import annotations

from components.postgres.io import Extractor


class PostgresExtractor(Extractor):
    """Streams rows read-only into `ctx.output_table` (or straight into the one writer
    that consumes them); see `components/postgres/io.py`."""
