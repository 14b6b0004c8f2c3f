"""DuckDB database file discovery through its duckdb_* table functions, and DuckDB's type
names normalized (the file folder and PostHog readers name their columns in them too)."""

from __future__ import annotations

from pathlib import Path

from compiler.catalog import Catalog, Column
from runtime.discovery import common

_DUCKDB_INTEGERS: tuple[str, ...] = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_DUCKDB_INTEGERS += tuple("U" + name for name in _DUCKDB_INTEGERS)
_DUCKDB_TYPES = {
    **dict.fromkeys(_DUCKDB_INTEGERS, "integer"),
    **dict.fromkeys(("FLOAT", "DOUBLE"), "float"),
    **dict.fromkeys(("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"), "datetime"),
    **dict.fromkeys(("TIME", "TIME WITH TIME ZONE"), "time"),
    **dict.fromkeys(("VARCHAR", "ENUM"), "string"),
    "DECIMAL": "decimal",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "json",
    "BLOB": "binary",
    "UUID": "uuid",
}


def _duckdb_normalized(source_type: str) -> str:
    upper = source_type.upper()
    if upper.endswith("]") or upper.startswith(("STRUCT", "MAP", "UNION")):
        return "other"
    return _DUCKDB_TYPES.get(upper.split("(")[0].strip(), "other")


_DUCKDB_WHERE = "database_name = current_database() AND schema_name IN ({schemas})"
_DUCKDB_FINGERPRINT = f"""
SELECT schema_name, table_name,
       md5(string_agg(concat_ws(':', column_name, data_type, is_nullable,
                                coalesce(column_default, '~')), ',' ORDER BY column_index))
FROM duckdb_columns() WHERE {_DUCKDB_WHERE}
GROUP BY schema_name, table_name
"""
_DUCKDB_TABLES = f"""
SELECT schema_name, table_name, 'table', estimated_size FROM duckdb_tables()
WHERE {_DUCKDB_WHERE} AND NOT internal AND NOT temporary
UNION ALL
SELECT schema_name, view_name, 'view', NULL FROM duckdb_views()
WHERE {_DUCKDB_WHERE} AND NOT internal AND NOT temporary
"""
_DUCKDB_COLUMNS = f"""
SELECT schema_name, table_name, column_name, data_type, is_nullable, column_default
FROM duckdb_columns() WHERE {_DUCKDB_WHERE}
ORDER BY schema_name, table_name, column_index
"""
_DUCKDB_KEYS = f"""
SELECT schema_name, table_name, constraint_type, constraint_column_names,
       referenced_table, referenced_column_names
FROM duckdb_constraints()
WHERE {_DUCKDB_WHERE} AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY schema_name, table_name, constraint_index
"""


class _DuckDBReader(common.BaseReader):
    """A DuckDB database file, opened read-only, through its duckdb_* table functions."""

    def __init__(
        self, connection: common.SourceConnection, options: common.DiscoveryOptions
    ) -> None:
        import duckdb

        self.connection, self.options = connection, options
        path = Path(common._text(connection.fields.get("path"))).expanduser()
        if not connection.fields.get("path") or not path.is_file():
            raise common._failure(
                connection, options, "config", f"no DuckDB database file at {str(path)!r}",
                "set `path` to an existing DuckDB database file",
            )  # fmt: skip
        self.schemas: tuple[str, ...] = options.schemas or (
            common._text(connection.fields.get("schema")) or "main",
        )
        self.conn = duckdb.connect(str(path), read_only=True)

    def _query(self, template: str) -> list[common.Row]:
        placeholders = ", ".join(["?"] * len(self.schemas))
        sql = template.format(schemas=placeholders)
        params = list(self.schemas) * template.count("{schemas}")
        return list(self.conn.execute(sql, params).fetchall())

    def fingerprint(self) -> str:
        return common._digest(self._query(_DUCKDB_FINGERPRINT), self.options)

    def catalog(self) -> Catalog:
        drafts: common._Drafts = {}
        for schema, name, kind, rows in self._query(_DUCKDB_TABLES):
            if self.options.wants(schema, name):
                drafts[schema, name] = common._Draft(schema, name, kind, row_estimate=rows)
        for schema, table, name, source_type, nullable, default in self._query(_DUCKDB_COLUMNS):
            draft = drafts.get((schema, table))
            if draft is not None:
                draft.columns.append(
                    Column(
                        name=name,
                        type=source_type,
                        normalized_type=_duckdb_normalized(source_type),
                        nullable=nullable,
                        default=default,
                    )
                )
        for schema, table, kind, columns, ref_table, refs in self._query(_DUCKDB_KEYS):
            if (schema, table) in drafts:
                primary = kind == "PRIMARY KEY"
                drafts[schema, table].add_key(primary, columns, (schema, ref_table), refs)
        if self.options.samples:
            self._samples(drafts)
        return common._catalog(self.connection, drafts, self.schemas[0])

    @staticmethod
    def failure_of(err: Exception) -> common.Failure | None:
        import duckdb

        if not isinstance(err, duckdb.Error):
            return None
        detail = str(err)
        if "Permission denied" in detail:
            return ("permission", detail)
        if "lock" in detail.lower():
            hint = "another process holds the DuckDB file open for writing: wait for it or stop it"
            return ("config", detail, hint)
        return ("config", detail)
