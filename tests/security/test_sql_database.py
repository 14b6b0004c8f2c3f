"""Each bypass proven harmless at the database too, with the compiler out of the way.

The statement goes straight to the real extractor driver (mysql.extractor,
postgres.extractor), as a hand-edited build or a compiler bug would send it, connected as
the most powerful account the test servers have (MariaDB root, PostgreSQL's superuser).
Only the driver's read session stands in the way: for MariaDB a read-only transaction, a
statement the server has parsed (COM_STMT_PREPARE) and found to return rows before
anything runs, and the lexing modes the compiler assumes; for PostgreSQL a read-only
transaction that is never committed, entered over the extended protocol (one statement).

Every statement of both refusal corpora (tests/compiler/test_sql_safety.py and
test_sql_refusals.py) ends with rows, tables, sequences, large objects, locks and the
server's files exactly as before; curated cases show more — which are refused outright,
which run and leave nothing behind (no notification delivered, no lock kept).
`ONLY_THE_COMPILER` lists what the database does let through — reading server files,
waiting, ending other sessions — which the compiler's deny-list and the account's
privileges must stop.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from components.mysql_extractor.driver import MySQLExtractor
from components.postgres_extractor.driver import PostgresExtractor
from components.protocol import DriverError
from tests.compiler.test_sql_safety import REFUSED as SAFETY_REFUSED
from tests.compiler.test_sql_safety import compile_doc, doc_for
from tests.components.stepcontext import make_context
from tests.security.test_sql_refusals import BYPASSES

pytestmark = pytest.mark.db


@dataclass(frozen=True)
class Outcome:
    refused: bool
    message: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()


def extract(driver: Any, tmp_path: Path, fields: dict[str, Any], sql: str) -> Outcome:
    """Run `sql` through the driver exactly as a step would, the compiler bypassed."""
    run_dir = tmp_path / uuid.uuid4().hex
    run_dir.mkdir()
    ctx = make_context(run_dir, fields, step_id="probe")
    try:
        driver.run(ctx, {"query": sql}, {})
    except DriverError as err:
        return Outcome(True, str(err))
    columns = tuple(name for name, _ in ctx.types())
    return Outcome(False, columns=columns, rows=tuple(ctx.rows()))


# ---- MariaDB ------------------------------------------------------------------------------


@dataclass
class MySQLVictim:
    fields: dict[str, Any]
    file: str  # a path on the database server no case may create

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        conn = pymysql.connect(**self.fields, autocommit=True)
        try:
            rows: list[tuple[Any, ...]] = []
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                    rows = list(cursor.fetchall())
            return rows
        finally:
            conn.close()

    def state(self) -> dict[str, Any]:
        return {
            "tables": self.sql("SHOW FULL TABLES"),
            "victims": self.sql("SELECT * FROM victims ORDER BY id"),
            "myisam": self.sql("SELECT * FROM counter"),
            "sequence": self.sql("SELECT next_not_cached_value FROM seq"),
            "routines": self.sql("SHOW FUNCTION STATUS WHERE Db = DATABASE()"),
            "lock": self.sql("SELECT IS_USED_LOCK('osiris_sec')"),
            # the server's own view: LOAD_FILE reads where INTO OUTFILE would have written
            "file": self.sql(f"SELECT LOAD_FILE('{self.file}') IS NOT NULL"),
        }


@pytest.fixture
def mysql_victim(mysql_db: dict[str, Any]) -> MySQLVictim:
    victim = MySQLVictim(mysql_db, f"/tmp/osiris_sec_{uuid.uuid4().hex}.txt")
    victim.sql(
        "CREATE TABLE victims (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO victims VALUES (1, 'a')",
        "CREATE TABLE counter (n INT) ENGINE=MyISAM",  # not transactional: no rollback
        "CREATE SEQUENCE seq",
        "CREATE FUNCTION writer() RETURNS INT MODIFIES SQL DATA "
        "BEGIN INSERT INTO victims VALUES (99, 'w'); RETURN 1; END",
        "CREATE FUNCTION count_up() RETURNS INT MODIFIES SQL DATA "
        "BEGIN INSERT INTO counter VALUES (1); RETURN 1; END",
        "CREATE PROCEDURE wipe() MODIFIES SQL DATA DELETE FROM victims",
    )
    return victim


MYSQL_REFUSED = [
    # stacked statements and comment tricks
    "SELECT 1; DROP TABLE victims",
    "SELECT 1 -- x\n; DROP TABLE victims",
    "sElEcT 1; dElEtE FrOm victims",
    "SELECT 1 /*!50000 ; DROP TABLE victims */",
    "SELECT /*M!100000 1; DELETE FROM victims; SELECT */ 1",
    "SELECT 1\uff1b DELETE FROM victims",
    # files written by the server: no read-only transaction stops these
    "SELECT 1 /*!INTO OUTFILE '{file}'*/",
    "SELECT * FROM victims INTO OUTFILE '{file}'",
    "SELECT * FROM victims INTO DUMPFILE '{file}'",
    "WITH x AS (SELECT 1) SELECT * FROM x INTO OUTFILE '{file}'",
    "SELECT 1 AS a) AS t UNION SELECT 2 INTO OUTFILE '{file}' FROM (SELECT 1",
    "SELECT 1 INTO @x",
    # writes, DDL, session and transaction control
    "DELETE FROM victims",
    "\uff24\uff25\uff2c\uff25\uff34\uff25 FROM victims",
    "UPDATE victims SET v = 'x'",
    "INSERT INTO victims VALUES (2, 'b')",
    "REPLACE INTO victims VALUES (1, 'z')",
    "WITH d AS (SELECT 1) DELETE FROM victims",
    "DROP TABLE victims",
    "TRUNCATE victims",
    "ALTER TABLE victims ADD c INT",
    "RENAME TABLE victims TO renamed",
    "CREATE TABLE copied AS SELECT 1 AS a",
    "CREATE TEMPORARY TABLE scratch (a INT)",
    "LOAD DATA INFILE '/etc/hostname' INTO TABLE victims",
    "SET @a = 1",
    "SET SESSION TRANSACTION READ WRITE",
    "COMMIT",
    "CALL wipe()",
    "DO writer()",
    "HANDLER victims OPEN",
    "LOCK TABLES victims WRITE",
    "OPTIMIZE TABLE victims",
    "REPAIR TABLE victims",
    "FLUSH TABLES",
    "DROP FUNCTION writer",
    # functions that write: only the read-only transaction stops a user's function
    "SELECT writer()",
    "SELECT id FROM victims WHERE writer() = 1",
    "SELECT count_up()",
    "SELECT NEXTVAL(seq)",
    "SELECT SETVAL(seq, 100)",
    "SELECT * FROM victims FOR UPDATE",
    # a look-alike name is another name to the server: an unknown function
    "SELECT LOAD_FIL\u0415('/etc/hostname')",
]
MYSQL_HARMLESS = [
    "SELECT GET_LOCK('osiris_sec', 0)",  # a session lock: gone when the read's session ends
    "SELECT id FROM victims LOCK IN SHARE MODE",
    "SET STATEMENT max_statement_time = 5 FOR SELECT 1",
    "SELECT LASTVAL(seq)",
]


@pytest.mark.parametrize("sql", MYSQL_REFUSED)
def test_mariadb_refuses(mysql_victim: MySQLVictim, tmp_path: Path, sql: str) -> None:
    statement = sql.format(file=mysql_victim.file)
    before = mysql_victim.state()
    outcome = extract(MySQLExtractor(), tmp_path, mysql_victim.fields, statement)
    assert outcome.refused, outcome
    assert "Traceback" not in outcome.message
    assert mysql_victim.state() == before


@pytest.mark.parametrize("sql", MYSQL_HARMLESS)
def test_mariadb_runs_and_leaves_nothing(
    mysql_victim: MySQLVictim, tmp_path: Path, sql: str
) -> None:
    before = mysql_victim.state()
    outcome = extract(MySQLExtractor(), tmp_path, mysql_victim.fields, sql)
    assert not outcome.refused, outcome
    assert mysql_victim.state() == before


def test_mariadb_reads_sql_as_the_compiler_does(mysql_victim: MySQLVictim, tmp_path: Path) -> None:
    """With NO_BACKSLASH_ESCAPES a server reads `'x\\'` as a whole string, and what the
    compiler took for the rest of that string — a LOAD_FILE call — as code. The read
    session drops the lexing modes, so the server sees the string the compiler saw."""
    sql = "SELECT 'x\\' AS a, LOAD_FILE(0x2f6574632f686f73746e616d65) AS b -- ', 1 AS c"
    assert compile_doc(doc_for("mysql", sql)).diagnostics == []  # a string and c, to sqlglot
    (mode,) = mysql_victim.sql("SELECT @@GLOBAL.sql_mode")[0]
    mysql_victim.sql("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
    try:
        outcome = extract(MySQLExtractor(), tmp_path, mysql_victim.fields, sql)
    finally:
        mysql_victim.sql(f"SET GLOBAL sql_mode = '{mode}'")
    text = "x' AS a, LOAD_FILE(0x2f6574632f686f73746e616d65) AS b -- "
    assert (outcome.refused, outcome.columns) == (False, (text, "c"))  # not a, b
    assert outcome.rows == ((text, 1),)


# ---- PostgreSQL ---------------------------------------------------------------------------


@dataclass
class PostgresVictim:
    fields: dict[str, Any]
    schema: str
    file: str
    channel: str

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            "host={host} port={port} user={user} dbname={database}".format(**self.fields),
            autocommit=True,
        )

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            rows: list[tuple[Any, ...]] = []
            for statement in statements:
                cursor = conn.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
            return rows

    def state(self) -> dict[str, Any]:
        s = self.schema
        return {
            "tables": self.sql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{s}'"),
            "victims": self.sql(f'SELECT * FROM "{s}".victims ORDER BY id'),
            "sequence": self.sql(f'SELECT last_value, is_called FROM "{s}".seq'),
            "large_objects": self.sql("SELECT count(*) FROM pg_largeobject_metadata"),
            "collations": self.sql(
                "SELECT count(*) FROM pg_collation c JOIN pg_namespace n "
                f"ON n.oid = c.collnamespace WHERE n.nspname = '{s}'"
            ),
            "advisory_locks": self.sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
            ),
            "file": self.sql(f"SELECT pg_stat_file('{self.file}', true) IS NOT NULL"),
        }


@pytest.fixture
def pg_victim(pg_db: dict[str, Any]) -> Iterator[PostgresVictim]:
    schema = pg_db["schema"]
    victim = PostgresVictim(
        pg_db, schema, f"/tmp/osiris_sec_{uuid.uuid4().hex}.txt", f"c_{uuid.uuid4().hex[:12]}"
    )
    victim.sql(
        f'CREATE TABLE "{schema}".victims (id int PRIMARY KEY, v text)',
        f"""INSERT INTO "{schema}".victims VALUES (1, 'a')""",
        f'CREATE SEQUENCE "{schema}".seq',
        f'CREATE FUNCTION "{schema}".writer() RETURNS int LANGUAGE plpgsql AS '
        f"""$$ BEGIN INSERT INTO "{schema}".victims VALUES (99, 'w'); RETURN 1; END $$""",
        f'CREATE PROCEDURE "{schema}".wipe() LANGUAGE sql AS '
        f"""$$ DELETE FROM "{schema}".victims $$""",
    )
    yield victim


PG_REFUSED = [
    # stacked statements, also behind the driver's own parenthesis and a COMMIT
    "SELECT 1; DROP TABLE victims",
    "SELECT 1) AS a; COMMIT; DROP TABLE {schema}.victims; SELECT * FROM (SELECT 1",
    "SELECT 1) AS a; COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; "
    "DELETE FROM {schema}.victims; SELECT * FROM (SELECT 1",
    "SELECT $$;$$; DROP TABLE victims",
    "SELECT 1 /* a /* nested */ ; */; DROP TABLE victims",
    # writes, DDL, writable CTEs and functions
    "DELETE FROM victims",
    "dElEtE FrOm victims",
    "\uff24\uff25\uff2c\uff25\uff34\uff25 FROM victims",
    "UPDATE victims SET v = 'x'",
    "INSERT INTO victims VALUES (2, 'b')",
    "MERGE INTO victims v USING (SELECT 1 AS id) s ON v.id = s.id WHEN MATCHED THEN DELETE",
    "WITH d AS (DELETE FROM victims RETURNING *) SELECT * FROM d",
    "WITH i AS (INSERT INTO victims VALUES (3, 'c') RETURNING *) SELECT * FROM i",
    "WITH u AS (UPDATE victims SET v = 'y' RETURNING *) SELECT * FROM u",
    "SELECT {schema}.writer()",
    "SELECT * FROM victims WHERE {schema}.writer() = 1",
    "CALL {schema}.wipe()",
    "DO $$ BEGIN DELETE FROM {schema}.victims; END $$",
    "DROP TABLE victims",
    "TRUNCATE victims",
    "ALTER TABLE victims ADD c int",
    "CREATE TABLE copied AS SELECT 1 AS a",
    "CREATE TEMP TABLE scratch AS SELECT 1 AS a",
    "SELECT * INTO copied FROM victims",
    "SELECT nextval('{schema}.seq')",
    "SELECT setval('{schema}.seq', 100)",
    "SELECT * FROM victims FOR UPDATE",
    # files and programs on the server
    "COPY (SELECT 1) TO '{file}'",
    "COPY (SELECT 1) TO PROGRAM 'touch {file}'",
    "COPY victims FROM '/etc/hostname'",
    # session and transaction control
    "COMMIT",
    "SET ROLE postgres",
    "SELECT set_config('transaction_read_only', 'off', false)",
    "LOCK TABLE victims",
    "NOTIFY {channel}",
    "EXPLAIN ANALYZE DELETE FROM victims",
    "PREPARE p AS DELETE FROM victims",
    "VACUUM victims",
    # a read-only transaction allows these, a superuser reading as pg_read_all_data not
    "SELECT lo_import('/etc/hostname')",
    "SELECT pg_import_system_collations('{schema}')",
]
PG_HARMLESS = [
    # a read-only transaction allows these; it is never committed, so nothing remains
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT pg_notify('{channel}', 'x')",
    # a session lock ends with the read's session
    "SELECT pg_advisory_lock(4242)",
    "SELECT txid_current()",
]


def _pg(sql: str, victim: PostgresVictim) -> str:
    return sql.format(schema=f'"{victim.schema}"', file=victim.file, channel=victim.channel)


@pytest.mark.parametrize("sql", PG_REFUSED)
def test_postgres_refuses(pg_victim: PostgresVictim, tmp_path: Path, sql: str) -> None:
    before = pg_victim.state()
    outcome = extract(PostgresExtractor(), tmp_path, pg_victim.fields, _pg(sql, pg_victim))
    assert outcome.refused, outcome
    assert "Traceback" not in outcome.message
    assert pg_victim.state() == before


@pytest.mark.parametrize("sql", PG_HARMLESS)
def test_postgres_runs_and_leaves_nothing(
    pg_victim: PostgresVictim, tmp_path: Path, sql: str
) -> None:
    before = pg_victim.state()
    with pg_victim.connect() as listener:
        listener.execute(f"LISTEN {pg_victim.channel}")
        outcome = extract(PostgresExtractor(), tmp_path, pg_victim.fields, _pg(sql, pg_victim))
        pg_victim.sql(f"NOTIFY {pg_victim.channel}, 'control'")
        (first,) = listener.notifies(timeout=30, stop_after=1)
    assert not outcome.refused, outcome
    assert first.payload == "control"  # nothing the read sent arrived before it
    assert pg_victim.state() == before


def test_the_read_session_is_never_committed(pg_victim: PostgresVictim, tmp_path: Path) -> None:
    """The large object exists inside the read (its id comes back) and not after it."""
    outcome = extract(
        PostgresExtractor(), tmp_path, pg_victim.fields, "SELECT lo_from_bytea(0, 'x') AS oid"
    )
    (oid,) = outcome.rows[0]
    assert not pg_victim.sql(f"SELECT 1 FROM pg_largeobject_metadata WHERE oid = {int(oid)}")


# ---- what only the compiler stops ------------------------------------------------------------


def _terminate_a_session(pg_victim: PostgresVictim) -> tuple[str, Any]:
    other = pg_victim.connect()
    pid = other.execute("SELECT pg_backend_pid()").fetchone()[0]
    return f"SELECT pg_terminate_backend({pid})", other


ONLY_THE_COMPILER = [
    ("mysql", "SELECT LOAD_FILE('/etc/hostname') AS f", "SQL403"),
    ("mysql", "SELECT SLEEP(0) AS s", "SQL403"),
    ("mysql", "SELECT BENCHMARK(1000, MD5('x')) AS b", "SQL403"),
    ("mysql", "SELECT GET_LOCK('osiris_sec', 0) AS l", "SQL403"),
    ("postgres", "SELECT pg_sleep(0) AS s", "SQL403"),
]


@pytest.mark.parametrize(("dialect", "sql", "code"), ONLY_THE_COMPILER)
def test_what_only_the_compiler_stops(
    mysql_victim: MySQLVictim,
    pg_victim: PostgresVictim,
    tmp_path: Path,
    dialect: str,
    sql: str,
    code: str,
) -> None:
    """Reading server files, waiting, locking: a read-only session allows all of them. The
    compiler refuses them; at the database only the account's privileges would."""
    assert [d.code for d in compile_doc(doc_for(dialect, sql)).diagnostics] == [code]
    driver, fields = (
        (MySQLExtractor(), mysql_victim.fields)
        if dialect == "mysql"
        else (PostgresExtractor(), pg_victim.fields)
    )
    outcome = extract(driver, tmp_path, fields, sql)
    assert not outcome.refused and outcome.rows, outcome  # the database ran it


