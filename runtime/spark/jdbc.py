"""MySQL/MariaDB and PostgreSQL/Supabase through Spark JDBC: read-only partitioned reads,
and writes staged in the target database and moved in ONE transaction of ours.

Connections come from the same fields a local run resolves (`MySQLServer.for_step`,
`PostgresServer.for_step`); the user and password go to Spark as JDBC options, never in
the URL. Every read session is read-only (`sessionInitStatement`), PostgreSQL's as the
read-only role where the login may take it, as a local read is.

A read is split on the table's integer primary key when the step reads a whole table, or
a query over one table that neither orders, limits nor groups (one that leaves the key out
selects it as `KEY_ALIAS` and drops it after): the
bounds come from one `SELECT min(pk), max(pk)`, the number of partitions from
`--spark-conf osiris.jdbc.partitions=N`, else from the table's row estimate (one per
`osiris.jdbc.rows_per_partition`, 1,000,000 by default). Each partition reads in its own
session: a partitioned read is not one snapshot of a table that changes meanwhile.

A write never touches the target from Spark: Spark appends the rows into a stage table of
a unique name in the target database; then the component's own table writer
(`components/mysql/io.py`, `components/postgres/io.py` `TableWriter`) moves them in its
write mode — create, append, replace, upsert — with exactly its local atomicity, reading
the stage instead of the data plane. The stage is dropped after, whatever happened; one
a killed run left (its lock free) is dropped by the next write to the target.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from components.protocol import DriverError, StepContext, StepResult
from components.sql import io as sqlio
from runtime.spark import types

MARIADB_DRIVER = "org.mariadb.jdbc.Driver"
POSTGRES_DRIVER = "org.postgresql.Driver"
ROWS_PER_PARTITION = 1_000_000
_INTEGERS = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "int2", "int4",
             "int8", "serial", "bigserial")  # fmt: skip


@dataclass
class Source:
    """Where a JDBC read or write goes: the URL (no secret in it) and the options."""

    family: str
    url: str
    user: str
    password: str
    driver: str
    fields: Mapping[str, Any]
    init: list[str] = field(default_factory=list)

    @classmethod
    def login(
        cls,
        family: str,
        url: str,
        params: Mapping[str, Any],
        driver: str,
        fields: Mapping[str, Any],
        read_only: str,
    ) -> Source:
        """The server at `url` as the user and password of its connect `params`, each read
        session made read-only by the statement `read_only`."""
        user, password = str(params.get("user") or ""), str(params.get("password") or "")
        return cls(family, url, user, password, driver, fields, [read_only])

    def options(self) -> dict[str, str]:
        options = {"url": self.url, "driver": self.driver, "user": self.user}
        options["password"] = self.password
        return options


# ---- where --------------------------------------------------------------------------------


def mysql_source(
    ctx: StepContext, config: Mapping[str, Any], reading: bool = True
) -> tuple[Source, Any]:
    """The step's MySQL/MariaDB server for Spark. A read first connects once itself — the
    login's failure is then the local run's error, word for word — and learns the server's
    name for a read-only session, set on every connection Spark opens (its schema probe
    included, which `sessionInitStatement` does not reach)."""
    from components.mysql.connect import connect_params
    from components.mysql.io import MySQLServer

    server = MySQLServer.for_step(ctx, config)
    params = connect_params(server.fields, 10)
    host = str(params["host"])
    host = f"[{host}]" if ":" in host else host
    # `jdbc:mysql:` with permitMysqlScheme: Spark then speaks its MySQL dialect (backquoted
    # names); under `jdbc:mariadb:` it quotes with " and reads names back as values
    url = f"jdbc:mysql://{host}:{params['port']}/{params.get('database') or ''}?permitMysqlScheme"
    session = ["time_zone='+00:00'"]
    if reading:
        with server.errors("read"), closing(server.connect()) as conn:
            mariadb = "mariadb" in conn.get_server_info().lower()
        session.insert(0, "tx_read_only=1" if mariadb else "transaction_read_only=1")
    url += "&sessionVariables=" + ",".join(session)
    read_only = "SET SESSION TRANSACTION READ ONLY"
    return Source.login("mysql", url, params, MARIADB_DRIVER, server.fields, read_only), server


def postgres_source(
    ctx: StepContext, config: Mapping[str, Any], family: str, reading: bool = True
) -> tuple[Source, Any]:
    """The step's PostgreSQL/Supabase server for Spark: a read's session settings (the
    local run's `read_settings`, read-only) go in the URL's `options`, so every connection
    Spark opens has them, its schema probe included."""
    from urllib.parse import quote

    from components.postgres.io import PostgresServer, read_settings

    server = PostgresServer.for_step(ctx, config, family)
    params = server.libpq_params()
    host = str(params["host"])
    if host.startswith("/") or "," in host:
        raise DriverError(
            f"the Spark engine reaches PostgreSQL over TCP only, not {host!r}",
            category="config",
            hint="give the connection a host name or address",
        )
    host = f"[{host}]" if ":" in host else host
    url = f"jdbc:postgresql://{host}:{params['port']}/{quote(str(params['dbname']), safe='')}"
    url += "?ApplicationName=osiris&prepareThreshold=0"
    if params.get("sslmode"):
        url += f"&sslmode={params['sslmode']}"
    if reading:
        settings = {**read_settings(server.schema, None), "default_transaction_read_only": "on"}
        settings["search_path"] = settings["search_path"].replace(" ", "")
        options = " ".join(
            f"-c {name}={value.replace(' ', '')}" for name, value in settings.items()
        )
        url += "&options=" + quote(options, safe="")
    read_only = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
    return Source.login(family, url, params, POSTGRES_DRIVER, server.fields, read_only), server


@contextmanager
def spark_errors(action: str, fields: Mapping[str, Any]) -> Iterator[None]:
    """A Spark/JDBC failure as a DriverError with the server's words, secrets scrubbed."""
    try:
        yield
    except DriverError:
        raise
    except Exception as err:
        name = type(err).__name__
        if name not in ("Py4JJavaError", "AnalysisException", "IllegalArgumentException") and not (
            type(err).__module__.startswith(("pyspark", "py4j"))
        ):
            raise
        raise spark_error(err, action, fields) from None


def spark_error(err: BaseException, action: str, fields: Mapping[str, Any]) -> DriverError:
    text = str(err)
    causes = re.findall(
        r"(?:java\.sql\.\w+|org\.\w+(?:\.\w+)*Exception|\w+Exception): ([^\n]+)", text
    )
    message = causes[-1] if causes else (text.strip().splitlines() or [name_of(err)])[0]
    message = re.sub(r"\s+at [\w.$]+\(.*$", "", message)[:500]
    lowered = text.lower()
    if re.search(r"access denied|password authentication failed|role \S+ does not exist", lowered):
        category = "auth"
    elif re.search(
        r"connection refused|could not connect|connect timed out|unknownhost|socket fail|"
        r"communications link|connection attempt failed|i/o error",
        lowered,
    ):
        category = "network"
    elif re.search(r"division by zero|out of range|invalid input syntax|data truncat", lowered):
        category = "data"
    elif "cancelled" in lowered and "job" in lowered:
        category = "cancelled"
    else:
        category = "sql"
    retryable = category == "network"
    return DriverError(
        sqlio.scrub(f"Spark {action} failed: {message}", fields),
        category=category,
        retryable=retryable,
    )


def name_of(err: BaseException) -> str:
    return type(err).__name__


# ---- reading ------------------------------------------------------------------------------


def _settings(conf: Mapping[str, str], key: str) -> int | None:
    value = conf.get(f"osiris.jdbc.{key}")
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise DriverError(
            f"--spark-conf osiris.jdbc.{key}={value}: not a whole number",
            category="config",
        ) from None
    if number < 1:
        raise DriverError(f"osiris.jdbc.{key} must be at least 1", category="config")
    return number


def read(ctx: StepContext, config: Mapping[str, Any], family: str, conf: Mapping[str, str]) -> Any:
    """The step's table or query as a DataFrame, read through Spark JDBC."""
    if family == "mysql":
        from components.mysql import io as mysql

        source, server = mysql_source(ctx, config)
        sql, row_limit = mysql.source_query(config)
        schema = None
    else:
        from components.postgres import io as pg

        source, server = postgres_source(ctx, config, family)
        schema = server.schema
        sql, row_limit = pg.source_query(config, schema), None
        with server.errors("read"):
            role = pg.reading_role(server)  # connects first: a login's error as locally
        if role:
            source.init.append(f"SET ROLE {role}")
    options = source.options()
    options["sessionInitStatement"] = "; ".join(source.init)
    options["fetchsize"] = str(sqlio.batch_size(config))
    options["preferTimestampNTZ"] = "true"
    with spark_errors("JDBC read", source.fields):
        split = _partitioning(source, server, config, sql, schema, conf)
        if split is not None:
            sql = split.sql
            options.update(
                partitionColumn=split.column,
                lowerBound=str(split.low),
                upperBound=str(split.high + 1),
                numPartitions=str(split.partitions),
            )
        options["dbtable"] = f"(\n{sql}\n) AS _osiris_src"
        frame = ctx.data_plane.spark.read.format("jdbc").options(**options).load()
        if split is not None and split.column == KEY_ALIAS:
            frame = frame.drop(KEY_ALIAS)
        if row_limit is not None:
            frame = frame.limit(row_limit)
    return frame


#: The name a split read selects the table's key under when its query does not select
#: the key itself (projection pruning left it out): dropped again once the rows are read.
KEY_ALIAS = "_osiris_key"


@dataclass(frozen=True)
class Split:
    """How a read is split: the query to read (`sql`, with the key added as `KEY_ALIAS`
    when it did not select it), the column, its range and the number of partitions."""

    sql: str
    column: str
    low: int
    high: int
    partitions: int


def _partitioning(
    source: Source,
    server: Any,
    config: Mapping[str, Any],
    sql: str,
    schema: str | None,
    conf: Mapping[str, str],
) -> Split | None:
    """How to split the read, or None: one partition."""
    wanted = _settings(conf, "partitions")
    if wanted == 1:
        return None
    table = _whole_table(config, sql, source.family)
    if table is None:
        return None
    table_schema, name, selected = table
    if source.family == "mysql":
        key, estimate = _mysql_key(server, table_schema or server.fields.get("database"), name)
    else:
        key, estimate = _postgres_key(server, table_schema or schema or "public", name)
    if key is None:
        return None
    per = _settings(conf, "rows_per_partition") or ROWS_PER_PARTITION
    partitions = wanted or min(64, max(1, math.ceil((estimate or 0) / per)))
    if partitions <= 1:
        return None
    if selected is not None and key not in selected:
        sql, key = _with_key(sql, key, source.family), KEY_ALIAS
    low, high = _bounds(source, server, sql, key)
    if low is None or high is None or high <= low:
        return None
    return Split(sql, key, int(low), int(high), partitions)


def _with_key(sql: str, key: str, family: str) -> str:
    """`sql` (one table's rows, `_whole_table` says) also selecting `key` as `KEY_ALIAS`:
    the same rows, one column more."""
    import sqlglot
    from sqlglot import exp

    dialect = "mysql" if family == "mysql" else "postgres"
    tree = sqlglot.parse_one(sql, read=dialect)
    assert isinstance(tree, exp.Select)
    return tree.select(exp.alias_(exp.column(key, quoted=True), KEY_ALIAS)).sql(dialect)


def _whole_table(
    config: Mapping[str, Any], sql: str, family: str
) -> tuple[str | None, str, set[str] | None] | None:
    """(schema, table, the names it selects or None for all) when the read is of one
    table's rows, unordered, ungrouped and unlimited; None otherwise."""
    if config.get("limit") is not None or config.get("offset"):
        return None
    if config.get("table"):
        schema, table = sqlio.split_table(str(config["table"]), config.get("schema"))
        columns = config.get("columns")
        return schema, table, set(columns) if columns else None
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="mysql" if family == "mysql" else "postgres")
    except Exception:  # the source database parses it; only the simple case is split
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("with"):
        return None
    for part in ("order", "limit", "offset", "group", "having", "distinct", "joins"):
        if tree.args.get(part):
            return None
    if tree.find(exp.AggFunc) or tree.find(exp.Window) or len(list(tree.find_all(exp.Table))) != 1:
        return None
    (read,) = tree.find_all(exp.Table)
    if any(isinstance(e, exp.Star) for e in tree.expressions):
        return read.db or None, read.name, None
    # a key selected as itself (a bare column) splits the read; `id AS x` or `id + 1` not
    names = {e.name for e in tree.expressions if isinstance(e, exp.Column)}
    return read.db or None, read.name, names


