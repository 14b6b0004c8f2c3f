"""The optimize pass: each rewrite shown as exact SQL, and proved on data — the pipeline's
extract → transform logic run in DuckDB over the same tables, with and without the rewrite,
gives the same rows. (The runtime tests repeat this against MySQL and PostgreSQL.)"""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import duckdb
import pytest
import sqlglot

from compiler.catalog import Catalog, Column, Table
from compiler.compile import check, default_context
from compiler.program import Program


def _col(name: str, source_type: str, normalized: str) -> Column:
    return Column(name=name, type=source_type, normalized_type=normalized)


_ORDERS = (
    _col("id", "int", "integer"),
    _col("customer_id", "int", "integer"),
    _col("total", "decimal(10,2)", "decimal"),
    _col("status", "varchar(20)", "string"),
    _col("created_at", "datetime", "datetime"),
)
_CUSTOMERS = (
    _col("id", "int", "integer"),
    _col("name", "varchar(80)", "string"),
    _col("country", "char(2)", "string"),
)


def _catalog(connection: str, family: str) -> Catalog:
    return Catalog(
        connection=connection,
        family=family,
        default_schema="shop",
        tables=(
            Table(schema="shop", name="orders", columns=_ORDERS),
            Table(schema="shop", name="customers", columns=_CUSTOMERS),
        ),
    )


CATALOGS = {
    "@mysql.main": _catalog("@mysql.main", "mysql"),
    "@postgres.main": _catalog("@postgres.main", "postgres"),
}

# The source tables the equivalence checks run on: NULLs, mixed-case and padded strings,
# boundary values, rows on both sides of every predicate below.
SOURCE_TABLES = """
CREATE TABLE orders (id INTEGER, customer_id INTEGER, total DECIMAL(10, 2), status VARCHAR,
                     created_at TIMESTAMP);
INSERT INTO orders VALUES
  (1, 10, 50.00, 'paid', '2024-01-05 10:00:00'),
  (2, 10, 150.00, 'paid', '2024-02-01 00:00:00'),
  (3, 11, 100.00, 'PAID', '2024-02-10 08:30:00'),
  (4, 12, NULL, 'paid', '2024-03-01 00:00:00'),
  (5, 11, 250.50, 'refunded', '2024-03-02 12:00:00'),
  (6, 12, 99.99, NULL, NULL),
  (7, 13, 100.01, 'paid ', '2023-12-31 23:59:59'),
  (8, 10, 1000.00, 'shipped', '2024-02-01 00:00:01');
CREATE TABLE customers (id INTEGER, name VARCHAR, country VARCHAR);
INSERT INTO customers VALUES (10, 'Ann', 'DE'), (11, 'Bob', 'FR'), (12, 'Cid', 'DE'),
  (13, 'Dee', NULL);
"""


def doc(extract_config: str, transform_sql: str, family: str = "mysql", extra: str = "") -> str:
    return f"""oml_version: "0.1.0"
name: pushdown
params:
  min_total: {{type: number, default: 100}}
steps:
  - id: extract_orders
    component: {family}.extractor
    mode: read
    config:
      connection: "@{family}.main"
{extract_config}
  - id: transform
    component: duckdb.processor
    mode: transform
    inputs: {{src: "${{extract_orders.df}}"}}
    config:
      query: "{transform_sql}"
{extra}"""


def compile_doc(text: str, *, optimize: bool = True, catalogs: bool = True) -> Program:
    context = default_context(catalogs=CATALOGS if catalogs else {}, optimize=optimize)
    program = check(text, context)
    assert [d for d in program.diagnostics if d.is_error] == []
    return program


def extract_sql(program: Program) -> tuple[str, str]:
    """The SQL the extract step runs, and its dialect (a `table:` read as its SELECT)."""
    config = program.configs["extract_orders"]
    dialect = "postgres" if "postgres" in str(config.get("connection")) else "mysql"
    if "query" in config:
        return str(config["query"]), dialect
    columns = ", ".join(config.get("columns") or ["*"])
    return f"SELECT {columns} FROM {config['table']}", dialect


def run_on_duckdb(program: Program) -> list[tuple[Any, ...]]:
    """Extract then transform, as the run would, with DuckDB standing in for the source."""
    sql, dialect = extract_sql(program)
    con = duckdb.connect()
    con.execute(SOURCE_TABLES)
    source = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
    con.execute(f"CREATE TABLE src AS {source}")
    rows = con.execute(str(program.configs["transform"]["query"])).fetchall()
    return sorted(rows, key=repr)


def assert_same_rows(text: str) -> Program:
    """Compile with and without optimize; the transform's rows must be identical."""
    plain = compile_doc(text, optimize=False)
    optimized = compile_doc(text)
    assert plain.rewrites == []
    assert run_on_duckdb(optimized) == run_on_duckdb(plain)
    assert run_on_duckdb(plain) != []
    return optimized


