"""Known bypasses of read-only database tools, refused by the compiler (the sql pass).

Extends the refusal corpus of tests/compiler/test_sql_safety.py (its REFUSED list: the
first 70 statements) with what attacks on "read-only" SQL tools use: statements stacked
behind comments, dollar quotes and escapes, or behind a parenthesis that closes the
driver's own wrapper; MySQL executable comments; writable CTEs and MERGE; transaction
control that would end the read-only transaction; functions that reach files, other
databases, locks, sequences and server state; spellings that hide a name from a naive
check (case, full-width letters, invisible characters, PostgreSQL `U&"..."` escapes). Each
one is also run against the real servers, bypassing the compiler, by test_sql_database.py.
"""

from __future__ import annotations

import pytest

from tests.compiler.test_sql_safety import REFUSED, compile_doc, doc_for

BYPASSES: list[tuple[str, str, str]] = [
    # stacked statements, hidden behind comments, quotes and the driver's own wrapper
    ("mysql", "SELECT 1 -- x\n; DROP TABLE users", "SQL401"),
    ("mysql", "SELECT 1 # a comment; still the comment\n; DROP TABLE users", "SQL401"),
    ("mysql", "sElEcT 1; dElEtE FrOm users", "SQL401"),
    ("postgres", "SELECT 1) AS a; COMMIT; DROP TABLE users; SELECT * FROM (SELECT 1", "SQL401"),
    ("postgres", "SELECT $$;$$; DROP TABLE users", "SQL401"),
    ("postgres", "SELECT $tag$ ; $tag$; DELETE FROM users", "SQL401"),
    ("postgres", "SELECT E'\\''; DROP TABLE users; --'", "SQL401"),
    ("postgres", "SELECT 1 /* nested /* comment */ ; */; DROP TABLE users", "SQL401"),
    ("postgres", "SELECT 1; COMMIT", "SQL401"),
    ("postgres", "ROLLBACK; DROP TABLE users", "SQL401"),
    ("duckdb", "SELECT * FROM orders; ATTACH 'x.db'", "SQL401"),
    # transaction and session control: what would end or widen the read-only session
    ("mysql", "COMMIT", "SQL402"),
    ("postgres", "COMMIT", "SQL402"),
    ("postgres", "BEGIN", "SQL402"),
    ("postgres", "SET TRANSACTION READ WRITE", "SQL402"),
    ("postgres", "SET SESSION AUTHORIZATION postgres", "SQL402"),
    ("postgres", "SET ROLE postgres", "SQL402"),
    ("postgres", "RESET ALL", "SQL402"),
    ("postgres", "DISCARD ALL", "SQL402"),
    ("mysql", "SET STATEMENT max_statement_time = 1 FOR SELECT 1", "SQL402"),
    ("mysql", "XA START 'x'", "SQL402"),
    # MySQL executable comments: the server runs what a comment-stripping check skips
    ("mysql", "SELECT 1 /*!INTO OUTFILE '/tmp/x'*/", "SQL404"),
    ("mysql", "SELECT /*!99999 1, */ 2", "SQL404"),
    ("mysql", "SELECT 1 /*M! ; DROP TABLE users */", "SQL404"),
    ("mysql", "/*! SELECT */ 1", "SQL404"),
    ("mysql", "SELECT 1 FROM users WHERE 1 = 1 /*!50000 INTO DUMPFILE '/tmp/y' */", "SQL404"),
    ("mysql", "/*!50000 DELETE FROM users */", "SQL400"),
    ("mysql", "SELECT 1 AS a) AS t UNION SELECT 2 INTO OUTFILE '/tmp/x' FROM (SELECT 1", "SQL404"),
    # writable CTEs, MERGE, INTO
    (
        "postgres",
        "WITH a AS (SELECT 1), b AS (DELETE FROM users RETURNING id) SELECT * FROM a",
        "SQL402",
    ),
    (
        "postgres",
        "WITH RECURSIVE t AS (SELECT 1), d AS (UPDATE users SET x = 1 RETURNING 1) SELECT 1",
        "SQL402",
    ),
    (
        "postgres",
        "WITH m AS (MERGE INTO users u USING src s ON u.id = s.id WHEN MATCHED THEN DELETE "
        "RETURNING *) SELECT * FROM m",
        "SQL402",
    ),
    (
        "postgres",
        "SELECT * FROM (WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d) AS x",
        "SQL402",
    ),
    (
        "postgres",
        "MERGE INTO users u USING src s ON u.id = s.id WHEN MATCHED THEN DELETE",
        "SQL402",
    ),
    ("mysql", "WITH d AS (SELECT 1) DELETE FROM users", "SQL402"),
    ("mysql", "WITH x AS (SELECT 1) SELECT * FROM x INTO OUTFILE '/tmp/x'", "SQL404"),
    ("mysql", "SELECT * FROM users LIMIT 1 INTO @a", "SQL400"),
    ("postgres", "SELECT * INTO TEMP t FROM users", "SQL404"),
    ("postgres", "CREATE TEMP TABLE t AS SELECT 1", "SQL402"),
    # statements a read-only tool must not pass on
    ("mysql", "REPLACE INTO users VALUES (1)", "SQL402"),
    ("mysql", "INSERT INTO users SELECT * FROM users", "SQL402"),
    ("mysql", "SHOW DATABASES", "SQL402"),
    ("mysql", "DESCRIBE users", "SQL402"),
    ("mysql", "EXPLAIN SELECT 1", "SQL402"),
    ("mysql", "ANALYZE TABLE users", "SQL402"),
    ("mysql", "OPTIMIZE TABLE users", "SQL402"),
    ("mysql", "DO SLEEP(5)", "SQL402"),
    ("mysql", "KILL 1", "SQL402"),
    ("mysql", "FLUSH PRIVILEGES", "SQL402"),
    ("mysql", "GRANT ALL ON *.* TO x", "SQL402"),
    ("mysql", "INSTALL PLUGIN x SONAME 'x.so'", "SQL402"),
    ("postgres", "VACUUM users", "SQL402"),
    ("postgres", "REFRESH MATERIALIZED VIEW v", "SQL402"),
    ("postgres", "LISTEN c", "SQL402"),
    ("postgres", "CHECKPOINT", "SQL402"),
    ("postgres", "COMMENT ON TABLE users IS 'x'", "SQL402"),
    ("postgres", "ALTER SYSTEM SET work_mem = '1GB'", "SQL402"),
    ("postgres", "IMPORT FOREIGN SCHEMA x FROM SERVER s INTO y", "SQL402"),
    ("postgres", "EXECUTE p", "SQL402"),
    ("postgres", "DECLARE c CURSOR FOR SELECT 1", "SQL402"),
    ("postgres", "\\copy users to '/tmp/x'", "SQL402"),
    ("duckdb", "EXPORT DATABASE '/tmp/x'", "SQL402"),
    ("duckdb", "SUMMARIZE orders", "SQL402"),
    # locking reads, in any position
    ("postgres", "SELECT * FROM users FOR NO KEY UPDATE", "SQL404"),
    ("postgres", "SELECT * FROM users FOR KEY SHARE", "SQL404"),
    ("postgres", "SELECT (SELECT 1 FROM users FOR UPDATE)", "SQL404"),
    # functions: server files, other databases, locks, sequences, server state
    ("mysql", "SELECT LOAD_FILE(CONCAT('/etc/', 'passwd'))", "SQL403"),
    ("mysql", "SELECT id FROM users UNION SELECT LOAD_FILE('/etc/shadow')", "SQL403"),
    (
        "mysql",
        "SELECT * FROM JSON_TABLE(LOAD_FILE('/etc/passwd'), '$' COLUMNS (a TEXT PATH '$')) AS j",
        "SQL403",
    ),
    ("mysql", "SELECT sys_exec('id')", "SQL403"),
    ("mysql", "SELECT GET_LOCK('x', 10)", "SQL403"),
    ("mysql", "SELECT MASTER_GTID_WAIT('0-1-100', 10)", "SQL403"),
    ("mysql", "SELECT NEXTVAL(s)", "SQL403"),
    ("mysql", "SELECT SETVAL(s, 1)", "SQL403"),
    ("mysql", "SELECT * FROM users WHERE id = 1 OR SLEEP(5)", "SQL403"),
    ("postgres", "SELECT pg_ls_dir('/')", "SQL403"),
    ("postgres", "SELECT * FROM ROWS FROM (pg_ls_dir('/'))", "SQL403"),
    ("postgres", "SELECT * FROM pg_read_file('/etc/passwd') AS f", "SQL403"),
    ("postgres", "SELECT pg_read_file('/etc/passwd', 0, 100)", "SQL403"),
    ("postgres", "SELECT pg_stat_file('/etc/passwd')", "SQL403"),
    ("postgres", "SELECT lo_get(1234)", "SQL403"),
    ("postgres", "SELECT lo_from_bytea(0, 'x')", "SQL403"),
    ("postgres", "SELECT pg_catalog.lo_export(1, '/tmp/x')", "SQL403"),
    ("postgres", "SELECT pg_terminate_backend(1)", "SQL403"),
    ("postgres", "SELECT pg_cancel_backend(1)", "SQL403"),
    ("postgres", "SELECT pg_reload_conf()", "SQL403"),
    ("postgres", "SELECT pg_advisory_lock(1)", "SQL403"),
    ("postgres", "SELECT pg_try_advisory_xact_lock(1)", "SQL403"),
    ("postgres", "SELECT pg_notify('c', 'x')", "SQL403"),
    ("postgres", "SELECT pg_sleep_for('1 minute')", "SQL403"),
    ("postgres", "SELECT dblink_connect('host=evil')", "SQL403"),
    ("postgres", "SELECT cursor_to_xml('c', 1, true, true, '')", "SQL403"),
    (
        "postgres",
        "SELECT query_to_xml_and_xmlschema('DELETE FROM users RETURNING 1', true, true, '')",
        "SQL403",
    ),
    ("postgres", "SELECT pg_logical_emit_message(true, 'x', 'y')", "SQL403"),
    ("postgres", "SELECT pg_switch_wal()", "SQL403"),
    ("postgres", "SELECT pg_backup_start('x')", "SQL403"),
    ("postgres", "SELECT pg_import_system_collations('pg_catalog')", "SQL403"),
    ("postgres", "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", "SQL403"),
    ("postgres", "SELECT nextval('users_id_seq'::regclass)", "SQL403"),
    ("duckdb", "SELECT * FROM read_csv_auto('/etc/passwd')", "SQL406"),
    ("duckdb", 'SELECT * FROM "/etc/passwd"', "SQL406"),
    (
        "duckdb",
        "SELECT * FROM orders WHERE id IN (SELECT * FROM read_text('/etc/hostname'))",
        "SQL406",
    ),
    ("duckdb", "SELECT * FROM read_json('https://evil.example/x.json')", "SQL406"),
    ("duckdb", "SELECT * FROM read_csv(['a.csv', 'b.csv'])", "SQL406"),
    ("duckdb", "SELECT * FROM parquet_metadata('x.parquet')", "SQL406"),
    ("duckdb", "SELECT * FROM (FROM 'x.csv')", "SQL406"),
    ("duckdb", "SELECT * FROM glob('*')", "SQL406"),
    (
        "duckdb",
        "SELECT * FROM (PIVOT (SELECT * FROM read_csv('/etc/passwd')) ON a USING count(*))",
        "SQL406",
    ),
    ("duckdb", "SELECT * FROM duckdb_secrets()", "SQL403"),
    ("duckdb", "SELECT * FROM system.main.duckdb_settings()", "SQL403"),
    ("duckdb", "SELECT * FROM load_aws_credentials()", "SQL403"),
    ("duckdb", "SELECT * FROM query_table('orders')", "SQL403"),
    ("duckdb", "SELECT * FROM orders, (SELECT getenv('HOME'))", "SQL403"),
    ("duckdb", "SELECT * FROM temp.main.orders", "SQL405"),
    # case and Unicode: look-alike separators, invisible characters, escaped names
    ("mysql", "SELECT 1\u037e DROP TABLE users", "SQL400"),  # Greek question mark
    ("mysql", "SELECT 1\uff1b DROP TABLE users", "SQL400"),  # full-width semicolon
    ("mysql", "SELECT L\u200dOAD_FILE('/etc/passwd')", "SQL403"),  # zero-width joiner
    ("mysql", "SELECT \ufeffLOAD_FILE('/etc/passwd')", "SQL403"),  # byte-order mark
    ("postgres", 'SELECT U&"pg\\005fsleep"(10)', "SQL404"),
    ("postgres", "SELECT U&\"\\0070g_read_file\"('/etc/passwd')", "SQL404"),
    ("postgres", "SELECT u&\"lo_export\"(1, '/tmp/x')", "SQL404"),
    ("postgres", 'SELECT "pg_sleep"(10)', "SQL403"),
    ("postgres", "SELECT PG_SLEEP(10)", "SQL403"),
    ("postgres", "SELECT pg_catalog . pg_sleep(1)", "SQL403"),
    ("postgres", "SELECT pg_sleep\u00a0(1)", "SQL403"),
    ("postgres", "DELETE\u00a0FROM users", "SQL402"),
    ("postgres", "\uff24\uff25\uff2c\uff25\uff34\uff25 FROM users", "SQL402"),
    ("postgres", "SELECT 1 \uff1b DELETE FROM users", "SQL400"),
]


@pytest.mark.parametrize(("dialect", "sql", "code"), BYPASSES)
def test_bypass_refused(dialect: str, sql: str, code: str) -> None:
    program = compile_doc(doc_for(dialect, sql))
    assert [d.code for d in program.diagnostics] == [code]
    step = "clean" if dialect == "duckdb" else "extract_orders"
    assert step in program.broken and step not in program.sql


def test_the_corpus_adds_to_the_compiler_suite() -> None:
    known = {(dialect, sql) for dialect, sql, _ in REFUSED}
    mine = [(dialect, sql) for dialect, sql, _ in BYPASSES]
    assert len(set(mine)) == len(mine) >= 100
    assert not known & set(mine), "already in tests/compiler/test_sql_safety.py"


def test_unicode_escaped_name_points_at_it() -> None:
    program = compile_doc(doc_for("postgres", 'SELECT 1 AS a,\n       U&"pg\\005fsleep"(10)'))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL404", 10, 16)  # the query sits 8 columns in
    assert d.message.startswith('a Unicode-escaped name U&"..." is not allowed')