def test_ending_another_session_is_refused_by_both(
    pg_victim: PostgresVictim, tmp_path: Path
) -> None:
    """A superuser's read-only session could end any other session; reading as
    pg_read_all_data it may not, and the compiler refuses the call first."""
    sql, other = _terminate_a_session(pg_victim)
    assert [d.code for d in compile_doc(doc_for("postgres", sql)).diagnostics] == ["SQL403"]
    try:
        outcome = extract(PostgresExtractor(), tmp_path, pg_victim.fields, sql)
        assert outcome.refused, outcome
        assert other.execute("SELECT 1").fetchone() == (1,)  # still alive
    finally:
        other.close()


#: What a superuser's read-only transaction would run — server files, SQL given as text
#: that the compiler never sees, an index write that survives the rollback — refused by the
#: server itself: the read takes on pg_read_all_data, which may read tables and do no more.
PG_REFUSED_BY_PRIVILEGES = [
    "SELECT pg_read_file('/etc/hostname') AS f",
    "SELECT U&\"\\0070g_read_file\"('/etc/hostname') AS f",
    "SELECT pg_ls_dir('.') AS f",
    "SELECT pg_stat_file('/etc/hostname') AS f",
    "SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''/etc/hostname''))')",
    "SELECT ts_rewrite('a'::tsquery, 'SELECT pg_ls_dir(''.'')::tsquery, ''b''::tsquery')",
    "SELECT brin_summarize_new_values('{schema}.victims_brin')",
]