def _mysql_key(server: Any, database: Any, table: str) -> tuple[str | None, int | None]:
    with server.errors("read"), closing(server.connect()) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT k.COLUMN_NAME, c.DATA_TYPE FROM information_schema.KEY_COLUMN_USAGE k "
            "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA "
            "AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME "
            "WHERE k.CONSTRAINT_NAME = 'PRIMARY' AND k.TABLE_SCHEMA = %s AND k.TABLE_NAME = %s",
            (database, table),
        )
        keys = cur.fetchall()
        cur.execute(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s",
            (database, table),
        )
        found = cur.fetchone()
    if len(keys) != 1 or str(keys[0][1]).lower() not in _INTEGERS:
        return None, None
    return str(keys[0][0]), int(found[0] or 0) if found else None


def _postgres_key(server: Any, schema: str, table: str) -> tuple[str | None, int | None]:
    from components.postgres.io import qualified

    with server.errors("read"), closing(server.connect()) as conn:
        conn.read_only = True
        target = qualified(schema, table)
        keys = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
            (target,),
        ).fetchall()
        estimate = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", (target,)
        ).fetchone()
    if len(keys) != 1 or str(keys[0][1]).lower() not in _INTEGERS:
        return None, None
    return str(keys[0][0]), max(0, int(estimate[0])) if estimate else None


