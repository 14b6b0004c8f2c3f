"""MySQL and MariaDB discovery: information_schema read in one read-only session."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from compiler.catalog import Catalog, Column
from components.mysql.connect import connect
from components.sql.errors import connect_category, mysql_category
from runtime.discovery import common

_MYSQL_TYPES = {
    **dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "integer", "bigint"), "integer"),
    **dict.fromkeys(("year",), "integer"),
    **dict.fromkeys(("decimal", "numeric", "dec", "fixed"), "decimal"),
    **dict.fromkeys(("float", "double", "real", "double precision"), "float"),
    **dict.fromkeys(("bool", "boolean"), "boolean"),
    **dict.fromkeys(("char", "varchar", "enum", "set"), "string"),
    **dict.fromkeys(("tinytext", "text", "mediumtext", "longtext"), "text"),
    **dict.fromkeys(
        ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "binary"
    ),
    "date": "date",
    "datetime": "datetime",
    "timestamp": "timestamptz",  # stored as UTC, shown in the session zone: an instant
    "time": "time",
    "json": "json",
    "uuid": "uuid",
}

# Per table: a digest of its column listing, computed by the server (GROUP_CONCAT + MD5).
_MYSQL_FINGERPRINT = """
SELECT TABLE_SCHEMA, TABLE_NAME,
       MD5(GROUP_CONCAT(CONCAT_WS(':', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
                                  IFNULL(COLUMN_DEFAULT, '~'), COLUMN_KEY)
                        ORDER BY ORDINAL_POSITION SEPARATOR '\\n'))
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN ({schemas})
GROUP BY TABLE_SCHEMA, TABLE_NAME
"""
_MYSQL_TABLES = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH
FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN ({schemas}) AND TABLE_TYPE <> 'SEQUENCE'
"""
_MYSQL_COLUMNS = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE,
       COLUMN_DEFAULT, EXTRA
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN ({schemas})
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""
_MYSQL_KEYS = """
SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME,
       REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA IN ({schemas})
  AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION
"""
# MariaDB's JSON is LONGTEXT with a json_valid() check; only the check tells them apart.
_MARIADB_JSON_CHECKS = """
SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA IN ({schemas}) AND CHECK_CLAUSE LIKE 'json\\_valid(%%'
"""
_JSON_CHECK = re.compile(r"^json_valid\(`((?:[^`]|``)+)`\)$")

_MISSING_DATABASE = "the database named by the connection does not exist: check `database`"