@pytest.mark.parametrize("sql", PG_REFUSED_BY_PRIVILEGES)
def test_postgres_privileges_refuse_what_read_only_allows(
    pg_victim: PostgresVictim, tmp_path: Path, sql: str
) -> None:
    statement = _pg(sql, pg_victim)
    q = f'"{pg_victim.schema}"'
    pg_victim.sql(
        f"CREATE INDEX victims_brin ON {q}.victims USING brin (id) WITH (pages_per_range = 1)",
        f"INSERT INTO {q}.victims SELECT g, repeat('x', 100) FROM generate_series(2, 3000) g",
    )
    before = pg_victim.state()
    outcome = extract(PostgresExtractor(), tmp_path, pg_victim.fields, statement)
    assert outcome.refused, outcome
    assert "permission denied" in outcome.message or "must be" in outcome.message
    assert pg_victim.state() == before
    # the index's new pages are still unsummarized: the server did not write it
    ((ranges,),) = pg_victim.sql(f"SELECT brin_summarize_new_values('{q}.victims_brin')")
    assert ranges > 0


def test_a_stalling_read_ends_at_the_connections_time_limit(
    pg_victim: PostgresVictim, mysql_victim: MySQLVictim, tmp_path: Path
) -> None:
    """SLEEP/pg_sleep past the checker: the session's statement time limit (a default,
    `statement_timeout_s` per connection) ends it on the server."""
    for driver, fields, sql in (
        (PostgresExtractor(), pg_victim.fields, "SELECT pg_sleep(60) AS s"),
        (MySQLExtractor(), mysql_victim.fields, "SELECT SLEEP(60) AS s"),
    ):
        outcome = extract(driver, tmp_path, {**fields, "statement_timeout_s": 1}, sql)
        if driver.__class__ is MySQLExtractor:
            # MariaDB ends SLEEP at max_statement_time with the value 1, not an error
            assert outcome.refused or outcome.rows == ((1,),), outcome
        else:
            assert outcome.refused and "timeout" in outcome.message.lower(), outcome