def _bounds(source: Source, server: Any, sql: str, key: str) -> tuple[Any, Any]:
    """The key's range over the rows read: one indexed min/max, in a read-only session."""
    if source.family == "mysql":
        from components.mysql.io import quote_name

        with server.errors("read"), closing(server.connect()) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute(
                f"SELECT min({quote_name(key)}), max({quote_name(key)}) FROM (\n{sql}\n) AS b"
            )
            return tuple(cur.fetchone())
    from components.postgres.io import read_settings

    with server.errors("read"), closing(server.connect()) as conn:
        conn.read_only = True
        path = read_settings(server.schema, None)["search_path"]
        conn.execute("SELECT set_config('search_path', %s, true)", (path,))
        column = sqlio.quote_ident(key)
        row = conn.execute(f"SELECT min({column}), max({column}) FROM (\n{sql}\n) AS b").fetchone()
        return tuple(row) if row else (None, None)


# ---- writing ------------------------------------------------------------------------------


def _jdbc_append(source: Source, frame: Any, table: str, batch: int) -> None:
    """Spark appends the rows into `table` (which exists: we made it, with our types)."""
    options = source.options()
    if source.family == "mysql":
        options["url"] = source.url + "&rewriteBatchedStatements=true"
    options.update(dbtable=table, batchsize=str(batch), isolationLevel="READ_COMMITTED")
    frame.write.format("jdbc").options(**options).mode("append").save()