# ---- predicate pushdown ----------------------------------------------------------------


def test_predicate_pushdown_merges_into_the_extract_where() -> None:
    text = doc(
        "      query: SELECT id, customer_id, total, status, created_at FROM orders",
        "SELECT id, customer_id, status, created_at, total FROM src "
        "WHERE total >= 100 AND status = 'paid' AND created_at >= '2024-02-01' AND id + 1 > 2",
    )
    program = assert_same_rows(text)
    (rewrite,) = program.rewrites
    assert rewrite == {
        "kind": "predicate_pushdown",
        "step": "extract_orders",
        "from_step": "transform",
        "before": "SELECT id, customer_id, total, status, created_at FROM orders",
        "after": "SELECT id, customer_id, total, status, created_at FROM orders "
        "WHERE total >= 100 AND status = 'paid' AND created_at >= '2024-02-01'",
        "detail": {
            "predicates": ["total >= 100", "status = 'paid'", "created_at >= '2024-02-01'"],
            "strategy": "merge",
        },
    }
    assert program.configs["extract_orders"]["query"] == rewrite["after"]
    # the transform keeps its whole WHERE: it stays correct on its own
    assert "status = 'paid'" in program.configs["transform"]["query"]


def test_predicate_pushdown_through_aliases_and_joins() -> None:
    text = doc(
        "      query: >-\n"
        "        SELECT o.id, o.total AS amount, c.country\n"
        "        FROM orders AS o JOIN customers AS c ON c.id = o.customer_id",
        "SELECT id, amount, country FROM src WHERE (amount > 99.99 OR amount IS NULL) "
        "AND country IN ('DE', 'FR')",
    )
    program = assert_same_rows(text)
    (rewrite,) = program.rewrites
    assert rewrite["after"] == (
        "SELECT o.id, o.total AS amount, c.country FROM orders AS o "
        "JOIN customers AS c ON c.id = o.customer_id "
        "WHERE (o.total > 99.99 OR o.total IS NULL) AND c.country IN ('DE', 'FR')"
    )


def test_only_conjuncts_on_plain_columns_merge() -> None:
    text = doc(
        "      query: SELECT id, total, 'x' AS kind FROM orders",
        "SELECT id, total, kind FROM src WHERE kind = 'x' AND total > 50",
    )
    program = assert_same_rows(text)
    (rewrite,) = program.rewrites
    assert rewrite["after"] == "SELECT id, total, 'x' AS kind FROM orders WHERE total > 50"


def test_predicate_pushdown_wraps_an_aggregating_extract() -> None:
    text = doc(
        "      query: >-\n"
        "        SELECT customer_id, COUNT(*) AS n, SUM(total) AS revenue\n"
        "        FROM orders GROUP BY customer_id",
        "SELECT customer_id, n, revenue FROM src WHERE revenue > 200",
    )
    program = assert_same_rows(text)
    (rewrite,) = program.rewrites
    assert rewrite["after"] == (
        "SELECT * FROM (SELECT customer_id, COUNT(*) AS n, SUM(total) AS revenue "
        "FROM orders GROUP BY customer_id) AS _osiris_pushdown WHERE revenue > 200"
    )
    assert rewrite["detail"]["strategy"] == "wrap"


def test_predicate_pushdown_transpiles_to_postgres_and_keeps_params_out_of_canonical() -> None:
    text = doc(
        "      query: SELECT id, total, created_at FROM orders",
        "SELECT id, total, created_at FROM src "
        "WHERE total >= ${params.min_total} AND created_at < '2024-03-01 00:00:00'",
        family="postgres",
    )
    program = assert_same_rows(text)
    (rewrite,) = program.rewrites
    assert rewrite["after"] == (
        "SELECT id, total, created_at FROM orders "
        "WHERE total >= 100 AND created_at < '2024-03-01 00:00:00'"
    )
    unit = program.sql["extract_orders"]["query"]
    assert unit.text == rewrite["after"]
    assert unit.canonical == (
        'SELECT "id", "total", "created_at" FROM "orders" '
        'WHERE "total" >= ${params.min_total} AND "created_at" < \'2024-03-01 00:00:00\''
    )


# ---- projection pruning ----------------------------------------------------------------


