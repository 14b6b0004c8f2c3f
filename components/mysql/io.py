"""MySQL and MariaDB: reading a query into the data plane, bulk-writing a data-plane table.

Reads go through connectorx (columnar, about 1-2M rows/s, straight into Arrow) when every
column of the result converts exactly, else through PyMySQL's streaming cursor as text,
which DuckDB casts; both run in a read-only transaction. Writes stream the input table out
as CSV files and `LOAD DATA LOCAL INFILE` them (INSERT batches when the server forbids
LOCAL), inside one transaction or into a staging table that is swapped in atomically.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.converters
import pymysql.cursors
from pymysql.constants import COMMAND

from components.common.quoting import quote_identifier
from components.mysql.connect import connect, connectorx_url
from components.mysql.types import export_expression, mysql_column, mysql_type, row_expression
from components.protocol import DriverError, RowStream, StepContext, StepResult
from components.sql import io as sqlio
from components.sql.errors import DRIVER_HINTS, mysql_category, mysql_retryable
from components.sql.params import FieldError

FIELDS = ("host", "port", "user", "password", "database")
#: How long a driver waits for the server to accept a connection.
CONNECT_TIMEOUT_S = 10

# ------------------------------------------------------------------------------ errors

_HINTS = {
    **DRIVER_HINTS,
    "permission": "grant the connection's user the privilege this step needs",
    "config": "check the connection's database and the server's settings",
}


def driver_error(errno: int, message: str, action: str, fields: Mapping[str, Any]) -> DriverError:
    """A DriverError for MySQL error `errno`, its message scrubbed of the connection's secrets."""
    category = mysql_category(errno) or "sql"
    hint = _HINTS.get(category)
    if errno == 1792:
        hint = "extract queries run in a read-only transaction; write with mysql.writer"
    return DriverError(
        sqlio.scrub(f"MySQL {action} failed: {message} (error {errno})", fields),
        category=category,
        retryable=mysql_retryable(errno),
        hint=hint,
    )


def _connectorx_error(err: BaseException, fields: Mapping[str, Any]) -> Exception:
    """Translate a connectorx failure: a value it cannot convert makes the read fall back."""
    text = str(err)
    server = re.search(r"ERROR (\d+) \(\w+\): (.*?) \}", text, re.S)
    if server:
        return driver_error(int(server.group(1)), server.group(2), "read", fields)
    # A link cut mid-stream (server restarted, connection killed) surfaces as a CodecError
    # wrapping an IO error: the read failed, not a value; reading again elsewhere would hide it
    if re.search(
        r"DriverError|IoError|CodecError|IO error|timed out waiting for connection|disconnected",
        text,
    ):
        return DriverError(
            sqlio.scrub(f"MySQL read failed: {text.splitlines()[0]}", fields),
            category="network",
            retryable=True,
            hint=_HINTS["network"],
        )
    first_line = text.splitlines()[0] if text else type(err).__name__
    return sqlio.Unreadable(
        sqlio.scrub(f"connectorx cannot read a value exactly: {first_line}", fields)
    )


# ------------------------------------------------------------------------------ server


