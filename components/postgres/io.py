"""PostgreSQL (and Supabase, which is PostgreSQL): reading into the data plane, bulk writes.

Reads go through connectorx (columnar, straight into Arrow) when every column converts
exactly — columns connectorx would round (wide numerics, json) are cast to text on the
server and parsed exactly by DuckDB — else through psycopg's `COPY (query) TO STDOUT` as
CSV, parsed by pyarrow; both read-only. A read whose only consumer is one writer hands
its rows over batch by batch (`stream`, runtime/streams.py) instead of loading a table.
Writes stream the input table (or the streamed rows) out as CSV and `COPY ... FROM STDIN`
it, all in one transaction: replace empties the target and COPYs straight into it, upsert
goes through a temporary staging table that vanishes with the transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from components.postgres.connect import connect_params
from components.protocol import DriverError, RowStream, StepContext, StepResult
from components.sql import io as sqlio
from components.sql.errors import DRIVER_HINTS, postgres_category, postgres_retryable
from components.sql.io import (
    with_native_text as _with_native_text,
)
from components.sql.params import FieldError, postgres_params

FIELDS = ("host", "port", "user", "password", "database", "schema", "sslmode")
SUPABASE_FIELDS = (*FIELDS, "url", "project_id", "pg_dsn")
#: sslmode values connectorx (rust-postgres) understands; others read through libpq.
_CONNECTORX_SSLMODES = (None, "disable", "prefer", "require")
#: connectorx's PostgreSQL protocol, chosen by bench/drivers.py.
CONNECTORX_PROTOCOL: Literal["cursor", "binary", "csv"] = "cursor"
#: Bytes pyarrow parses at a time from COPY's CSV; one row must fit in a block.
_CSV_BLOCK = 32 << 20

# ------------------------------------------------------------------------------ errors

_HINTS = {
    **DRIVER_HINTS,
    "permission": "grant the connection's role the privilege this step needs",
    "config": "check the connection's database and schema",
}
_SPECIFIC_HINTS = {
    "25006": "extract queries run in a read-only transaction; write with a writer component",
    "42P10": "upsert needs a primary key or unique index on exactly the primary_key columns",
}


def driver_error(
    sqlstate: str | None, message: str, action: str, fields: Mapping[str, Any]
) -> DriverError:
    """A DriverError for a PostgreSQL failure, scrubbed of the connection's secrets."""
    category = postgres_category(sqlstate, message) or "sql"
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return DriverError(
        sqlio.scrub(f"PostgreSQL {action} failed: {message.strip()}{code}", fields),
        category=category,
        retryable=postgres_retryable(sqlstate, category),
        hint=_SPECIFIC_HINTS.get(sqlstate or "", _HINTS.get(category)),
    )


def _connectorx_error(err: BaseException, fields: Mapping[str, Any]) -> Exception:
    """Translate a connectorx failure: a value it cannot convert makes the read fall back."""
    text = str(err)
    server = re.search(r'code: SqlState\(E?(\w+)\), message: "((?:[^"\\]|\\.)*)"', text)
    if server:
        return driver_error(server.group(1), server.group(2), "read", fields)
    if re.search(r"kind: (Io|Closed|Connect)|timed out waiting for connection", text):
        first_line = text.splitlines()[0]
        return driver_error(None, f"connection lost: {first_line}", "read", fields)
    first_line = text.splitlines()[0] if text else type(err).__name__
    return sqlio.Unreadable(
        sqlio.scrub(f"connectorx cannot read a value exactly: {first_line}", fields)
    )


# ------------------------------------------------------------------------------ server


def _params(fields: Mapping[str, Any]) -> dict[str, str]:
    """`postgres_params` of the fields; a field that cannot be used is a config DriverError."""
    try:
        return postgres_params(fields)
    except FieldError as err:
        raise DriverError(err.message, category="config", hint=err.hint) from None


