"""PostgreSQL and Supabase discovery: pg_catalog read in one read-only session."""

from __future__ import annotations

from compiler.catalog import Catalog, Column
from components.postgres.connect import connect_params
from components.sql.errors import connect_category, postgres_category
from runtime.discovery import common

_POSTGRES_FAMILIES = ("postgres", "postgresql", "supabase")

_POSTGRES_TYPES = {
    **dict.fromkeys(("int2", "int4", "int8", "oid"), "integer"),
    **dict.fromkeys(("numeric", "money"), "decimal"),
    **dict.fromkeys(("float4", "float8"), "float"),
    **dict.fromkeys(("varchar", "bpchar", "char", "name", "citext"), "string"),
    **dict.fromkeys(("time", "timetz"), "time"),
    **dict.fromkeys(("json", "jsonb"), "json"),
    "bool": "boolean",
    "text": "text",
    "date": "date",
    "timestamp": "datetime",
    "timestamptz": "timestamptz",
    "bytea": "binary",
    "uuid": "uuid",
}

# Relations worth showing: tables, partitioned tables, views, materialized and foreign
# tables; partitions are left out (their parent stands for them).
_PG_RELATIONS = """
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
"""
_PG_FINGERPRINT = (
    """
SELECT n.nspname, c.relname, md5(c.relkind::text || ':' || coalesce((
           SELECT string_agg(con.conname || con.contype::text, ',' ORDER BY con.conname)
           FROM pg_constraint con WHERE con.conrelid = c.oid AND con.contype IN ('p', 'f')
       ), '') || ':' || (
           SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':'
                             || a.attnotnull::text || ':'
                             || coalesce(pg_get_expr(d.adbin, d.adrelid), '~'),
                             ',' ORDER BY a.attnum)
           FROM pg_attribute a
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
"""
    + _PG_RELATIONS
)
_PG_SCHEMAS = """
SELECT nspname, has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = ANY(%s)
"""
_PG_TABLES = (
    """
SELECT n.nspname, c.relname, c.relkind, c.reltuples::bigint,
       c.relpages::bigint * current_setting('block_size')::bigint
"""
    + _PG_RELATIONS
    + "  AND has_table_privilege(c.oid, 'SELECT')"
)
_PG_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
       coalesce(base.typname, t.typname), coalesce(base.typcategory, t.typcategory)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type base ON t.typtype = 'd' AND base.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY n.nspname, c.relname, a.attnum
"""
_PG_KEYS = """
SELECT n.nspname, c.relname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord)::text[],
       rn.nspname, rc.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord)::text[]
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND con.contype IN ('p', 'f')
ORDER BY n.nspname, c.relname, con.contype, con.conname
"""


class _PostgresReader(common.BaseReader):
    """PostgreSQL and Supabase through pg_catalog: a handful of queries for any table count."""

    DIALECT = "postgres"

    def __init__(
        self, connection: common.SourceConnection, options: common.DiscoveryOptions
    ) -> None:
        import psycopg

        self.connection, self.options = connection, options
        params = connect_params(
            connection.fields, options.timeout_s, application_name="osiris-discovery"
        )
        self.schemas: tuple[str, ...] = options.schemas or (
            common._text(connection.fields.get("schema")) or "public",
        )
        self.conn = psycopg.connect(**params, autocommit=True)
        try:  # SET rather than startup options: poolers (Supabase's included) reject those
            self.conn.execute(
                "SET default_transaction_read_only = on; "
                f"SET statement_timeout = {int(options.timeout_s * 1000)}"
            )
        except BaseException:
            self.conn.close()
            raise

    def _query(self, sql: str) -> list[common.Row]:
        return list(self.conn.execute(sql, {"schemas": list(self.schemas)}).fetchall())

    def fingerprint(self) -> str:
        return common._digest(self._query(_PG_FINGERPRINT), self.options)

    def catalog(self) -> Catalog:
        self._check_schemas()
        drafts: common._Drafts = {}
        for schema, name, relkind, reltuples, size in self._query(_PG_TABLES):
            if self.options.wants(schema, name):
                drafts[schema, name] = common._Draft(
                    schema, name, "view" if relkind in ("v", "m") else "table",
                    # reltuples < 0: never analyzed, so neither count nor size is known
                    row_estimate=None if relkind == "v" or reltuples < 0 else int(reltuples),
                    size_bytes=None if relkind == "v" or reltuples < 0 else int(size),
                )  # fmt: skip
        return self._completed(drafts, self.schemas[0])

    def _check_schemas(self) -> None:
        found: dict[str, bool] = dict(
            self.conn.execute(_PG_SCHEMAS, (list(self.schemas),)).fetchall()
        )
        for schema in self.schemas:
            if schema not in found:
                raise common._failure(
                    self.connection, self.options, "config", f'schema "{schema}" does not exist',
                    "check `schema` on the connection (PostgreSQL's default is public)",
                )  # fmt: skip
            if not found[schema]:
                raise common._failure(
                    self.connection, self.options, "permission",
                    f'permission denied for schema "{schema}"',
                )  # fmt: skip

    def _columns(self, drafts: common._Drafts) -> None:
        for schema, table, name, source_type, nullable, default, base, category in self._query(
            _PG_COLUMNS
        ):
            draft = drafts.get((schema, table))
            if draft is not None:
                normalized = _POSTGRES_TYPES.get(base) or ("string" if category == "E" else "other")
                draft.columns.append(
                    Column(
                        name=name,
                        type=source_type,
                        normalized_type=normalized,
                        nullable=nullable,
                        default=default,
                    )
                )

    def _keys(self, drafts: common._Drafts) -> None:
        for schema, table, kind, columns, ref_schema, ref_table, refs in self._query(_PG_KEYS):
            if (schema, table) in drafts:
                drafts[schema, table].add_key(kind == "p", columns, (ref_schema, ref_table), refs)

    @staticmethod
    def failure_of(err: Exception) -> common.Failure | None:
        import psycopg

        if not isinstance(err, psycopg.Error):
            return None
        detail = str(err).removeprefix("connection failed: ")
        category = connect_category(postgres_category(err.sqlstate, detail))
        return (category, detail)