# ---- every statement of the refusal corpora, at the database -------------------------------

#: Every MySQL and PostgreSQL statement the compiler refuses (tests/compiler/test_sql_safety.py
#: and test_sql_refusals.py), with its file paths made unique so a file written would show.
CORPUS = [
    (dialect, sql)
    for dialect, sql, _ in [*SAFETY_REFUSED, *BYPASSES]
    if dialect in ("mysql", "postgres")
]
#: A statement that stalls (SLEEP, pg_sleep, BENCHMARK) ends at the server's time limit.
TIME_LIMIT_S = 1


def _unique_files(sql: str, tag: str) -> tuple[str, list[str]]:
    paths = sorted(set(re.findall(r"/tmp/[\w.]+", sql)))
    for path in paths:
        sql = sql.replace(path, f"/tmp/osiris_sec_{tag}_{path[5:]}")
    return sql, [f"/tmp/osiris_sec_{tag}_{path[5:]}" for path in paths]


@pytest.fixture
def corpus_mysql(mysql_db: dict[str, Any]) -> MySQLVictim:
    """The tables, sequence and procedure the corpus names, each with something in it."""
    victim = MySQLVictim(mysql_db, f"/tmp/osiris_sec_{uuid.uuid4().hex}.txt")
    victim.sql(
        "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20), admin TINYINT, x INT)",
        "INSERT INTO users VALUES (1, 'ada', 0, 0), (2, 'alan', 0, 0)",
        "CREATE TABLE t (a TEXT)",
        "CREATE TABLE audit (a INT)",
        "CREATE SEQUENCE s",
        "CREATE PROCEDURE refresh_all() MODIFIES SQL DATA DELETE FROM users",
    )
    return victim