def supabase_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """PostgreSQL connection fields for a Supabase connection: its `postgres_params`.

    From `pg_dsn`, or from `url` (https://<ref>.supabase.co) or `project_id` plus
    `password`: host db.<ref>.supabase.co, port 5432, user and database postgres, TLS
    required. Explicit host/port/user/database/sslmode fields win over derived ones.
    """
    named: dict[str, Any] = {
        ("database" if key == "dbname" else key): value for key, value in _params(fields).items()
    }
    port = named.get("port", "5432")  # the direct connection's (a pooler's is 6543)
    named["port"] = int(port) if port.isdigit() else port
    if fields.get("schema") not in (None, ""):
        named["schema"] = fields["schema"]
    return {**named, "pg_dsn": fields.get("pg_dsn")}


#: Fields Osiris reads itself; any other field of a connection is a libpq keyword.
_OSIRIS_FIELDS = {*SUPABASE_FIELDS, "dsn", "key"}


@dataclass(frozen=True)
class PostgresServer:
    """The connection fields of one step, and the ways to talk to that server."""

    fields: Mapping[str, Any]

    @classmethod
    def for_step(
        cls, ctx: StepContext, config: Mapping[str, Any], family: str = "postgres"
    ) -> PostgresServer:
        """The step's server; Supabase fields are turned into PostgreSQL ones first."""
        if family == "supabase":
            return cls(supabase_fields(sqlio.connection_fields(ctx, config, SUPABASE_FIELDS)))
        return cls(sqlio.connection_fields(ctx, config, FIELDS))

    @property
    def schema(self) -> str:
        return str(self.fields.get("schema") or "public")

    def libpq_params(self) -> dict[str, Any]:
        """Keyword arguments for psycopg.connect: `postgres_params`, any other libpq keyword
        given as a field, and localhost:5432, database postgres, for what none gives."""
        extra = {k: v for k, v in self.fields.items() if k not in _OSIRIS_FIELDS}
        defaults = {"host": "localhost", "port": "5432", "dbname": "postgres"}
        params = {**defaults, **extra, **_params(self.fields)}
        return {key: value for key, value in params.items() if value is not None}

    def connect(self) -> psycopg.Connection[Any]:
        """A psycopg connection (no automatic prepared statements: poolers dislike them)."""
        params = connect_params(
            self.fields, 10, application_name="osiris", base=self.libpq_params()
        )
        return psycopg.connect(**params, prepare_threshold=None)

    def connectorx_url(self) -> str | None:
        """The connection as a connectorx URL, or None when connectorx should not be used.

        Not through a transaction pooler (session settings would not stick), not with
        sslmode it does not implement, not with extra libpq parameters it would ignore.
        """
        params = self.libpq_params()
        pooled = str(params["port"]) == "6543" or "pooler.supabase.com" in str(params["host"])
        extra = set(params) - {"host", "port", "dbname", "user", "password", "sslmode"}
        if pooled or extra or params.get("sslmode") not in _CONNECTORX_SSLMODES:
            return None
        host = str(params["host"])
        host = f"[{host}]" if ":" in host else host
        user = quote(str(params.get("user") or ""), safe="")
        password = quote(str(params.get("password") or ""), safe="")
        url = f"postgresql://{user}:{password}@{host}:{params['port']}/"
        url += quote(str(params["dbname"]), safe="")
        return url + (f"?sslmode={params['sslmode']}" if params.get("sslmode") else "")

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn psycopg errors raised inside into scrubbed DriverErrors."""
        try:
            yield
        except psycopg.Error as err:
            message = (err.diag.message_primary if err.sqlstate else None) or str(err)
            raise driver_error(err.sqlstate, message, action, self.fields) from None


def qualified(schema: str, table: str) -> str:
    """ "schema"."table"."""
    return f"{sqlio.quote_ident(schema)}.{sqlio.quote_ident(table)}"


# ------------------------------------------------------------------------------ reading

_DIRECT = {
    16: "BOOLEAN",
    20: "BIGINT",
    21: "SMALLINT",
    23: "INTEGER",
    700: "FLOAT",
    701: "DOUBLE",
    1082: "DATE",
    1083: "TIME",
    1114: "TIMESTAMP",
    1184: "TIMESTAMP WITH TIME ZONE",
    2950: "UUID",
}
_TEXT = {18, 19, 25, 1042, 1043}
_BYTEA, _NUMERIC = 17, 1700
#: Read as text on the server, parsed exactly by DuckDB.
_VIA_TEXT = {114: "JSON", 3802: "JSON", 1186: "INTERVAL", 1266: "TIME WITH TIME ZONE"}


def _cast(name: str, duck_type: str, select: str | None = None, fast: bool = True) -> sqlio.Column:
    load = f"CAST({{c}} AS {duck_type})"
    return sqlio.Column(
        name, duck_type, text_load=load, fast_load=load if fast else None, select=select
    )


def _numeric(name: str, precision: int | None, scale: int | None) -> sqlio.Column:
    # connectorx reads numeric as decimal128(38, 10) through rust_decimal (28 digits), so
    # anything wider or finer is sent as its exact text instead.
    if precision is None or scale is None or scale < 0:
        return sqlio.Column(
            name, "VARCHAR", text_load="{c}", fast_load="{c}", select="{}::text", narrow=True
        )
    if precision > 38:
        return sqlio.Column(name, "VARCHAR", text_load="{c}", fast_load="{c}", select="{}::text")
    duck = f"DECIMAL({precision},{scale})"
    if precision <= 28 and scale <= 10:
        return _cast(name, duck)
    return _cast(name, duck, select="{}::text")


def postgres_column(column: Any, category: str) -> sqlio.Column:
    """The output column for one column of a result (psycopg's `Column`, pg_type category)."""
    name, oid = column.name, column.type_code
    if oid in _DIRECT:
        return _cast(name, _DIRECT[oid])
    if oid in _TEXT:
        return sqlio.Column(name, "VARCHAR", text_load="{c}", fast_load="{c}")
    if oid == _BYTEA:
        return sqlio.Column(name, "BLOB", text_load="from_hex(substr({c}, 3))", fast_load="{c}")
    if oid == _NUMERIC:
        return _numeric(name, column.precision, column.scale)
    if oid in _VIA_TEXT:
        return _cast(name, _VIA_TEXT[oid], select="{}::text")
    if category == "A":  # arrays arrive as JSON lists: exact, whatever the element type
        return _cast(name, "JSON", select="to_json({})::text")
    return sqlio.Column(name, "VARCHAR", text_load="{c}", fast_load="{c}", select="{}::text")


def read_settings(schema: str, timeout_s: float | None) -> dict[str, str]:
    """Settings of every read: UTC, ISO dates, exact floats, the schema, the time limit."""
    settings = {
        "TimeZone": "UTC",
        "DateStyle": "ISO, YMD",
        "IntervalStyle": "postgres",
        "extra_float_digits": "3",
        "bytea_output": "hex",
        # a backslash in '...' is a plain character, as the compiler's checks read it
        "standard_conforming_strings": "on",
        "search_path": ", ".join(dict.fromkeys([sqlio.quote_ident(schema), "public"])),
    }
    if timeout_s:
        settings["statement_timeout"] = str(int(float(timeout_s) * 1000))
    return settings


def source_query(config: Mapping[str, Any], schema: str) -> str:
    """The SELECT a step reads (PostgreSQL keeps a subquery's ORDER BY under a LIMIT)."""
    if config.get("query"):
        sql = re.sub(r"[\s;]+$", "", str(config["query"]))
        if config.get("limit") is not None:
            sql = f"SELECT * FROM (\n{sql}\n) AS _osiris_q LIMIT {int(config['limit'])}"
        return sql
    table_schema, table = sqlio.split_table(str(config["table"]), config.get("schema"))
    columns = config.get("columns")
    listed = ", ".join(sqlio.quote_ident(column) for column in columns) if columns else "*"
    sql = f"SELECT {listed} FROM {qualified(table_schema or schema, table)}"
    if config.get("limit") is not None:
        sql += f" LIMIT {int(config['limit'])}"
    if config.get("offset"):
        sql += f" OFFSET {int(config['offset'])}"
    return sql


#: PostgreSQL's predefined role (14+) that may read every table and do nothing else: no
#: server file (pg_read_file, COPY ... PROGRAM), no index or table it owns to change
#: (brin_summarize_new_values), no other session to end, no function only owners run.
READ_ONLY_ROLE = "pg_read_all_data"


def reading_role(server: PostgresServer) -> str | None:
    """`READ_ONLY_ROLE` when this login may take it on, else None.

    A read-only transaction stops writes to tables, not what functions do beside them; a
    superuser (or a member of the role) extracting as that role is refused them by the
    server's privilege checks, the compiler's checks aside. Other logins read as
    themselves: their own privileges are the lock (docs/security.md).
    """
    with closing(server.connect()) as conn:
        try:
            conn.execute("SELECT set_config('role', %s, true)", (READ_ONLY_ROLE,))
        except psycopg.Error:  # no such role (before 14), or this login may not take it
            return None
        finally:
            conn.rollback()
    return READ_ONLY_ROLE


def _begin_read(conn: psycopg.Connection[Any], settings: Mapping[str, str]) -> None:
    conn.read_only = True  # psycopg opens every transaction with BEGIN READ ONLY
    for name, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, true)", (name, value))