class _MySQLReader(common.BaseReader):
    """MySQL and MariaDB through information_schema: a handful of queries for any table count."""

    DIALECT = "mysql"

    def _fetch(self, sql: str) -> tuple[list[str], list[Any]]:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return [d[0] for d in cur.description or ()], list(cur.fetchall())

    def __init__(
        self, connection: common.SourceConnection, options: common.DiscoveryOptions
    ) -> None:
        fields = connection.fields
        self.connection, self.options = connection, options
        database = common._text(fields.get("database"))
        self.schemas: tuple[str, ...] = options.schemas or ((database,) if database else ())
        if not self.schemas:
            raise common._failure(
                connection, options, "config", "names no database", "set `database`"
            )
        self.conn = connect(
            fields,
            options.timeout_s,
            io_timeout_s=options.timeout_s,
            autocommit=None,  # leave the server default: no extra round trip
        )
        self.mariadb = "mariadb" in self.conn.get_server_info().lower()
        try:
            self._read_only_session()
        except BaseException:
            self.conn.close()
            raise

    def _read_only_session(self) -> None:
        if self.mariadb:
            sql = "SET SESSION tx_read_only = 1, max_statement_time = %s, group_concat_max_len = %s"
            limit: float = self.options.timeout_s
        else:
            sql = (
                "SET SESSION transaction_read_only = 1, max_execution_time = %s, "
                "group_concat_max_len = %s"
            )
            limit = int(self.options.timeout_s * 1000)
        self._rows(sql, (limit, 1 << 24))

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[common.Row]:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())

    def _query(self, template: str) -> list[common.Row]:
        placeholders = ", ".join(["%s"] * len(self.schemas))
        return self._rows(template.format(schemas=placeholders), self.schemas)

    def fingerprint(self) -> str:
        return common._digest(self._query(_MYSQL_FINGERPRINT), self.options)

    def catalog(self) -> Catalog:
        drafts: common._Drafts = {}
        for schema, name, table_type, rows, size in self._query(_MYSQL_TABLES):
            if self.options.wants(schema, name):
                view = "VIEW" in table_type
                drafts[schema, name] = common._Draft(
                    schema, name, "view" if view else "table",
                    row_estimate=None if view or rows is None else int(rows),
                    size_bytes=None if view or size is None else int(size),
                )  # fmt: skip
        return self._completed(drafts, self.schemas[0])

    def _columns(self, drafts: common._Drafts) -> None:
        rows = self._query(_MYSQL_COLUMNS)
        json_columns = self._mariadb_json_columns(rows)
        for schema, table, name, column_type, data_type, nullable, default, extra in rows:
            draft = drafts.get((schema, table))
            if draft is None:
                continue
            is_json = (schema, table, name) in json_columns
            normalized = "json" if is_json else _mysql_normalized(data_type, column_type)
            draft.columns.append(
                Column(
                    name=name,
                    type=column_type,
                    normalized_type=normalized,
                    nullable=nullable == "YES",
                    default=self._default(default, extra, normalized),
                )
            )

    def _mariadb_json_columns(self, columns: list[common.Row]) -> set[tuple[str, str, str]]:
        if not self.mariadb or not any(row[4] == "longtext" for row in columns):
            return set()
        found = set()
        for schema, table, clause in self._query(_MARIADB_JSON_CHECKS):
            match = _JSON_CHECK.match(clause)
            if match:
                found.add((schema, table, match.group(1).replace("``", "`")))
        return found

    def _default(self, default: str | None, extra: str, normalized: str) -> str | None:
        """The default as an SQL expression, as MariaDB reports it (MySQL 8 unquotes literals)."""
        if default is None or (self.mariadb and default == "NULL"):
            return None
        quoted = normalized not in ("integer", "decimal", "float", "boolean")
        if self.mariadb or "DEFAULT_GENERATED" in (extra or "") or not quoted:
            return default
        return "'" + default.replace("'", "''") + "'"

    def _keys(self, drafts: common._Drafts) -> None:
        foreign: dict[tuple[str, str, str], tuple[list[str], tuple[str, str], list[str]]] = {}
        for schema, table, constraint, column, ref_schema, ref_table, ref_column in self._query(
            _MYSQL_KEYS
        ):
            draft = drafts.get((schema, table))
            if draft is None:
                continue
            if constraint == "PRIMARY":
                draft.primary_key.append(column)
                continue
            columns, _, refs = foreign.setdefault(
                (schema, table, constraint), ([], (ref_schema, ref_table), [])
            )
            columns.append(column)
            refs.append(ref_column)
        for (schema, table, _), (columns, ref, refs) in sorted(foreign.items()):
            drafts[schema, table].add_key(False, columns, ref, refs)

    @staticmethod
    def failure_of(err: Exception) -> common.Failure | None:
        import pymysql

        if not isinstance(err, pymysql.MySQLError):
            return None
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        detail = str(err.args[1]) if len(err.args) > 1 else str(err)
        category = connect_category(mysql_category(code, detail))
        hint = _MISSING_DATABASE if code == 1049 else None
        return (category, detail, hint)


def _mysql_normalized(data_type: str, column_type: str) -> str:
    lowered = column_type.lower()
    if lowered.startswith(("tinyint(1)", "bit(1)")):
        return "boolean"  # MySQL's BOOLEAN is TINYINT(1)
    return _MYSQL_TYPES.get(data_type.lower(), "other")
