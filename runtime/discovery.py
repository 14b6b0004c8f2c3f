"""Discovery: the real schema of a source (tables, views, columns, keys, row counts) as a Catalog.

One reader per family: MySQL/MariaDB and PostgreSQL/Supabase through their catalogs, a
DuckDB database file, a folder of CSV files typed by DuckDB's sniffer. A reader answers
two questions in one read-only session: the catalog (a few bulk queries for any number
of tables; row counts from engine statistics, never `COUNT(*)`) and a cheap fingerprint
of the schema, computed by the database, which the catalog store uses to notice drift.

Driver failures leave as a `DiscoveryError` with a category and a hint, secrets scrubbed.
Database drivers are imported inside the readers: importing this module stays light.
"""

from __future__ import annotations

import datetime as dt
import decimal
import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from compiler.catalog import Catalog, Column, ForeignKey, Table
from components.db_errors import (
    ConnectCategory,
    connect_category,
    mysql_category,
    postgres_category,
)
from components.db_params import FieldError, is_loopback, port_number, postgres_params
from runtime.redaction import MASK, Redactor

Row = Sequence[Any]

_SAMPLE_TEXT_CHARS = 200
_CSV_SAMPLE_BYTES = 64 * 1024


class SourceConnection(Protocol):
    """What discovery needs of a resolved connection (`runtime.connections.ResolvedConnection`)."""

    @property
    def family(self) -> str: ...

    @property
    def alias(self) -> str | None: ...  # None: given inline, not by alias

    @property
    def fields(self) -> Mapping[str, Any]: ...


class DiscoveryOptions(BaseModel):
    """What to discover: which schemas and tables, how many sample rows, how long to wait.

    `tables` holds names or glob patterns, matched case-insensitively against a table's
    name and `schema.name` (and, for a CSV file, its path without `.csv`). `schemas`
    defaults to the connection's own database (MySQL), schema (PostgreSQL, `public`
    unless set) or `main` (DuckDB). `timeout_s` bounds connecting and every read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tables: tuple[str, ...] = ()
    samples: int = Field(default=0, ge=0, le=100)
    timeout_s: float = Field(default=10.0, gt=0, le=3600)
    schemas: tuple[str, ...] = ()

    def wants(self, schema: str, name: str) -> bool:
        """True when the table passes the `tables` filter (no filter: every table)."""
        if not self.tables:
            return True
        names = {name.lower()}
        if schema:
            names.add(f"{schema}.{name}".lower())
        if name.lower().endswith(".csv"):
            names.add(name[:-4].lower())
        return any(fnmatch.fnmatchcase(n, p.lower()) for p in self.tables for n in names)

    def cache_key(self) -> dict[str, Any]:
        """The options that shape the catalog, canonically (the timeout does not shape it)."""
        return {
            "samples": self.samples,
            "schemas": sorted(set(self.schemas)),
            "tables": sorted({p.lower() for p in self.tables}),
        }


class DiscoveryError(Exception):
    """A source that could not be discovered: what happened, its category, what to do about it.

    `category` is one of auth, network, timeout, permission, config. Messages never carry
    a secret: every error leaving `discover` is scrubbed of the connection's secret values.
    """

    def __init__(self, message: str, category: ConnectCategory, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.category: ConnectCategory = category
        self.hint = hint

    def scrubbed(self, secrets: Iterable[str]) -> DiscoveryError:
        """The same error through the redactor: secret values and URL/DSN passwords masked."""
        redactor = Redactor(secrets)
        return DiscoveryError(redactor.text(self.message), self.category, redactor.text(self.hint))

    def to_dict(self) -> dict[str, str]:
        return {"message": self.message, "category": self.category, "hint": self.hint}


@dataclass(frozen=True)
class Snapshot:
    """A catalog and the schema fingerprint read in the same session, just before it."""

    catalog: Catalog
    fingerprint: str


def discover(connection: SourceConnection, options: DiscoveryOptions | None = None) -> Catalog:
    """Every table and view of the connection's schemas that `options` selects."""
    with _open(connection, options) as reader:
        return reader.catalog()


def snapshot(connection: SourceConnection, options: DiscoveryOptions | None = None) -> Snapshot:
    """The catalog and its schema fingerprint, for the catalog store."""
    read = snapshot_if_changed(connection, options, known_fingerprint=None)
    assert read is not None  # nothing known: always read
    return read