def probe(
    server: PostgresServer,
    sql: str,
    settings: Mapping[str, str],
    on_estimate: Callable[[int], None] | None = None,
) -> list[sqlio.Column]:
    """The result's columns, from `SELECT * FROM (query) LIMIT 0` (not run, only planned).

    Sent over the extended protocol (`binary=True`), which takes exactly one statement:
    a query that closes the parenthesis and stacks `; COMMIT; DROP ...` after it is a
    syntax error here, where the simple protocol would run every statement. The readers
    place the query in the same spot, so what passes here is one statement there too.
    """
    with closing(server.connect()) as conn:
        _begin_read(conn, settings)
        try:
            cursor = conn.execute(
                f"SELECT * FROM (\n{sql}\n) AS _osiris_probe LIMIT 0", binary=True
            )
        except psycopg.errors.SyntaxError as err:
            if "multiple commands" not in str(err):
                raise
            raise DriverError(
                "the extract query is more than one statement: none of them was run",
                category="sql",
                hint="write one SELECT; remove the ';' and what follows",
            ) from None
        described = list(cursor.description or [])
        if on_estimate is not None:
            estimate = planned_rows(conn, sql)
            if estimate is not None:
                on_estimate(estimate)
        oids = [column.type_code for column in described]
        categories = dict(
            conn.execute(
                "SELECT oid::int, typcategory FROM pg_type WHERE oid = ANY(%s)", (oids,)
            ).fetchall()
        )
        conn.rollback()
    return [postgres_column(column, categories.get(column.type_code, "")) for column in described]