def _mysql_everything(victim: MySQLVictim, files: list[str]) -> dict[str, Any]:
    tables = [row[0] for row in victim.sql("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")]
    return {
        "tables": victim.sql("SHOW FULL TABLES"),
        "rows": {t: victim.sql(f"SELECT * FROM `{t}` ORDER BY 1") for t in tables if t != "s"},
        "sequence": victim.sql("SELECT next_not_cached_value FROM s"),
        "routines": victim.sql("SHOW PROCEDURE STATUS WHERE Db = DATABASE()"),
        "files": [victim.sql(f"SELECT LOAD_FILE('{f}') IS NOT NULL") for f in files],
    }


@pytest.fixture
def corpus_pg(pg_db: dict[str, Any]) -> PostgresVictim:
    schema = pg_db["schema"]
    victim = PostgresVictim(pg_db, schema, "", "channel")
    q = f'"{schema}"'
    victim.sql(
        f"CREATE TABLE {q}.users (id int PRIMARY KEY, name text, admin bool, x int)",
        f"INSERT INTO {q}.users VALUES (1, 'ada', false, 0), (2, 'alan', false, 0)",
        f"CREATE SEQUENCE {q}.users_id_seq",
        f"CREATE TABLE {q}.orders (id serial PRIMARY KEY)",
        f"CREATE TABLE {q}.audit (a int)",
        f"CREATE TABLE {q}.src (id int)",
        f"INSERT INTO {q}.src VALUES (1)",
        f"CREATE MATERIALIZED VIEW {q}.v AS SELECT 1 AS one",
    )
    return victim