@dataclass(frozen=True)
class MySQLServer:
    """The connection fields of one step, and the ways to talk to that server."""

    fields: Mapping[str, Any]

    @classmethod
    def for_step(cls, ctx: StepContext, config: Mapping[str, Any]) -> MySQLServer:
        """The step's server: the resolved connection, inline connection fields on top."""
        return cls(sqlio.connection_fields(ctx, config, FIELDS))

    def connect(self, **options: Any) -> pymysql.connections.Connection:
        """A PyMySQL connection speaking utf8mb4 (`components.mysql.connect`)."""
        try:
            return connect(self.fields, CONNECT_TIMEOUT_S, **options)
        except FieldError as err:
            raise DriverError(err.message, category="config", hint=err.hint) from None

    def connectorx_url(self) -> str:
        """The connection as a connectorx URL (TCP even for localhost, so the same account)."""
        try:
            return connectorx_url(self.fields)
        except FieldError as err:
            raise DriverError(err.message, category="config", hint=err.hint) from None

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn PyMySQL errors raised inside into scrubbed DriverErrors."""
        try:
            yield
        except pymysql.MySQLError as err:
            errno = err.args[0] if err.args and isinstance(err.args[0], int) else 2013
            message = err.args[1] if len(err.args) > 1 else str(err)
            if errno == 0:  # PyMySQL's word for a connection it already saw close
                errno, message = 2013, message or "the connection to the server was closed"
            raise driver_error(errno, str(message), action, self.fields) from None
        except AttributeError as err:
            # PyMySQL drops its socket when the server cuts the connection during a
            # LOAD DATA LOCAL upload, then writes the next chunk to None: a lost connection.
            if not _raised_in_pymysql(err):
                raise
            message = "the connection to the server was lost while sending rows"
            raise driver_error(2013, message, action, self.fields) from None


def _raised_in_pymysql(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "pymysql" in tb.tb_frame.f_code.co_filename


def quote_name(name: str) -> str:
    """A MySQL identifier: a`b → `a``b`."""
    return quote_identifier(name, "mysql")


def qualified(database: str | None, table: str) -> str:
    """`database`.`table`, or just `table`."""
    return f"{quote_name(database)}.{quote_name(table)}" if database else quote_name(table)


# ------------------------------------------------------------------------------ reading

#: PyMySQL converters without decoders: result values stay the server's text (or bytes).
_ENCODERS_ONLY = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


_LEXING_MODES = ("NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI", "ORACLE", "MSSQL", "DB2",
                 "POSTGRESQL", "MAXDB")  # fmt: skip


def _without_modes(modes: Sequence[str]) -> str:
    expression = "CONCAT(',', @@SESSION.sql_mode, ',')"
    for mode in modes:
        expression = f"REPLACE({expression}, ',{mode},', ',')"
    return f"SET SESSION sql_mode = TRIM(BOTH ',' FROM {expression})"


LEXING_AS_CHECKED = _without_modes(_LEXING_MODES)


def read_session(flavor: str, timeout_s: float | None) -> list[str]:
    """Session settings of every read: read-only, UTC, SQL read as the compiler read it,
    and the server-side time limit."""
    session = ["SET SESSION TRANSACTION READ ONLY", "SET time_zone = '+00:00'", LEXING_AS_CHECKED]
    if timeout_s:
        if flavor == "mariadb":
            session.append(f"SET SESSION max_statement_time = {float(timeout_s)}")
        else:
            session.append(f"SET SESSION max_execution_time = {int(float(timeout_s) * 1000)}")
    return session


def source_query(config: Mapping[str, Any]) -> tuple[str, int | None]:
    """The SELECT a step reads, and the row limit to apply while reading (for `query`).

    A `query`'s limit is applied by the reader: MariaDB ignores an ORDER BY inside a
    derived table, so wrapping the query in `SELECT ... LIMIT n` could pick other rows.
    """
    if config.get("query"):
        query = re.sub(r"[\s;]+$", "", str(config["query"]))
        limit = config.get("limit")
        return query, None if limit is None else int(limit)
    schema, table = sqlio.split_table(str(config["table"]), config.get("schema"))
    columns = config.get("columns")
    listed = ", ".join(quote_name(column) for column in columns) if columns else "*"
    sql = f"SELECT {listed} FROM {qualified(schema, table)}"
    if config.get("limit") is not None:
        sql += f" LIMIT {int(config['limit'])}"
    if config.get("offset"):
        sql += "" if config.get("limit") is not None else " LIMIT 18446744073709551615"
        sql += f" OFFSET {int(config['offset'])}"
    return sql, None


def probe(
    server: MySQLServer,
    sql: str,
    timeout_s: float | None,
    on_estimate: Callable[[int], None] | None = None,
) -> tuple[list[str], Any]:
    """The read session for this server, and the result's fields (None: not describable).

    First the server parses the statement without running it (`require_rows`): one
    statement that returns rows, or nothing runs at all. The fields then come from
    `SELECT * FROM (query) LIMIT 0`, which the server answers without running the query.
    A query that cannot be wrapped (`... WITH ROLLUP`) is left to the text reader, which
    runs it as written, in the read-only transaction — and so is every query when the
    server's own sql_mode reads SQL differently: connectorx describes a query on a
    connection of its own, before the session settings, and would get other columns.
    """
    with closing(server.connect()) as conn, conn.cursor() as cursor:
        flavor = "mariadb" if "mariadb" in conn.get_server_info().lower() else "mysql"
        cursor.execute("SELECT @@SESSION.sql_mode")
        modes = set(str(cursor.fetchone()[0] or "").upper().split(","))
        session = read_session(flavor, timeout_s)
        for statement in session:
            cursor.execute(statement)
        cursor.execute("START TRANSACTION READ ONLY")
        require_rows(conn, sql)
        try:
            cursor.execute(f"SELECT * FROM (\n{sql}\n) AS _osiris_probe LIMIT 0")
        except pymysql.MySQLError as err:
            if err.args[0] == 1060:
                raise DriverError(
                    f"the query returns more than one column with the same name: {err.args[1]}",
                    category="sql",
                    hint="give each column a distinct alias (SELECT a.id AS order_id, ...)",
                ) from None
            if err.args[0] in (1064, 1149):
                return session, None
            raise
        fields = cursor._result.fields  # PEP 249's description lacks charset and flags
        if on_estimate is not None:
            estimate = planned_rows(cursor, sql)
            if estimate is not None:
                on_estimate(estimate)
        if modes & set(_LEXING_MODES):
            return session, None
        return session, fields


def planned_rows(cursor: Any, sql: str) -> int | None:
    """The optimizer's row estimate when the query reads one table (EXPLAIN plans, never
    runs it), for progress percent and ETA; None for joins, derived tables, or no answer."""
    try:
        cursor.execute(f"EXPLAIN {sql}")
        names = [d[0].lower() for d in cursor.description or ()]
        plan = cursor.fetchall()
    except pymysql.MySQLError:
        return None
    if len(plan) != 1 or "rows" not in names or "select_type" not in names:
        return None
    row = dict(zip(names, plan[0], strict=False))
    rows = str(row.get("rows") or "")  # MariaDB answers it as text
    if row.get("select_type") != "SIMPLE" or not rows.isdigit() or int(rows) == 0:
        return None
    return int(rows)


def require_rows(conn: pymysql.connections.Connection, sql: str) -> None:
    """Refuse, before it runs, anything but one statement that returns rows.

    COM_STMT_PREPARE has the server parse the statement without executing it and answer
    with its number of result columns. A syntax error or a second statement fails here;
    a statement without a result — `SELECT ... INTO OUTFILE/DUMPFILE/@var`, SET, CALL,
    DO, LOAD DATA, HANDLER — is refused: a read-only transaction does not stop
    `INTO OUTFILE` from writing a file on the server. (PyMySQL has no public API for
    this command: it is sent and its answer read with the connection's packet methods.)
    """
    conn._execute_command(COMMAND.COM_STMT_PREPARE, sql)
    answer = conn._read_packet().get_all_data()  # an error packet raises here
    statement_id, columns, params = struct.unpack_from("<IHH", answer, 1)
    try:
        # parameter and column definitions, each list followed by an EOF packet
        for _ in range(params + bool(params) + columns + bool(columns)):
            conn._read_packet()
    finally:
        conn._execute_command(COMMAND.COM_STMT_CLOSE, struct.pack("<I", statement_id))
    if columns == 0:
        raise DriverError(
            "the extract statement returns no rows, so it was not run: only a query that "
            "returns rows is (not SELECT ... INTO, SET, CALL, DO or LOAD DATA)",
            category="sql",
            hint="write one SELECT; the step's output is its result",
        )


def connectorx_batches(
    server: MySQLServer, sql: str, session: Sequence[str], size: int
) -> Iterator[pa.RecordBatch]:
    """The rows as connectorx's Arrow stream, one batch at a time.

    connectorx's reader thread keeps reading after its consumer leaves, so a read that
    stops early (cancel, limit) kills its query on the server, found by a tag comment.
    """
    import connectorx

    tag = f"osiris-read-{uuid.uuid4().hex}"
    reader, finished = None, False
    with sqlio.native_stderr.captured(server.fields) as caught:
        try:
            reader = connectorx.read_sql(
                server.connectorx_url(),
                f"/* {tag} */ {sql}",
                return_type="arrow_stream",
                batch_size=size,
                pre_execution_query=[*session, "START TRANSACTION READ ONLY"],
            )
            yield from reader
            finished = True
        except BaseException as err:
            if not (sqlio.is_panic(err) or isinstance(err, RuntimeError)):
                raise
            raise sqlio.with_native_text(_connectorx_error(err, server.fields), caught()) from None
        finally:
            if reader is not None:
                reader.close()
                if not finished:
                    kill_tagged_query(server, tag)


def kill_tagged_query(server: MySQLServer, tag: str) -> None:
    """Stop the server-side query whose text carries `tag`, if it still runs."""
    try:
        with closing(server.connect()) as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                (f"%{tag}%",),
            )
            for (thread,) in cursor.fetchall():
                cursor.execute(f"KILL QUERY {int(thread)}")
    except pymysql.MySQLError:
        pass  # best effort: the read already failed or was cancelled


def text_batches(
    server: MySQLServer, sql: str, session: Sequence[str], size: int
) -> tuple[list[sqlio.Column], Iterator[pa.RecordBatch]]:
    """The rows as text through PyMySQL's unbuffered cursor, with no Python conversions."""
    conn = server.connect(conv=_ENCODERS_ONLY, cursorclass=pymysql.cursors.SSCursor)
    try:
        cursor = conn.cursor()
        for statement in [*session, "START TRANSACTION READ ONLY"]:
            cursor.execute(statement)
        cursor.execute(sql)
        fields = getattr(cursor._result, "fields", None) or []
    except BaseException:
        conn.close()
        raise
    if not fields:
        conn.close()
        raise DriverError("the extract statement returns no columns", category="sql")
    columns = [mysql_column(field) for field in fields]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            while rows := cursor.fetchmany(size):
                yield sqlio.text_batch(rows, columns)
        finally:
            conn.close()  # not cursor.close(), which would first read every remaining row

    return columns, batches()


def extract(ctx: StepContext, config: Mapping[str, Any]) -> StepResult:
    """Read the step's table or query into `ctx.output_table`."""
    server = MySQLServer.for_step(ctx, config)
    with server.errors("read"):
        readers, limit = _readers(ctx, config, server)
        return sqlio.extract_into(ctx, readers, limit=limit)


def stream(ctx: StepContext, config: Mapping[str, Any], sample_rows: int = 0) -> RowStream:
    """The step's rows for the one writer that consumes them (see `sqlio.ReaderStream`)."""
    server = MySQLServer.for_step(ctx, config)
    with server.errors("read"):
        readers, limit = _readers(ctx, config, server)
    return sqlio.ReaderStream(
        ctx, readers, lambda: server.errors("read"), limit=limit, sample_rows=sample_rows
    )


def _readers(
    ctx: StepContext, config: Mapping[str, Any], server: MySQLServer
) -> tuple[list[sqlio.Reader], int | None]:
    """The readers of the step's rows, fastest first, after a probe of the query; the
    row limit the query could not say itself."""
    sql, limit = source_query(config)
    sql = sqlio.tagged(ctx, sql)  # every statement of the read can be found and stopped by a cancel
    size = sqlio.batch_size(config)
    session, fields = probe(
        server,
        sql,
        sqlio.read_time_limit(ctx, config),
        on_estimate=lambda n: ctx.emit("read.start", estimate=n),
    )
    readers = []
    if fields is not None:
        columns = [mysql_column(field) for field in fields]
        if all(column.fast_load for column in columns):
            readers.append(
                sqlio.Reader(
                    "connectorx",
                    text=False,
                    open=lambda: (columns, connectorx_batches(server, sql, session, size)),
                )
            )
    readers.append(
        sqlio.Reader("pymysql", text=True, open=lambda: text_batches(server, sql, session, size))
    )
    return readers, limit


# ------------------------------------------------------------------------------ writing

_CSV_OPTIONS = "FORMAT csv, HEADER false, NULLSTR 'NULL', FORCE_QUOTE *"
_LOAD_FORMAT = (
    "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
    "ESCAPED BY '' LINES TERMINATED BY '\\n'"
)


def local_infile_enabled(conn: pymysql.connections.Connection) -> bool:
    """Whether the server accepts LOAD DATA LOCAL (MySQL 8 disables it by default)."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.local_infile")
        return bool(int(cursor.fetchone()[0]))


def raise_on_warnings(cursor: Any, table: str) -> None:
    """Fail on any warning: with LOCAL, MySQL turns bad rows into warnings and goes on."""
    cursor.execute("SHOW WARNINGS")
    problems = [row for row in cursor.fetchall() if row[0] in ("Warning", "Error")]
    if problems:
        shown = "; ".join(str(row[2]) for row in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DriverError(
            f"MySQL rejected rows written to {table}: {shown}{more}",
            category="data",
            hint="the table was left as it was; fix the rows or the column types",
        )


@dataclass
class TableWriter:
    """One write of a data-plane table into a MySQL table, in the step's write_mode."""

    ctx: StepContext
    conn: pymysql.connections.Connection
    source: str
    source_columns: list[tuple[str, str]]
    database: str
    table: str
    size: int

    @property
    def target(self) -> str:
        return qualified(self.database, self.table)

    def target_columns(self) -> list[str] | None:
        """The target's columns in order, or None when it does not exist."""
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (self.database, self.table),
            )
            names = [row[0] for row in cursor.fetchall()]
        return names or None

    #: Names this write's staging tables (`_osiris_<role>_<table>_<token>`) and its lock.
    token: str = ""

    def __post_init__(self) -> None:
        self.token = self.token or uuid.uuid4().hex[:8]

    def staging_name(self, role: str) -> str:
        return f"_osiris_{role}_{self.table[:24]}_{self.token}"

    def claim_staging(self) -> None:
        """Hold this write's staging lock, then drop the target's stale staging tables.

        Staging tables are real tables: a writer killed mid-load (SIGKILL, its server
        restarted) cannot drop its own. Each writer holds the named lock of its token for
        as long as its connection lives, and the server frees it when the connection ends
        however it ends, so a staging table whose lock is free belongs to no one.
        """
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 0)", (_STAGING_LOCK.format(self.token),))
            cursor.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE %s",
                (self.database, "\\_osiris\\_%"),
            )
            pattern = re.compile(
                rf"_osiris_(?:new|stg|old)_{re.escape(self.table[:24])}_([0-9a-f]{{8}})"
            )
            stale = []
            for (name,) in cursor.fetchall():
                found = pattern.fullmatch(str(name))
                if found is None or found.group(1) == self.token:
                    continue
                cursor.execute("SELECT IS_FREE_LOCK(%s)", (_STAGING_LOCK.format(found.group(1)),))
                if cursor.fetchone()[0] == 1:
                    with suppress(pymysql.MySQLError):  # cleaning up must not fail the write
                        cursor.execute(f"DROP TABLE IF EXISTS {qualified(self.database, name)}")
                        stale.append(str(name))
        if stale:
            self.ctx.emit("write.cleanup", table=self.target, dropped=stale)

    def execute(self, *statements: str) -> None:
        with self.conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    # -- loading rows

    def load(self, into: str, targets: Sequence[str]) -> int:
        """Send every input row into table `into` (its columns `targets`), batch by batch."""
        if local_infile_enabled(self.conn):
            return self.load_files(into, targets)
        return self.insert_rows(into, targets)

    def load_files(self, into: str, targets: Sequence[str]) -> int:
        exports = [export_expression(name, kind) for name, kind in self.source_columns]
        fields, sets = [], []
        for position, (target, (_, setter)) in enumerate(zip(targets, exports, strict=True)):
            if setter is None:
                fields.append(quote_name(target))
            else:
                fields.append(f"@v{position}")
                sets.append(f"{quote_name(target)} = {setter.format(v=f'@v{position}')}")
        tail = f"({', '.join(fields)})" + (f" SET {', '.join(sets)}" if sets else "")
        plane, expressions = self.ctx.data_plane, [expression for expression, _ in exports]
        rows = 0
        with sqlio.export_csv(plane, self.source, expressions, _CSV_OPTIONS, self.size) as files:
            for path in files:
                rows += self.load_file(path, into, tail)
                path.unlink()
                sqlio.progress(self.ctx, rows, self.target)
        return rows

    def load_file(self, path: Path, into: str, tail: str) -> int:
        with self.conn.cursor() as cursor:
            loaded = cursor.execute(
                f"LOAD DATA LOCAL INFILE {self.conn.escape(str(path))} INTO TABLE {into} "
                f"{_LOAD_FORMAT} {tail}"
            )
            raise_on_warnings(cursor, self.target)
        return int(loaded)

    def insert_rows(self, into: str, targets: Sequence[str]) -> int:
        """The slower path for servers without LOCAL: multi-row INSERTs of `size` rows."""
        expressions = [row_expression(name, kind) for name, kind in self.source_columns]
        names = ", ".join(quote_name(target) for target in targets)
        statement = (
            (f"INSERT INTO {into} ({names}) VALUES ({', '.join(['%s'] * len(targets))})")
            .replace("%", "%%")
            .replace("%%s", "%s")
        )
        rows = 0
        reader = self.ctx.data_plane.cursor()  # its own result, streamed in `size` rows
        try:
            reader.execute(f"SELECT {', '.join(expressions)} FROM {self.source}")
            with self.conn.cursor() as cursor:
                while batch := reader.fetchmany(self.size):
                    cursor.executemany(statement, batch)
                    rows += len(batch)
                    sqlio.progress(self.ctx, rows, self.target)
        finally:
            reader.close()
        return rows

    # -- the write modes

    def create(self, key: Sequence[str]) -> int:
        """A missing target: load a new table under a staging name, then rename it in."""
        staging = qualified(self.database, self.staging_name("new"))
        self.execute(f"CREATE TABLE {staging} ({self.definition(key)}) {_TABLE_OPTIONS}")
        try:
            rows = self.load(staging, [name for name, _ in self.source_columns])
            self.conn.commit()
            self.execute(f"RENAME TABLE {staging} TO {self.target}")
        except BaseException:
            self.drop_quietly(staging)
            raise
        return rows

    def definition(self, key: Sequence[str]) -> str:
        lengths = self.key_lengths(key)
        columns = [
            f"{quote_name(name)} {mysql_type(kind, lengths.get(name))}"
            + (" NOT NULL" if name in key else "")
            for name, kind in self.source_columns
        ]
        if key:
            columns.append(f"PRIMARY KEY ({', '.join(quote_name(name) for name in key)})")
        return ", ".join(columns)

    def key_lengths(self, key: Sequence[str]) -> dict[str, int]:
        """Longest value of each text key column, to size its VARCHAR."""
        texts = [name for name, kind in self.source_columns if name in key and kind in _KEYED]
        lengths = {}
        for name in texts:
            column = '"' + name.replace('"', '""') + '"'
            (longest,) = self.ctx.data_plane.execute(
                f"SELECT coalesce(max(octet_length(CAST({column} AS BLOB))), 0) FROM {self.source}"
                if dict(self.source_columns)[name] == "BLOB"
                else f"SELECT coalesce(max(length({column})), 0) FROM {self.source}"
            ).fetchone()
            lengths[name] = int(longest)
        return lengths

    def append(self, targets: Sequence[str]) -> int:
        """Load straight into the target inside one transaction."""
        try:
            rows = self.load(self.target, targets)
            self.conn.commit()
        except BaseException:
            self.rollback_quietly()
            raise
        return rows

    def replace(self, targets: Sequence[str]) -> int:
        """Load a copy of the target's definition, then swap it in with one RENAME."""
        staging = qualified(self.database, self.staging_name("stg"))
        retired = qualified(self.database, self.staging_name("old"))
        self.execute(f"CREATE TABLE {staging} LIKE {self.target}")
        try:
            rows = self.load(staging, targets)
            self.conn.commit()
            self.execute(f"RENAME TABLE {self.target} TO {retired}, {staging} TO {self.target}")
        except BaseException:
            self.drop_quietly(staging)
            raise
        # the target is replaced: failing to drop the old rows now must not fail the write
        # (the next write of this target drops them: claim_staging)
        self.drop_quietly(retired)
        return rows

    def upsert(self, targets: Sequence[str], key: Sequence[str]) -> int:
        """Load a temporary table, then INSERT ... ON DUPLICATE KEY UPDATE in one transaction."""
        self.require_unique_key([targets[self.source_names.index(name)] for name in key])
        staging = quote_name(self.staging_name("ups"))
        self.execute(f"CREATE TEMPORARY TABLE {staging} LIKE {self.target}")
        listed = ", ".join(quote_name(name) for name in targets)
        key_targets = {targets[self.source_names.index(name)] for name in key}
        updates = [f"{quote_name(n)} = VALUES({quote_name(n)})" for n in targets]
        updates = [u for u, n in zip(updates, targets, strict=True) if n not in key_targets]
        first = quote_name(targets[0])
        try:
            rows = self.load(staging, targets)
            self.ctx.emit("write.phase", phase="merge", table=self.target)
            self.execute(
                f"INSERT INTO {self.target} ({listed}) SELECT {listed} FROM {staging} "
                f"ON DUPLICATE KEY UPDATE {', '.join(updates) or f'{first} = {first}'}"
            )
            self.conn.commit()
        except BaseException:
            self.rollback_quietly()
            raise
        finally:
            self.drop_quietly(staging, temporary=True)
        return rows

    @property
    def source_names(self) -> list[str]:
        return [name for name, _ in self.source_columns]

    def require_unique_key(self, key: Sequence[str]) -> None:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME) FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0 "
                "GROUP BY INDEX_NAME",
                (self.database, self.table),
            )
            unique = [set(str(columns).split(",")) for _, columns in cursor.fetchall()]
        if set(key) not in unique:
            raise DriverError(
                f"upsert into {self.target} needs a primary key or unique index on "
                f"({', '.join(key)})",
                category="config",
                hint=f"ALTER TABLE {self.target} ADD UNIQUE ({', '.join(key)}), or change "
                "primary_key to the table's key",
            )

    def rollback_quietly(self) -> None:
        """Roll back on the way out of a failure, never masking that failure (a rollback
        on a connection the server cut raises too, and would hide why it was cut)."""
        with suppress(pymysql.MySQLError):
            self.conn.rollback()

    def drop_quietly(self, table: str, temporary: bool = False) -> None:
        """Drop a staging table on the way out of a failure, never masking that failure.

        A real staging table outlives a connection the server cut: it is dropped over a
        new connection when the server answers (else by the next write: claim_staging).
        """
        self.rollback_quietly()
        try:
            if not temporary and not self.conn.open:
                self.conn.ping(reconnect=True)
            self.execute(f"DROP {'TEMPORARY ' if temporary else ''}TABLE IF EXISTS {table}")
        except pymysql.MySQLError:
            pass


_KEYED = ("VARCHAR", "BLOB")
#: The named lock a writer holds while its staging tables exist (see claim_staging).
_STAGING_LOCK = "osiris_staging_{}"
_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"


def write_session(conn: pymysql.connections.Connection) -> None:
    """Strict, UTC: a value that does not fit fails instead of being adjusted."""
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')")
        cursor.execute("SET time_zone = '+00:00'")


def write(ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]) -> StepResult:
    """Write the step's one input into its MySQL table in `write_mode`."""
    server = MySQLServer.for_step(ctx, config)
    source = sqlio.single_input(inputs)
    columns = sqlio.input_columns(ctx.data_plane, source)
    mode, key = sqlio.check_write_config(config, [name for name, _ in columns])
    database, table = sqlio.split_table(str(config["table"]), config.get("schema"))
    database = database or server.fields.get("database")
    if not database:
        raise DriverError("no database to write to", category="config", hint=_HINTS["config"])
    rows_in = sqlio.count_rows(ctx.data_plane, source)
    ctx.emit("write.start", total=rows_in, table=f"{database}.{table}")
    with server.errors("write"), closing(server.connect(local_infile=True)) as conn:
        write_session(conn)
        writer = TableWriter(
            ctx, conn, source, columns, str(database), table, sqlio.batch_size(config)
        )
        writer.claim_staging()
        rows, created = sqlio.write_by_mode(writer, config, mode, key, writer.append)
    details = {"table": f"{database}.{table}", "write_mode": mode, "created": created}
    return StepResult(rows_read=rows_in, rows_written=rows, details=details)