def planned_rows(conn: psycopg.Connection[Any], sql: str) -> int | None:
    """The planner's row estimate for the query (EXPLAIN plans, never runs it), for
    sqlio.progress percent and ETA; None when it cannot say."""
    try:
        (plan,) = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", binary=True).fetchone() or (None,)
        rows = plan[0]["Plan"]["Plan Rows"] if plan else None
    except (psycopg.Error, KeyError, IndexError, TypeError):
        conn.rollback()
        return None
    return int(rows) if isinstance(rows, int | float) and rows > 0 else None


def server_query(sql: str, columns: Sequence[sqlio.Column]) -> str:
    """The query as sent: wrapped only when some column is cast on the server."""
    if not any(column.select for column in columns):
        return sql
    aliases = [f"c{i}" for i in range(len(columns))]
    selects = [
        (column.select.format(alias) if column.select else alias)
        + f" AS {sqlio.quote_ident(column.name)}"
        for column, alias in zip(columns, aliases, strict=True)
    ]
    return f"SELECT {', '.join(selects)} FROM (\n{sql}\n) AS _osiris_q({', '.join(aliases)})"


def connectorx_batches(
    server: PostgresServer, url: str, sql: str, settings: Mapping[str, str], size: int
) -> Iterator[pa.RecordBatch]:
    """The rows as connectorx's Arrow stream, one batch at a time.

    connectorx's reader thread keeps reading after its consumer leaves, so a read that
    stops early (cancel) cancels its query on the server, found by a tag comment.
    """
    import connectorx

    tag = f"osiris-read-{uuid.uuid4().hex}"
    # search_path is a list of identifiers (already quoted by read_settings): as one
    # string literal it would name a single schema called '"public", public'
    session = [
        f"SET {name} = {value if name == 'search_path' else _literal(value)}"
        for name, value in settings.items()
    ]
    # The read runs inside a transaction that is never committed (the connection closes
    # with it open): what a read-only transaction still allows — a large object made by
    # lo_import() or lo_from_bytea(), a pg_notify() — is rolled back with it.
    pre_execution = [
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        *session,
        "BEGIN READ ONLY",
    ]
    reader, finished = None, False
    with sqlio.native_stderr.captured(server.fields) as caught:
        try:
            reader = connectorx.read_sql(
                url,
                f"/* {tag} */ {sql}",
                return_type="arrow_stream",
                protocol=CONNECTORX_PROTOCOL,
                batch_size=size,
                pre_execution_query=pre_execution,
            )
            yield from reader
            finished = True
        except BaseException as err:
            if not (sqlio.is_panic(err) or isinstance(err, RuntimeError)):
                raise
            raise _with_native_text(_connectorx_error(err, server.fields), caught()) from None
        finally:
            if reader is not None:
                reader.close()
                if not finished:
                    cancel_tagged_query(server, tag)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cancel_tagged_query(server: PostgresServer, tag: str) -> None:
    """Cancel the server-side query whose text carries `tag`, if it still runs."""
    try:
        with closing(server.connect()) as conn:
            conn.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"%{tag}%",),
            )
    except psycopg.Error:
        pass  # best effort: the read already failed or was cancelled