def write(
    ctx: StepContext, config: Mapping[str, Any], family: str, frame: Any, rows_in: int
) -> StepResult:
    if family == "mysql":
        return _write_mysql(ctx, config, frame, rows_in)
    return _write_postgres(ctx, config, family, frame, rows_in)


def _write_mysql(
    ctx: StepContext, config: Mapping[str, Any], frame: Any, rows_in: int
) -> StepResult:
    from components.mysql import io as mysql
    from components.mysql.types import mysql_type

    source, server = mysql_source(ctx, config, reading=False)
    columns = types.columns(frame)
    mode, key = sqlio.check_write_config(config, [name for name, _ in columns])
    database, table = sqlio.split_table(str(config["table"]), config.get("schema"))
    database = database or server.fields.get("database")
    if not database:
        raise DriverError("no database to write to", category="config")
    ctx.emit("write.start", total=rows_in, table=f"{database}.{table}")

    class StagedWriter(mysql.TableWriter):
        """The MySQL writer, its rows taken from the stage Spark loaded."""

        stage: str = ""

        def load(self, into: str, targets: Sequence[str]) -> int:
            names = ", ".join(mysql.quote_name(name) for name in self.source_names)
            listed = ", ".join(mysql.quote_name(name) for name in targets)
            with self.conn.cursor() as cursor:
                rows = cursor.execute(
                    f"INSERT INTO {into} ({listed}) SELECT {names} FROM {self.stage}"
                )
                mysql.raise_on_warnings(cursor, self.target)
            sqlio.progress(self.ctx, int(rows), self.target)
            return int(rows)

        def key_lengths(self, key: Sequence[str]) -> dict[str, int]:
            lengths = {}
            for name, kind in self.source_columns:
                if name in key and kind in ("VARCHAR", "BLOB"):
                    measure = "octet_length" if kind == "BLOB" else "char_length"
                    with self.conn.cursor() as cursor:
                        cursor.execute(
                            f"SELECT coalesce(max({measure}({mysql.quote_name(name)})), 0) "
                            f"FROM {self.stage}"
                        )
                        lengths[name] = int(cursor.fetchone()[0])
            return lengths

    with (
        spark_errors("JDBC write", source.fields),
        server.errors("write"),
        closing(server.connect(local_infile=False)) as conn,
    ):
        mysql.write_session(conn)
        writer = StagedWriter(
            ctx, conn, "", columns, str(database), table, sqlio.batch_size(config)
        )
        writer.claim_staging()
        token = uuid.uuid4().hex[:8]
        name = f"_osiris_stg_{table[:24]}_{token}"
        writer.stage = mysql.qualified(str(database), name)
        with conn.cursor() as cursor:  # held while the stage exists: no other write drops it
            cursor.execute("SELECT GET_LOCK(%s, 0)", (f"osiris_staging_{token}",))
        plain = [f"{mysql.quote_name(n)} {mysql_type(k, None)}" for n, k in columns]
        writer.execute(
            f"CREATE TABLE {writer.stage} ({', '.join(plain)}) ENGINE=InnoDB "
            "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        )
        try:
            ctx.emit("write.phase", phase="stage", table=writer.target)
            _jdbc_append(source, frame, f"`{database}`.`{name}`", sqlio.batch_size(config))
            if ctx.cancelled():
                raise sqlio.cancelled()
            rows, created = sqlio.write_by_mode(writer, config, mode, key, writer.append)
        finally:
            writer.drop_quietly(writer.stage)
    details = {"table": f"{database}.{table}", "write_mode": mode, "created": created}
    return StepResult(rows_read=rows_in, rows_written=rows, details=details)


def _write_postgres(
    ctx: StepContext, config: Mapping[str, Any], family: str, frame: Any, rows_in: int
) -> StepResult:
    from components.postgres import io as pg

    source, server = postgres_source(ctx, config, family, reading=False)
    columns = types.columns(frame)
    mode, key = sqlio.check_write_config(config, [name for name, _ in columns])
    schema, table = sqlio.split_table(str(config["table"]), config.get("schema"))
    schema = schema or server.schema
    token = uuid.uuid4().hex[:8]
    stage_name = f"{STAGE_PREFIX}{table[:24]}_{token}"
    stage = pg.qualified(schema, stage_name)
    ctx.emit("write.start", total=rows_in, table=f"{schema}.{table}")

    class StagedWriter(pg.TableWriter):
        """The PostgreSQL writer, its rows taken from the stage Spark loaded."""

        def copy_rows(self, into: str, targets: Sequence[str], *, freeze: bool = False) -> int:
            names = ", ".join(sqlio.quote_ident(name) for name in self.source_names)
            listed = ", ".join(sqlio.quote_ident(name) for name in targets)
            with self.conn.cursor() as cursor:
                cursor.execute(f"INSERT INTO {into} ({listed}) SELECT {names} FROM {stage}")
                rows = max(cursor.rowcount, 0)
            sqlio.progress(self.ctx, rows, self.target)
            return rows

    definition = ", ".join(
        f"{sqlio.quote_ident(name)} {pg.postgres_type(kind)}" for name, kind in columns
    )
    with (
        spark_errors("JDBC write", source.fields),
        server.errors("write"),
        closing(server.connect()) as admin,
    ):
        admin.autocommit = True
        # the stage's lock, held by this session for as long as it lives (a SIGKILL too)
        admin.execute("SELECT pg_advisory_lock(hashtext(%s))", (_STAGE_LOCK.format(token),))
        stale = _drop_stale_stages(admin, schema, table)
        if stale:
            ctx.emit("write.cleanup", table=f"{schema}.{table}", dropped=stale)
        admin.execute(f"CREATE TABLE {stage} ({definition})")
        try:
            ctx.emit("write.phase", phase="stage", table=f"{schema}.{table}")
            quoted = f'"{schema}"."{stage_name}"'
            _jdbc_append(source, frame, quoted, sqlio.batch_size(config))
            if ctx.cancelled():
                raise sqlio.cancelled()
            with closing(server.connect()) as conn, conn.transaction():
                conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
                writer = StagedWriter(ctx, conn, columns, schema, table, _no_export)
                rows, created = sqlio.write_by_mode(
                    writer,
                    config,
                    mode,
                    key,
                    lambda targets: writer.copy_rows(writer.target, targets),
                )
        finally:
            try:
                admin.execute(f"DROP TABLE IF EXISTS {stage}")
            except Exception:  # the write's outcome stands; the stage is a leftover
                ctx.emit("write.cleanup", table=f"{schema}.{stage_name}", dropped=[])
    details = {"table": f"{schema}.{table}", "write_mode": mode, "created": created}
    return StepResult(rows_read=rows_in, rows_written=rows, details=details)


#: A PostgreSQL stage table's name: the prefix, the target's first 24 characters, a token.
STAGE_PREFIX = "_osiris_spk_"
_STAGE_LOCK = "osiris_spark_stage_{}"


def _drop_stale_stages(admin: Any, schema: str, table: str) -> list[str]:
    """Drop the stage tables of `schema.table` that a killed run left behind; their names.

    A stage is a real table (Spark's executors load it through sessions of their own), so a
    run killed mid-load cannot drop it. Its writer holds the advisory lock of the stage's
    token for as long as its session lives, and the server frees the lock when the session
    ends however it ends: a stage whose lock is free belongs to no one.
    """
    from components.postgres import io as pg

    prefix = f"{STAGE_PREFIX}{table[:24]}_"
    names = admin.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND starts_with(tablename, %s)",
        (schema, prefix),
    ).fetchall()
    dropped = []
    for (name,) in names:
        found = re.fullmatch(re.escape(prefix) + "([0-9a-f]{8})", str(name))
        if found is None:
            continue
        lock = _STAGE_LOCK.format(found.group(1))
        (free,) = admin.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (lock,)).fetchone()
        if not free:
            continue  # a live write's stage
        try:
            admin.execute(f"DROP TABLE IF EXISTS {pg.qualified(schema, str(name))}")
            dropped.append(str(name))
        except Exception:  # cleaning up must not fail the write
            pass
        finally:
            admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))
    return dropped


def _no_export(expressions: Sequence[str], options: str) -> Any:
    raise AssertionError("the Spark writer loads from its stage, not from a data plane")