def snapshot_if_changed(
    connection: SourceConnection, options: DiscoveryOptions | None, known_fingerprint: str | None
) -> Snapshot | None:
    """None when the schema fingerprint still equals `known_fingerprint` (one cheap query),
    else the catalog, read in the same session: a drifted cache entry costs one connection."""
    with _open(connection, options) as reader:
        # Fingerprint first: a change racing the catalog reads then shows up as drift later.
        fingerprint = reader.fingerprint()
        if fingerprint == known_fingerprint:
            return None
        return Snapshot(reader.catalog(), fingerprint)


def connection_ref(connection: SourceConnection) -> str:
    """`@family.alias`, the way OML names the connection (`@family` for an inline one)."""
    alias = connection.alias
    return f"@{connection.family}.{alias}" if alias else f"@{connection.family}"


def connection_identity(connection: SourceConnection) -> dict[str, Any]:
    """What makes two connections the same source, without any secret (a cache key part)."""
    family = connection.family.lower()
    fields = connection.fields
    if family == "filesystem":
        return {"family": family, "base_dir": _resolved(fields.get("base_dir"))}
    if family == "duckdb":
        return {"family": family, "path": _resolved(fields.get("path")), "schema": None}
    if family == "posthog":
        return {
            "family": family,
            "host": _text(fields.get("custom_base_url")) or _text(fields.get("region")) or "us",
            "project": _text(fields.get("project_id")) or None,
        }
    if family in _POSTGRES_FAMILIES:
        try:
            params = postgres_params(fields)
        except FieldError as err:
            raise _unusable(connection, err) from None
        return {
            "family": family,
            "host": params.get("host"),
            "port": _int_or_none(params.get("port")),
            "database": params.get("dbname"),
            "schema": _text(fields.get("schema")) or None,
            "user": params.get("user"),
        }
    return {
        "family": family,
        "host": _text(fields.get("host")) or None,
        "port": _int_or_none(fields.get("port")),
        "database": _text(fields.get("database")) or None,
        "schema": _text(fields.get("schema")) or None,
        "user": _text(fields.get("user")) or None,
    }


# -- column names that look secret or personal ---------------------------------------------

_SENSITIVE_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key",
    "accesskey", "access_key", "privatekey", "private_key", "credential", "email", "e_mail",
    "phone", "mobile", "creditcard", "credit_card", "cardnumber", "card_number", "iban",
    "passport", "social_security", "birth", "address",
)  # fmt: skip
_SENSITIVE_TOKENS = frozenset(
    {"pwd", "pass", "ssn", "pin", "cvv", "cvc", "auth", "salt", "otp", "dob", "tel", "fax", "mfa"}
)


def is_sensitive(column_name: str) -> bool:
    """True for a column whose name looks secret or personal (its samples are masked).

    >>> [is_sensitive(n) for n in ("password_hash", "userEmail", "ssn", "author", "id")]
    [True, True, True, False, False]
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column_name).lower().replace("-", "_")
    if any(word in snake or word in snake.replace("_", "") for word in _SENSITIVE_WORDS):
        return True
    return any(token in _SENSITIVE_TOKENS for token in re.split(r"[^a-z0-9]+", snake))


def sample_row(names: Sequence[str], values: Sequence[object]) -> dict[str, object]:
    """One sampled row as JSON-safe values, secret-looking columns masked."""
    return {
        name: (MASK if value is not None and is_sensitive(name) else _json_value(value))
        for name, value in zip(names, values, strict=True)
    }


def _json_value(value: object) -> object:
    """A driver value as something JSON can hold, long text clipped."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return "0x" + data.hex() if len(data) <= 16 else f"<{len(data)} bytes>"
    if isinstance(value, dict | list):
        return _clip(json.dumps(value, default=str, sort_keys=True))
    return _clip(str(value))


def _clip(text: str) -> str:
    return text if len(text) <= _SAMPLE_TEXT_CHARS else text[:_SAMPLE_TEXT_CHARS] + "…"


# -- shared plumbing ------------------------------------------------------------------------


class _Reader(Protocol):
    def fingerprint(self) -> str: ...

    def catalog(self) -> Catalog: ...

    def close(self) -> None: ...