class CopyStream:
    """A read-only file over psycopg's COPY TO STDOUT chunks, for pyarrow's CSV reader."""

    closed = False

    def __init__(self, chunks: Iterator[Any]) -> None:
        self._chunks = chunks
        self._pending: list[bytes] = []
        self._size = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or self._size < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending.append(bytes(chunk))
            self._size += len(chunk)
        data = b"".join(self._pending)
        cut = len(data) if size < 0 else size
        rest = data[cut:]
        self._pending, self._size = ([rest] if rest else []), len(rest)
        return data[:cut]


def copy_batches(
    server: PostgresServer, sql: str, settings: Mapping[str, str], columns: Sequence[sqlio.Column]
) -> Iterator[pa.RecordBatch]:
    """The rows as text through `COPY (query) TO STDOUT (FORMAT csv)`, parsed by pyarrow.

    CSV keeps NULL (unquoted empty) apart from '' (quoted empty); pyarrow parses in blocks,
    so memory stays bounded by the block size.
    """
    names = [f"c{i}" for i in range(len(columns))]
    conn = server.connect()
    try:
        _begin_read(conn, settings)
        with conn.cursor().copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            try:
                reader = pa_csv.open_csv(
                    CopyStream(iter(copy)),
                    read_options=pa_csv.ReadOptions(column_names=names, block_size=_CSV_BLOCK),
                    parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                    convert_options=pa_csv.ConvertOptions(
                        column_types=dict.fromkeys(names, pa.string()),
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=False,
                    ),
                )
            except pa.ArrowInvalid as err:
                if "Empty CSV file" not in str(err):
                    raise
                return
            yield from reader
        conn.rollback()
    finally:
        conn.close()


def extract(ctx: StepContext, config: Mapping[str, Any], family: str = "postgres") -> StepResult:
    """Read the step's table or query into `ctx.output_table`."""
    server = PostgresServer.for_step(ctx, config, family)
    with server.errors("read"):
        return sqlio.extract_into(ctx, _readers(ctx, config, server)[1])