def _pg_everything(victim: PostgresVictim, files: list[str]) -> dict[str, Any]:
    s = victim.schema
    tables = [
        row[0] for row in victim.sql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{s}'")
    ]
    return {
        "relations": victim.sql(
            "SELECT relname, relkind FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE n.nspname = '{s}' ORDER BY 1"
        ),
        "rows": {t: victim.sql(f'SELECT * FROM "{s}"."{t}" ORDER BY 1') for t in tables},
        "sequences": victim.sql(
            f'SELECT last_value, is_called FROM "{s}".users_id_seq UNION ALL '
            f'SELECT last_value, is_called FROM "{s}".orders_id_seq'
        ),
        "large_objects": victim.sql("SELECT count(*) FROM pg_largeobject_metadata"),
        "collations": victim.sql("SELECT count(*) FROM pg_collation"),
        "advisory_locks": victim.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
        "files": [victim.sql(f"SELECT pg_stat_file('{f}', true) IS NOT NULL") for f in files],
    }


@pytest.mark.parametrize(("dialect", "sql"), CORPUS)
def test_every_refused_statement_leaves_the_database_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, sql: str
) -> None:
    """Straight to the driver, as the most powerful account: refused by the database, or
    run with no lasting effect — rows, tables, sequences, large objects, locks and files
    on the server as before. (Reads are not effects: what only the compiler keeps from
    being read is listed in ONLY_THE_COMPILER.)"""
    statement, files = _unique_files(sql, uuid.uuid4().hex[:12])
    if dialect == "mysql":
        victim: Any = request.getfixturevalue("corpus_mysql")
        driver, everything = MySQLExtractor(), _mysql_everything
    else:
        victim = request.getfixturevalue("corpus_pg")
        driver, everything = PostgresExtractor(), _pg_everything
    before = everything(victim, files)
    config = {"query": statement, "fetch_timeout_s": TIME_LIMIT_S}
    ctx_dir = tmp_path / "run"
    ctx_dir.mkdir()
    ctx = make_context(ctx_dir, victim.fields, step_id="probe")
    try:
        driver.run(ctx, config, {})
    except DriverError as err:
        assert "Traceback" not in str(err)
    assert everything(victim, files) == before