@dataclass
class _Draft:
    """One table while the bulk query results are gathered."""

    schema: str
    name: str
    kind: str
    row_estimate: int | None = None
    size_bytes: int | None = None
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    samples: tuple[dict[str, object], ...] = ()

    def table(self) -> Table:
        return Table.model_validate(
            {
                "schema": self.schema,
                "name": self.name,
                "kind": self.kind,
                "columns": tuple(self.columns),
                "primary_key": tuple(self.primary_key),
                "foreign_keys": tuple(self.foreign_keys),
                "row_estimate": self.row_estimate,
                "size_bytes": self.size_bytes,
                "samples": self.samples,
            }
        )


_Drafts = dict[tuple[str, str], _Draft]


def _catalog(connection: SourceConnection, drafts: _Drafts, default_schema: str | None) -> Catalog:
    tables = tuple(drafts[key].table() for key in sorted(drafts))
    return Catalog(
        connection=connection_ref(connection),
        family=connection.family,
        default_schema=default_schema,
        tables=tables,
    )


def _digest(rows: Iterable[Row], options: DiscoveryOptions) -> str:
    """One digest over the per-table digests (schema, table, digest) the filter keeps."""
    lines = sorted(f"{s}\t{t}\t{d}" for s, t, d in rows if options.wants(str(s), str(t)))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _foreign_key(
    schema: str, columns: list[str], ref: tuple[str, str], refs: list[str]
) -> ForeignKey:
    ref_schema, ref_table = ref
    name = ref_table if ref_schema in ("", schema) else f"{ref_schema}.{ref_table}"
    return ForeignKey(columns=tuple(columns), ref_table=name, ref_columns=tuple(refs))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _resolved(value: object) -> str | None:
    return str(Path(str(value)).expanduser().resolve()) if value else None


def _secret_values(connection: SourceConnection) -> set[str]:
    """What the resolver reported as secret, and what the fields hold (for bare objects)."""
    from runtime.connections import secret_values_of

    reported = {str(s) for s in getattr(connection, "secret_values", ()) or () if s}
    return reported | secret_values_of(connection.fields)


_HINTS: dict[ConnectCategory, str] = {
    "auth": "check the user and password of {ref} in osiris_connections.yaml "
    "(or the environment variable they come from)",
    "network": "check the host and port of {ref}, and that the server runs and is reachable",
    "timeout": "no answer within {timeout:g} s: check the host, port and firewall of {ref}, "
    "or allow a longer timeout",
    "permission": "the user of {ref} needs read access (USAGE and SELECT) to the schema "
    "and its tables",
    "config": "check the fields of {ref} in osiris_connections.yaml",
}


def _failure(
    connection: SourceConnection,
    options: DiscoveryOptions,
    category: ConnectCategory,
    detail: str,
    hint: str | None = None,
) -> DiscoveryError:
    ref = connection_ref(connection)
    one_line = " ".join(detail.split())
    hint = hint or _HINTS[category].format(ref=ref, timeout=options.timeout_s)
    return DiscoveryError(f"{ref}: {one_line}", category, hint)


def _unusable(connection: SourceConnection, err: FieldError) -> DiscoveryError:
    """A connection field that cannot be used (port, pg_dsn, url): a config error."""
    return DiscoveryError(f"{connection_ref(connection)}: {err.message}", "config", err.hint)


@contextmanager
def _open(connection: SourceConnection, options: DiscoveryOptions | None) -> Iterator[_Reader]:
    """A reader for the connection's family; driver errors become DiscoveryErrors."""
    options = options or DiscoveryOptions()
    family = connection.family.lower()
    opener = _READERS.get(family)
    if opener is None:
        raise DiscoveryError(
            f"{connection_ref(connection)}: discovery does not support the {family} family",
            "config",
            "discoverable families: " + ", ".join(sorted(_READERS)),
        )
    failure: DiscoveryError | None = None
    try:
        reader = opener.open(connection, options)
        try:
            yield reader
        finally:
            reader.close()
    except DiscoveryError as err:
        failure = err
    except FieldError as err:
        failure = _unusable(connection, err)
    except Exception as err:
        failure = opener.classify(err, connection, options)
        if failure is None:
            raise
    if failure is not None:  # raised outside `except`: the driver's error stays unchained
        raise failure.scrubbed(_secret_values(connection))