def stream(
    ctx: StepContext, config: Mapping[str, Any], family: str = "postgres", sample_rows: int = 0
) -> RowStream | None:
    """The step's rows for the one writer that consumes them (see `sqlio.ReaderStream`),
    or None when they must be loaded whole first: an unconstrained numeric column takes
    its scale from all of its values (`sqlio.narrow_decimal`)."""
    server = PostgresServer.for_step(ctx, config, family)
    with server.errors("read"):
        columns, readers = _readers(ctx, config, server)
    if any(column.narrow for column in columns):
        return None
    return sqlio.ReaderStream(ctx, readers, lambda: server.errors("read"), sample_rows=sample_rows)


class Extractor:
    """The driver of postgres.extractor and supabase.extractor: `family` says which
    connection fields the step has."""

    family = "postgres"

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        return extract(ctx, config, self.family)

    def stream(
        self, ctx: StepContext, config: Mapping[str, Any], sample_rows: int = 0
    ) -> RowStream | None:
        """The rows for the one writer that consumes them, not loaded into a table."""
        return stream(ctx, config, self.family, sample_rows)


def _readers(
    ctx: StepContext, config: Mapping[str, Any], server: PostgresServer
) -> tuple[list[sqlio.Column], list[sqlio.Reader]]:
    """The query's columns (probed) and the readers of its rows, fastest first."""
    sql = sqlio.tagged(ctx, source_query(config, server.schema))  # found and stopped by a cancel
    settings = read_settings(server.schema, sqlio.read_time_limit(ctx, config))
    size = sqlio.batch_size(config)
    role = reading_role(server)
    if role is not None:
        settings["role"] = role
    columns = probe(server, sql, settings, on_estimate=lambda n: ctx.emit("read.start", estimate=n))
    sent = server_query(sql, columns)
    readers = []
    url = server.connectorx_url()
    if url and all(column.fast_load for column in columns):
        readers.append(
            sqlio.Reader(
                "connectorx",
                text=False,
                open=lambda: (columns, connectorx_batches(server, url, sent, settings, size)),
            )
        )
    readers.append(
        sqlio.Reader(
            "copy_csv",
            text=True,
            open=lambda: (columns, copy_batches(server, sent, settings, columns)),
        )
    )
    return columns, readers


# ------------------------------------------------------------------------------ writing

_PG_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "HUGEINT": "numeric(39,0)",
    "UHUGEINT": "numeric(39,0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIME WITH TIME ZONE": "timetz",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp(0)",
    "TIMESTAMP_MS": "timestamp(3)",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "BLOB": "bytea",
    "UUID": "uuid",
    "JSON": "jsonb",
    "VARCHAR": "text",
}


def _nested(duck_type: str) -> bool:
    return duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP", "UNION"))


def postgres_type(duck_type: str) -> str:
    """PostgreSQL column type for a DuckDB type."""
    if duck_type.startswith("DECIMAL"):
        return "numeric" + duck_type[len("DECIMAL") :]
    if _nested(duck_type):
        return "jsonb"
    return _PG_TYPES.get(duck_type, "text")


def export_expression(name: str, duck_type: str) -> str:
    """DuckDB expression writing the column as text COPY reads back exactly."""
    column = sqlio.quote_ident(name)
    if duck_type == "BLOB":
        return f"'\\x' || hex({column})"
    if _nested(duck_type):
        return f"to_json({column})"
    if duck_type == "BIT" or duck_type.startswith("ENUM"):
        return f"CAST({column} AS VARCHAR)"
    return column


#: The input's rows as CSV files, given the column expressions and DuckDB's COPY options
#: (`sqlio.export_csv` of a table, `sqlio.export_stream_csv` of a stream).
Export = Callable[[Sequence[str], str], AbstractContextManager[Iterator[Path | None]]]