def test_projection_pruning_without_a_catalog() -> None:
    text = doc(
        "      query: SELECT id, customer_id, total, status, created_at FROM orders",
        "SELECT customer_id, sum(total) AS revenue, count(*) AS n FROM src GROUP BY customer_id",
    )
    plain = compile_doc(text, optimize=False, catalogs=False)
    program = compile_doc(text, catalogs=False)
    assert run_on_duckdb(program) == run_on_duckdb(plain)
    (rewrite,) = program.rewrites
    assert rewrite == {
        "kind": "projection_pruning",
        "step": "extract_orders",
        "from_step": "transform",
        "before": "SELECT id, customer_id, total, status, created_at FROM orders",
        "after": "SELECT customer_id, total FROM orders",
        "detail": {"columns": ["customer_id", "total"], "dropped": ["id", "status", "created_at"]},
    }
    assert list(program.lineage["extract_orders"]) == ["customer_id", "total"]


def test_projection_pruning_keeps_columns_the_extract_itself_uses() -> None:
    text = doc(
        "      query: SELECT id, total AS amount, status FROM orders ORDER BY amount DESC",
        "SELECT id FROM src",
    )
    program = assert_same_rows(text)
    (rewrite,) = program.rewrites
    assert rewrite["after"] == "SELECT id, total AS amount FROM orders ORDER BY amount DESC"


def test_table_extract_becomes_a_query_with_both_rewrites() -> None:
    text = doc(
        "      table: orders",
        "SELECT id, total FROM src WHERE total > 100 AND upper(status) = 'PAID'",
    )
    program = assert_same_rows(text)
    assert [(r["kind"], r["before"], r["after"]) for r in program.rewrites] == [
        (
            "predicate_pushdown",
            "SELECT * FROM orders",
            "SELECT * FROM orders WHERE total > 100",
        ),
        (
            "projection_pruning",
            "SELECT * FROM orders WHERE total > 100",
            "SELECT id, total, status FROM orders WHERE total > 100",
        ),
    ]
    config = program.configs["extract_orders"]
    assert "table" not in config
    assert config["query"] == "SELECT id, total, status FROM orders WHERE total > 100"
    assert program.sql["extract_orders"]["query"].canonical == (
        "SELECT `id`, `total`, `status` FROM `orders` WHERE `total` > 100"
    )


# ---- when nothing may be rewritten -------------------------------------------------------

WRITER = """  - id: keep_raw
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${extract_orders.df}"}
    config: {path: out/raw.csv}
"""


@pytest.mark.parametrize(
    ("extract_config", "transform_sql", "extra"),
    [
        # the extract feeds another step too
        (
            "      query: SELECT id, total, status FROM orders",
            "SELECT id FROM src WHERE total > 1",
            WRITER,
        ),
        # filtering after a LIMIT is not filtering before it
        (
            "      query: SELECT id, total FROM orders\n      limit: 5",
            "SELECT id FROM src WHERE total > 1",
            "",
        ),
        # ordering comparisons on strings depend on collation
        (
            "      query: SELECT id, status FROM orders",
            "SELECT id, status FROM src WHERE status > 'm'",
            "",
        ),
        # a transform reading `*` uses every column
        ("      query: SELECT id, total FROM orders", "SELECT * FROM src WHERE id * 2 > 4", ""),
        # a WHERE name that is the transform's own alias is not an upstream column
        (
            "      query: SELECT id, total FROM orders",
            "SELECT id, total * 2 AS total2, total FROM src WHERE total2 > 100",
            "",
        ),
        # non-deterministic or non-portable expressions stay in DuckDB
        (
            "      query: SELECT id, total FROM orders",
            "SELECT id, total FROM src WHERE random() < total",
            "",
        ),
        # a condition reading the extract's row count would see fewer rows
        (
            "      query: SELECT id, total FROM orders",
            "SELECT id, total FROM src WHERE total > 100",
            '    when: "${steps.extract_orders.rows_read} > 0"\n',
        ),
    ],
)
def test_not_rewritten(extract_config: str, transform_sql: str, extra: str) -> None:
    text = doc(extract_config, transform_sql, extra=extra)
    program = compile_doc(text)
    assert program.rewrites == []


def test_pushdown_needs_the_catalog_types() -> None:
    text = doc(
        "      query: SELECT id, total FROM orders",
        "SELECT id, total FROM src WHERE total > 100",
    )
    assert compile_doc(text, catalogs=False).rewrites == []
    assert [r["kind"] for r in compile_doc(text).rewrites] == ["predicate_pushdown"]


def test_no_optimize_leaves_the_extract_alone() -> None:
    text = doc("      table: orders", "SELECT id FROM src WHERE total > 100")
    program = compile_doc(text, optimize=False)
    assert program.rewrites == []
    assert program.configs["extract_orders"]["table"] == "orders"


def test_rewrites_are_deterministic() -> None:
    text = doc("      table: orders", "SELECT id FROM src WHERE total > 100 AND status = 'paid'")
    assert compile_doc(text).rewrites == compile_doc(text).rewrites


def test_docstring_example() -> None:
    module = importlib.import_module("compiler.passes.optimize")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