class _Opener(Protocol):
    def open(self, connection: SourceConnection, options: DiscoveryOptions) -> _Reader: ...

    def classify(
        self, err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None: ...


# -- MySQL / MariaDB --------------------------------------------------------------------------

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


class _MySQLReader:
    """MySQL and MariaDB through information_schema: a handful of queries for any table count."""

    def __init__(self, connection: SourceConnection, options: DiscoveryOptions) -> None:
        import pymysql  # type: ignore[import-untyped]

        fields = connection.fields
        self.connection, self.options = connection, options
        database = _text(fields.get("database"))
        self.schemas: tuple[str, ...] = options.schemas or ((database,) if database else ())
        if not self.schemas:
            raise _failure(connection, options, "config", "names no database", "set `database`")
        host = _text(fields.get("host")) or "localhost"
        self.conn = pymysql.connect(
            host=host,
            port=port_number(fields.get("port"), 3306),
            user=_text(fields.get("user")) or None,
            password=_text(fields.get("password")),
            database=database or None,
            charset="utf8mb4",
            connect_timeout=options.timeout_s,
            read_timeout=options.timeout_s,
            write_timeout=options.timeout_s,
            autocommit=None,  # leave the server default: no extra round trip
            # TLS buys nothing on loopback, and PyMySQL's "preferred" TLS loads the system
            # CA store on every connect (~16 ms, most of a cached lookup's budget).
            ssl_disabled=True if is_loopback(host) else None,
        )
        self.mariadb = "mariadb" in self.conn.get_server_info().lower()
        try:
            self._read_only_session()
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def open(cls, connection: SourceConnection, options: DiscoveryOptions) -> _MySQLReader:
        return cls(connection, options)

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

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            return list(cur.fetchall())

    def _query(self, template: str) -> list[Row]:
        placeholders = ", ".join(["%s"] * len(self.schemas))
        return self._rows(template.format(schemas=placeholders), self.schemas)

    def fingerprint(self) -> str:
        return _digest(self._query(_MYSQL_FINGERPRINT), self.options)

    def catalog(self) -> Catalog:
        drafts: _Drafts = {}
        for schema, name, table_type, rows, size in self._query(_MYSQL_TABLES):
            if self.options.wants(schema, name):
                view = "VIEW" in table_type
                drafts[schema, name] = _Draft(
                    schema, name, "view" if view else "table",
                    row_estimate=None if view or rows is None else int(rows),
                    size_bytes=None if view or size is None else int(size),
                )  # fmt: skip
        self._columns(drafts)
        self._keys(drafts)
        if self.options.samples:
            self._samples(drafts)
        return _catalog(self.connection, drafts, self.schemas[0])

    def _columns(self, drafts: _Drafts) -> None:
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

    def _mariadb_json_columns(self, columns: list[Row]) -> set[tuple[str, str, str]]:
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

    def _keys(self, drafts: _Drafts) -> None:
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
            drafts[schema, table].foreign_keys.append(_foreign_key(schema, columns, ref, refs))

    def _samples(self, drafts: _Drafts) -> None:
        for draft in drafts.values():
            if draft.kind != "table":
                continue  # a view may be an expensive query: sample stored rows only
            quoted = ".".join(
                "`" + part.replace("`", "``") + "`" for part in (draft.schema, draft.name)
            )
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT * FROM {quoted} LIMIT %s", (self.options.samples,))
                names = [d[0] for d in cur.description or ()]
                draft.samples = tuple(sample_row(names, row) for row in cur.fetchall())

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def classify(
        err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None:
        import pymysql

        if not isinstance(err, pymysql.MySQLError):
            return None
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        detail = str(err.args[1]) if len(err.args) > 1 else str(err)
        category = connect_category(mysql_category(code, detail))
        hint = _MISSING_DATABASE if code == 1049 else None
        return _failure(connection, options, category, detail, hint)


def _mysql_normalized(data_type: str, column_type: str) -> str:
    lowered = column_type.lower()
    if lowered.startswith(("tinyint(1)", "bit(1)")):
        return "boolean"  # MySQL's BOOLEAN is TINYINT(1)
    return _MYSQL_TYPES.get(data_type.lower(), "other")


# -- PostgreSQL / Supabase --------------------------------------------------------------------

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


class _PostgresReader:
    """PostgreSQL and Supabase through pg_catalog: a handful of queries for any table count."""

    def __init__(self, connection: SourceConnection, options: DiscoveryOptions) -> None:
        import psycopg
        from psycopg.conninfo import make_conninfo

        self.connection, self.options = connection, options
        params = {
            "host": "localhost",
            "connect_timeout": str(max(2, math.ceil(options.timeout_s))),  # libpq's minimum: 2 s
            "application_name": "osiris-discovery",
            # the connection's own settings win (a DSN may carry connect_timeout)
            **postgres_params(connection.fields),
        }
        self.schemas: tuple[str, ...] = options.schemas or (
            _text(connection.fields.get("schema")) or "public",
        )
        conninfo = make_conninfo("", **params)
        self.conn = psycopg.connect(conninfo, autocommit=True)
        try:  # SET rather than startup options: poolers (Supabase's included) reject those
            self.conn.execute(
                "SET default_transaction_read_only = on; "
                f"SET statement_timeout = {int(options.timeout_s * 1000)}"
            )
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def open(cls, connection: SourceConnection, options: DiscoveryOptions) -> _PostgresReader:
        return cls(connection, options)

    def _query(self, sql: str) -> list[Row]:
        return list(self.conn.execute(sql, {"schemas": list(self.schemas)}).fetchall())

    def fingerprint(self) -> str:
        return _digest(self._query(_PG_FINGERPRINT), self.options)

    def catalog(self) -> Catalog:
        self._check_schemas()
        drafts: _Drafts = {}
        for schema, name, relkind, reltuples, size in self._query(_PG_TABLES):
            if self.options.wants(schema, name):
                drafts[schema, name] = _Draft(
                    schema, name, "view" if relkind in ("v", "m") else "table",
                    # reltuples < 0: never analyzed, so neither count nor size is known
                    row_estimate=None if relkind == "v" or reltuples < 0 else int(reltuples),
                    size_bytes=None if relkind == "v" or reltuples < 0 else int(size),
                )  # fmt: skip
        self._columns(drafts)
        self._keys(drafts)
        if self.options.samples:
            self._samples(drafts)
        return _catalog(self.connection, drafts, self.schemas[0])

    def _check_schemas(self) -> None:
        found: dict[str, bool] = dict(
            self.conn.execute(_PG_SCHEMAS, (list(self.schemas),)).fetchall()
        )
        for schema in self.schemas:
            if schema not in found:
                raise _failure(
                    self.connection, self.options, "config", f'schema "{schema}" does not exist',
                    "check `schema` on the connection (PostgreSQL's default is public)",
                )  # fmt: skip
            if not found[schema]:
                raise _failure(
                    self.connection, self.options, "permission",
                    f'permission denied for schema "{schema}"',
                )  # fmt: skip

    def _columns(self, drafts: _Drafts) -> None:
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

    def _keys(self, drafts: _Drafts) -> None:
        for schema, table, kind, columns, ref_schema, ref_table, refs in self._query(_PG_KEYS):
            draft = drafts.get((schema, table))
            if draft is None:
                continue
            if kind == "p":
                draft.primary_key = list(columns)
            else:
                fk = _foreign_key(schema, list(columns), (ref_schema, ref_table), list(refs))
                draft.foreign_keys.append(fk)

    def _samples(self, drafts: _Drafts) -> None:
        from psycopg import sql

        for draft in drafts.values():
            if draft.kind != "table":
                continue  # a view may be an expensive query: sample stored rows only
            query = sql.SQL("SELECT * FROM {} LIMIT %s").format(
                sql.Identifier(draft.schema, draft.name)
            )
            cur = self.conn.execute(query, (self.options.samples,))
            names = [d.name for d in cur.description or ()]
            draft.samples = tuple(sample_row(names, row) for row in cur.fetchall())

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def classify(
        err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None:
        import psycopg

        if not isinstance(err, psycopg.Error):
            return None
        detail = str(err).removeprefix("connection failed: ")
        category = connect_category(postgres_category(err.sqlstate, detail))
        return _failure(connection, options, category, detail)


# -- DuckDB database file -----------------------------------------------------------------------

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


class _DuckDBReader:
    """A DuckDB database file, opened read-only, through its duckdb_* table functions."""

    def __init__(self, connection: SourceConnection, options: DiscoveryOptions) -> None:
        import duckdb

        self.connection, self.options = connection, options
        path = Path(_text(connection.fields.get("path"))).expanduser()
        if not connection.fields.get("path") or not path.is_file():
            raise _failure(
                connection, options, "config", f"no DuckDB database file at {str(path)!r}",
                "set `path` to an existing DuckDB database file",
            )  # fmt: skip
        self.schemas: tuple[str, ...] = options.schemas or (
            _text(connection.fields.get("schema")) or "main",
        )
        self.conn = duckdb.connect(str(path), read_only=True)

    @classmethod
    def open(cls, connection: SourceConnection, options: DiscoveryOptions) -> _DuckDBReader:
        return cls(connection, options)

    def _query(self, template: str) -> list[Row]:
        placeholders = ", ".join(["?"] * len(self.schemas))
        sql = template.format(schemas=placeholders)
        params = list(self.schemas) * template.count("{schemas}")
        return list(self.conn.execute(sql, params).fetchall())

    def fingerprint(self) -> str:
        return _digest(self._query(_DUCKDB_FINGERPRINT), self.options)

    def catalog(self) -> Catalog:
        drafts: _Drafts = {}
        for schema, name, kind, rows in self._query(_DUCKDB_TABLES):
            if self.options.wants(schema, name):
                drafts[schema, name] = _Draft(schema, name, kind, row_estimate=rows)
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
            draft = drafts.get((schema, table))
            if draft is None:
                continue
            if kind == "PRIMARY KEY":
                draft.primary_key = list(columns)
            else:
                draft.foreign_keys.append(_foreign_key(schema, columns, (schema, ref_table), refs))
        if self.options.samples:
            self._samples(drafts)
        return _catalog(self.connection, drafts, self.schemas[0])

    def _samples(self, drafts: _Drafts) -> None:
        for draft in drafts.values():
            if draft.kind == "table":
                quoted = ".".join(
                    '"' + p.replace('"', '""') + '"' for p in (draft.schema, draft.name)
                )
                cur = self.conn.execute(f"SELECT * FROM {quoted} LIMIT ?", [self.options.samples])
                names = [d[0] for d in cur.description or ()]
                draft.samples = tuple(sample_row(names, row) for row in cur.fetchall())

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def classify(
        err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None:
        import duckdb

        if not isinstance(err, duckdb.Error):
            return None
        detail = str(err)
        if "Permission denied" in detail:
            return _failure(connection, options, "permission", detail)
        if "lock" in detail.lower():
            hint = "another process holds the DuckDB file open for writing: wait for it or stop it"
            return _failure(connection, options, "config", detail, hint)
        return _failure(connection, options, "config", detail)


# -- a folder of CSV files ----------------------------------------------------------------------


class _CsvFolderReader:
    """Every *.csv under `base_dir` (hidden folders skipped), typed by DuckDB's CSV sniffer.

    A file is a table named by its path relative to `base_dir` (`orders.csv`,
    `2024/orders.csv`) in schema "". Its fingerprint is its size and modification time;
    its row estimate comes from the line count of its first 64 KiB, scaled to its size.
    """

    def __init__(self, connection: SourceConnection, options: DiscoveryOptions) -> None:
        self.connection, self.options = connection, options
        raw = _text(connection.fields.get("base_dir"))
        base = Path(raw).expanduser()
        if not raw or not base.is_dir():
            raise _failure(
                connection, options, "config", f"no folder at {raw!r}",
                "set `base_dir` to the folder that holds the CSV files",
            )  # fmt: skip
        self.files: list[tuple[str, Path]] = []
        for path in sorted(base.rglob("*.[cC][sS][vV]")):
            relative = path.relative_to(base)
            hidden = any(part.startswith(".") for part in relative.parts)
            if not hidden and path.is_file() and options.wants("", relative.as_posix()):
                self.files.append((relative.as_posix(), path))

    @classmethod
    def open(cls, connection: SourceConnection, options: DiscoveryOptions) -> _CsvFolderReader:
        return cls(connection, options)

    def fingerprint(self) -> str:
        rows = []
        for name, path in self.files:
            stat = path.stat()
            rows.append(("", name, f"{stat.st_size}:{stat.st_mtime_ns}"))
        return _digest(rows, self.options)

    def catalog(self) -> Catalog:
        import duckdb

        drafts: _Drafts = {}
        with duckdb.connect() as duck:
            for name, path in self.files:
                drafts["", name] = self._file(duck, name, path)
        return _catalog(self.connection, drafts, None)

    def _file(self, duck: Any, name: str, path: Path) -> _Draft:
        import duckdb

        try:
            sniffed, has_header = duck.execute(
                "SELECT Columns, HasHeader FROM sniff_csv(?)", [str(path)]
            ).fetchone()
        except duckdb.Error as err:
            raise _failure(
                self.connection, self.options, "config", f"cannot read {name} as CSV: {err}",
                "fix the file, or leave it out with --tables",
            ) from None  # fmt: skip
        size = path.stat().st_size
        draft = _Draft("", name, "file", _estimate_csv_rows(path, size, has_header), size)
        draft.columns = [
            Column(name=c["name"], type=c["type"], normalized_type=_duckdb_normalized(c["type"]))
            for c in sniffed
        ]
        if self.options.samples:
            cur = duck.execute(
                "SELECT * FROM read_csv(?) LIMIT ?", [str(path), self.options.samples]
            )
            names = [d[0] for d in cur.description or ()]
            draft.samples = tuple(sample_row(names, row) for row in cur.fetchall())
        return draft

    def close(self) -> None:
        pass

    @staticmethod
    def classify(
        err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None:
        if isinstance(err, PermissionError):
            return _failure(connection, options, "permission", f"{err.strerror}: {err.filename}")
        if isinstance(err, OSError):
            return _failure(connection, options, "config", str(err))
        return _DuckDBReader.classify(err, connection, options)


class _PostHogReader:
    """PostHog's data types as tables (events, persons, sessions, person_distinct_ids).

    Their fixed columns are known up front, as 0.5.7 lists them; the fingerprint query
    is one `SELECT 1` through the HogQL API, so the key, project and host are checked.
    """

    def __init__(self, connection: SourceConnection, options: DiscoveryOptions) -> None:
        self.connection, self.options = connection, options
        self.checked = False

    @classmethod
    def open(cls, connection: SourceConnection, options: DiscoveryOptions) -> _PostHogReader:
        return cls(connection, options)

    def _check(self) -> None:
        from components.posthog_extractor.driver import check_access

        if not self.checked:
            check_access(self.connection.fields, self.options.timeout_s)
            self.checked = True

    def fingerprint(self) -> str:
        from components.posthog_extractor.driver import RESOURCES

        self._check()
        rows = [("", name, repr(columns)) for name, columns in RESOURCES.items()]
        return _digest(rows, self.options)

    def catalog(self) -> Catalog:
        from components.posthog_extractor.driver import RESOURCES

        self._check()
        drafts: _Drafts = {}
        for name, columns in RESOURCES.items():
            if not self.options.wants("", name):
                continue
            draft = _Draft("", name, "table")
            draft.columns = [
                Column(name=c, type=t, normalized_type=_duckdb_normalized(t)) for c, t in columns
            ]
            drafts["", name] = draft
        return _catalog(self.connection, drafts, None)

    def close(self) -> None:
        pass

    @staticmethod
    def classify(
        err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None:
        from components.protocol import DriverError

        if isinstance(err, DriverError):
            category = err.category if err.category in _HINTS else "config"
            return _failure(connection, options, category, str(err), err.hint)  # type: ignore[arg-type]
        return None


def _estimate_csv_rows(path: Path, size: int, has_header: bool) -> int:
    """Data rows: exact for a file under 64 KiB, else the first 64 KiB's rate scaled up."""
    with path.open("rb") as handle:
        head = handle.read(_CSV_SAMPLE_BYTES)
    if not head:
        return 0
    lines = head.count(b"\n")
    if len(head) >= size:
        lines += 0 if head.endswith(b"\n") else 1
    else:
        lines = round(lines * size / len(head))
    return max(lines - (1 if has_header else 0), 0)


_READERS: dict[str, _Opener] = {
    "mysql": _MySQLReader,
    "mariadb": _MySQLReader,
    **dict.fromkeys(_POSTGRES_FAMILIES, _PostgresReader),
    "duckdb": _DuckDBReader,
    "filesystem": _CsvFolderReader,
    "posthog": _PostHogReader,
}
SUPPORTED_FAMILIES: tuple[str, ...] = tuple(sorted(_READERS))