@dataclass
class TableWriter:
    """One write of the step's rows into a PostgreSQL table, in one transaction."""

    ctx: StepContext
    conn: psycopg.Connection[Any]
    source_columns: list[tuple[str, str]]
    schema: str
    table: str
    export: Export
    #: The rows stream from the read step, whose reader may start again mid-way.
    streamed: bool = False

    @property
    def target(self) -> str:
        return qualified(self.schema, self.table)

    @property
    def source_names(self) -> list[str]:
        return [name for name, _ in self.source_columns]

    def target_columns(self) -> list[str] | None:
        """The target's columns in order, or None when it does not exist."""
        row = self.conn.execute("SELECT to_regclass(%s)::oid::int", (self.target,)).fetchone()
        if row is None or row[0] is None:
            return None
        names = self.conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (row[0],),
        ).fetchall()
        return [name for (name,) in names]

    def copy_rows(self, into: str, targets: Sequence[str], *, freeze: bool = False) -> int:
        """COPY every input row into `into` (its columns `targets`), file by file.

        `freeze` loads the rows already frozen, for a table created or emptied by TRUNCATE
        in this transaction (PostgreSQL refuses it otherwise): no reader or VACUUM has to
        set their hint bits or freeze them later. Streamed rows load under a savepoint
        instead, rolled back when the reader starts again (FREEZE refuses a savepoint).
        """
        expressions = [export_expression(name, kind) for name, kind in self.source_columns]
        # A lone `\.` line would end COPY's data: quote every value of a one-column table.
        options = "FORMAT csv, HEADER false" + (", FORCE_QUOTE *" if len(targets) == 1 else "")
        freeze = freeze and not self.streamed
        statement = (
            f"COPY {into} ({', '.join(sqlio.quote_ident(name) for name in targets)}) "
            f"FROM STDIN (FORMAT csv{', FREEZE' if freeze else ''})"
        )
        rows = 0
        with self.export(expressions, options) as files, self.conn.cursor() as cursor:
            if self.streamed:
                cursor.execute("SAVEPOINT osiris_rows")
            for path in files:
                if path is None:  # the reader started again: so do the rows
                    cursor.execute("ROLLBACK TO SAVEPOINT osiris_rows")
                    rows = 0
                    continue
                with cursor.copy(statement) as copy, path.open("rb") as data:
                    while block := data.read(1 << 20):
                        copy.write(block)
                rows += max(cursor.rowcount, 0)
                path.unlink()
                sqlio.progress(self.ctx, rows, self.target)
        return rows

    def create(self, key: Sequence[str]) -> int:
        columns = [
            f"{sqlio.quote_ident(name)} {postgres_type(kind)}" for name, kind in self.source_columns
        ]
        if key:
            columns.append(f"PRIMARY KEY ({', '.join(sqlio.quote_ident(name) for name in key)})")
        self.conn.execute(f"CREATE TABLE {self.target} ({', '.join(columns)})")
        return self.copy_rows(self.target, self.source_names, freeze=True)

    def stage(self, targets: Sequence[str]) -> tuple[str, int]:
        """COPY the rows into a temporary table shaped like the target's columns."""
        staging = sqlio.quote_ident("_osiris_stg")
        listed = ", ".join(sqlio.quote_ident(name) for name in targets)
        self.conn.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {listed} FROM {self.target} WITH NO DATA"
        )
        return staging, self.copy_rows(staging, targets, freeze=True)

    def replace(self, targets: Sequence[str]) -> int:
        """Empty the target and COPY the rows straight into it, within the one transaction.

        No staging table: a failure rolls the emptying back with the rest, and the rows
        are loaded once, by COPY's bulk path, instead of twice (COPY, then INSERT ...
        SELECT). A table other tables reference is emptied by DELETE (TRUNCATE refuses
        it); only a plain table emptied by TRUNCATE can take its rows frozen (not a
        partitioned one).
        """
        kind, referenced = self.conn.execute(
            "SELECT c.relkind, EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid "
            "AND f.contype = 'f') FROM pg_class c WHERE c.oid = to_regclass(%s)",
            (self.target,),
        ).fetchall()[0]
        self.conn.execute(f"{'DELETE FROM' if referenced else 'TRUNCATE'} {self.target}")
        return self.copy_rows(self.target, targets, freeze=kind == "r" and not referenced)

    def upsert(self, targets: Sequence[str], key: Sequence[str]) -> int:
        """INSERT ... ON CONFLICT (primary_key) DO UPDATE from staging."""
        staging, rows = self.stage(targets)
        key_targets = [targets[self.source_names.index(name)] for name in key]
        listed = ", ".join(sqlio.quote_ident(name) for name in targets)
        updates = [
            f"{sqlio.quote_ident(name)} = EXCLUDED.{sqlio.quote_ident(name)}"
            for name in targets
            if name not in key_targets
        ]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        self.ctx.emit("write.phase", phase="merge", table=self.target)
        conflict = ", ".join(sqlio.quote_ident(name) for name in key_targets)
        self.conn.execute(
            f"INSERT INTO {self.target} ({listed}) SELECT {listed} FROM {staging} "
            f"ON CONFLICT ({conflict}) {action}"
        )
        return rows


def write(
    ctx: StepContext,
    config: Mapping[str, Any],
    inputs: Mapping[str, str],
    family: str = "postgres",
) -> StepResult:
    """Write the step's one input into its PostgreSQL table in `write_mode`, atomically."""
    server = PostgresServer.for_step(ctx, config, family)
    source = sqlio.single_input(inputs)
    columns = sqlio.input_columns(ctx.data_plane, source)
    rows_in = sqlio.count_rows(ctx.data_plane, source)
    size = sqlio.batch_size(config)

    def export(expressions: Sequence[str], options: str) -> Any:  # an Export
        return sqlio.export_csv(ctx.data_plane, source, expressions, options, size)

    rows, details = _write(ctx, config, server, columns, rows_in, export)
    return StepResult(rows_read=rows_in, rows_written=rows, details=details)


def write_stream(
    ctx: StepContext, config: Mapping[str, Any], stream: RowStream, family: str = "postgres"
) -> StepResult:
    """Write the rows a read step streams (`RowStream`) in `write_mode`, atomically: each
    batch is exported and COPYed while the reader reads the next, so the read and the
    load overlap and no data-plane table holds the rows in between."""
    server = PostgresServer.for_step(ctx, config, family)
    restarts: list[bool] = []
    relations = stream.relations(ctx.data_plane, lambda: restarts.append(True))
    try:
        first = next(relations)  # the columns are known from the first relation on
        restarts.clear()  # a restart before it dropped nothing

        def restarted() -> bool:
            happened = bool(restarts)
            restarts.clear()
            return happened

        def rest() -> Iterator[Any]:
            yield first
            yield from relations

        def export(expressions: Sequence[str], options: str) -> Any:
            return sqlio.export_stream_csv(ctx.data_plane, rest(), restarted, expressions, options)

        columns = list(stream.columns)
        rows, details = _write(ctx, config, server, columns, None, export, streamed=True)
    finally:
        close = getattr(relations, "close", None)  # the reader's cursors, if it stopped early
        if close is not None:
            close()
    return StepResult(rows_read=stream.rows, rows_written=rows, details=details)


def _write(
    ctx: StepContext,
    config: Mapping[str, Any],
    server: PostgresServer,
    columns: list[tuple[str, str]],
    rows_in: int | None,
    export: Export,
    streamed: bool = False,
) -> tuple[int, dict[str, Any]]:
    """The write itself, whichever way the rows come: (rows written, the step's details)."""
    mode, key = sqlio.check_write_config(config, [name for name, _ in columns])
    schema, table = sqlio.split_table(str(config["table"]), config.get("schema"))
    schema = schema or server.schema
    ctx.emit("write.start", total=rows_in, table=f"{schema}.{table}")
    with server.errors("write"), closing(server.connect()) as conn, conn.transaction():
        conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
        writer = TableWriter(ctx, conn, columns, schema, table, export, streamed)
        rows, created = sqlio.write_by_mode(
            writer, config, mode, key, lambda targets: writer.copy_rows(writer.target, targets)
        )
    return rows, {"table": f"{schema}.{table}", "write_mode": mode, "created": created}
