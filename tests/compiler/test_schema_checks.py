"""Schema-aware compilation: with a catalog of the source, a query naming a table or column
that does not exist fails with a suggestion; the same compile without the catalog passes."""

from __future__ import annotations

import pytest

from compiler.catalog import Catalog, Column, Table
from compiler.compile import check, default_context
from compiler.program import Program


def _col(name: str, source_type: str, normalized: str) -> Column:
    return Column(name=name, type=source_type, normalized_type=normalized)


SHOP = Catalog(
    connection="@mysql.main",
    family="mysql",
    default_schema="shop",
    tables=(
        Table(
            schema="shop",
            name="orders",
            columns=(
                _col("id", "int", "integer"),
                _col("customer_id", "int", "integer"),
                _col("total", "decimal(10,2)", "decimal"),
                _col("status", "varchar(20)", "string"),
                _col("created_at", "datetime", "datetime"),
            ),
            primary_key=("id",),
        ),
        Table(
            schema="shop",
            name="customers",
            columns=(
                _col("id", "int", "integer"),
                _col("name", "varchar(80)", "string"),
                _col("country", "char(2)", "string"),
            ),
            primary_key=("id",),
        ),
    ),
)


def compile_doc(text: str, *, catalog: bool = True, key: str = "@mysql.main") -> Program:
    context = default_context(catalogs={key: SHOP} if catalog else {})
    return check(text, context)


def extract_doc(sql: str, connection: str | None = "@mysql.main") -> str:
    """An extract whose `query: |` starts on line 10."""
    body = "\n".join("        " + line for line in sql.split("\n"))
    conn = f'      connection: "{connection}"' if connection else "      batch_size: 1000"
    return f"""oml_version: "0.1.0"
name: schema
steps:
  - id: extract_orders
    component: mysql.extractor
    mode: read
    config:
{conn}
      query: |
{body}
"""


# ---- extracts --------------------------------------------------------------------------


def test_unknown_column_suggests_the_close_one() -> None:
    program = compile_doc(extract_doc("SELECT id, custmer_id\nFROM orders"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column, d.end_column) == ("SQL408", 10, 20, 30)
    assert d.message == "unknown column 'custmer_id'"
    assert d.suggestions == ("customer_id",)
    assert d.hint == "did you mean 'customer_id'?"


def test_unknown_table_suggests_the_close_one() -> None:
    program = compile_doc(extract_doc("SELECT id\nFROM ordrs"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL407", 11, 14)
    assert d.message == "unknown table 'ordrs' in @mysql.main"
    assert d.suggestions == ("orders",)


def test_qualified_column_of_the_wrong_table() -> None:
    sql = "SELECT o.id, c.nme\nFROM orders AS o\nJOIN customers AS c ON c.id = o.customer_id"
    (d,) = compile_doc(extract_doc(sql)).diagnostics
    assert (d.code, d.line, d.column) == ("SQL408", 10, 24)
    assert d.message == "'c' (customers) has no column 'nme'"
    assert d.suggestions == ("name",)


def test_ambiguous_column_names_both_tables() -> None:
    sql = "SELECT id, name\nFROM orders AS o\nJOIN customers AS c ON c.id = o.customer_id"
    (d,) = compile_doc(extract_doc(sql)).diagnostics
    assert (d.code, d.line, d.column) == ("SQL409", 10, 16)
    assert d.message == "column 'id' is ambiguous: 'o' (orders) and 'c' (customers) both have it"
    assert d.suggestions == ("c.id", "o.id")
    assert d.hint == "qualify it: c.id or o.id"


def test_column_of_a_cte_is_checked_too() -> None:
    sql = (
        "WITH big AS (SELECT id, total FROM orders WHERE total > 100)\n"
        "SELECT b.id, b.totl FROM big AS b"
    )
    (d,) = compile_doc(extract_doc(sql)).diagnostics
    assert (d.code, d.line, d.suggestions) == ("SQL408", 11, ("total",))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, custmer_id FROM orders",
        "SELECT id FROM ordrs",
        "SELECT id, name FROM orders AS o JOIN customers AS c ON c.id = o.customer_id",
    ],
)
def test_without_the_catalog_the_same_query_passes(sql: str) -> None:
    assert compile_doc(extract_doc(sql), catalog=False).diagnostics == []
    assert compile_doc(extract_doc(sql), key="@mysql.other").diagnostics == []


def test_default_connection_uses_the_family_catalog() -> None:
    program = compile_doc(extract_doc("SELECT totl FROM orders", connection=None), key="@mysql")
    assert [d.code for d in program.diagnostics] == ["SQL408"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT status, COUNT(*) AS n FROM orders GROUP BY status HAVING n > 1 ORDER BY n",
        "SELECT id FROM orders WHERE customer_id IN "
        "(SELECT id FROM customers WHERE country = 'DE')",
        "SELECT id FROM orders AS o WHERE EXISTS "
        "(SELECT 1 FROM customers AS c WHERE c.id = o.customer_id AND total > 1)",
        "SELECT id, country FROM orders JOIN customers USING (id)",
        "SELECT o.*, c.country FROM orders AS o JOIN customers AS c ON c.id = o.customer_id",
        "SELECT id FROM orders UNION SELECT id FROM customers",
        "SELECT 1 AS one FROM dual",
        "SELECT table_name FROM information_schema.tables",
        "SELECT id FROM archive.orders_2020",
        "WITH t AS (SELECT id, total AS amount FROM orders) SELECT amount FROM t ORDER BY amount",
    ],
)
def test_valid_queries_raise_no_false_alarm(sql: str) -> None:
    assert compile_doc(extract_doc(sql)).diagnostics == []


def test_star_expands_from_the_catalog_into_lineage_and_types() -> None:
    program = compile_doc(extract_doc("SELECT * FROM orders"))
    assert program.diagnostics == []
    assert list(program.lineage["extract_orders"]) == [
        "id",
        "customer_id",
        "total",
        "status",
        "created_at",
    ]
    assert program.lineage["extract_orders"]["total"] == ["orders.total"]
    assert program.column_types["extract_orders"] == {
        "id": "integer",
        "customer_id": "integer",
        "total": "decimal",
        "status": "string",
        "created_at": "datetime",
    }


# ---- table extracts --------------------------------------------------------------------


def table_doc(table: str, columns: str) -> str:
    return f"""oml_version: "0.1.0"
name: schema
steps:
  - id: extract_orders
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.main"
      table: {table}
      columns: {columns}
"""


def test_table_extract_unknown_table() -> None:
    (d,) = compile_doc(table_doc("ordrs", "[id]")).diagnostics
    assert (d.code, d.line, d.column, d.suggestions) == ("SQL407", 9, 14, ("orders",))
    assert d.path == "/steps/0/config/table"


def test_table_extract_unknown_column() -> None:
    (d,) = compile_doc(table_doc("orders", "[id, totl]")).diagnostics
    assert (d.code, d.line, d.column, d.suggestions) == ("SQL408", 10, 21, ("total",))
    assert d.message == "table 'orders' has no column 'totl'"
    assert compile_doc(table_doc("orders", "[id, totl]"), catalog=False).diagnostics == []


# ---- transforms downstream ---------------------------------------------------------------


def pipeline_doc(transform_sql: str) -> str:
    """An extract (catalog-checked) feeding a transform whose query is on line 18."""
    return f"""oml_version: "0.1.0"
name: schema
steps:
  - id: extract_orders
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.main"
      query: >-
        SELECT o.id, o.total AS amount, c.country
        FROM orders AS o JOIN customers AS c ON c.id = o.customer_id
  - id: by_country
    component: duckdb.processor
    mode: transform
    inputs: {{orders: "${{extract_orders.df}}"}}
    config:
      query: |
        {transform_sql}
"""


def test_transform_column_checked_against_the_upstream_schema() -> None:
    program = compile_doc(
        pipeline_doc("SELECT country, sum(amout) AS revenue FROM orders GROUP BY 1")
    )
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL408", 18, 29)
    assert d.suggestions == ("amount",)


def test_transform_over_unknown_upstream_columns_is_not_checked() -> None:
    text = pipeline_doc("SELECT country, sum(amout) AS revenue FROM orders GROUP BY 1")
    text = text.replace("SELECT o.id, o.total AS amount, c.country", "SELECT *")
    assert compile_doc(text, catalog=False).diagnostics == []


def test_upstream_column_names_from_the_query_check_the_transform_without_a_catalog() -> None:
    # DuckDB binds the transform over the names the extract's SELECT list gives
    text = pipeline_doc("SELECT country, sum(amout) AS revenue FROM orders GROUP BY 1")
    (d,) = compile_doc(text, catalog=False).diagnostics
    assert (d.code, d.line, d.column, d.suggestions) == ("SQL408", 18, 29, ("amount",))


def test_unknown_upstream_types_never_make_a_type_error() -> None:
    # without a catalog the types are unknown: sum() over them must bind
    text = pipeline_doc("SELECT country, sum(amount) || 'x' AS revenue FROM orders GROUP BY 1")
    assert compile_doc(text, catalog=False).diagnostics == []


def test_known_upstream_types_make_a_type_error_a_diagnostic() -> None:
    program = compile_doc(pipeline_doc("SELECT sum(country) AS revenue FROM orders"))
    (d,) = program.diagnostics
    assert (d.code, d.line, d.column) == ("SQL412", 18, 16)
    assert "sum(VARCHAR)" in d.message


def test_transform_lineage_names_upstream_steps_and_carries_types() -> None:
    program = compile_doc(
        pipeline_doc(
            "SELECT country, sum(amount) AS revenue, count(*) AS n, CAST(id AS VARCHAR) AS ref "
            "FROM orders GROUP BY country, id"
        )
    )
    assert program.diagnostics == []
    assert program.lineage["extract_orders"] == {
        "id": ["orders.id"],
        "amount": ["orders.total"],
        "country": ["customers.country"],
    }
    assert program.lineage["by_country"] == {
        "country": ["extract_orders.country"],
        "revenue": ["extract_orders.amount"],
        "n": [],
        "ref": ["extract_orders.id"],
    }
    assert program.column_types["extract_orders"] == {
        "id": "integer",
        "amount": "decimal",
        "country": "string",
    }
    assert program.column_types["by_country"] == {
        "country": "string",
        "revenue": "decimal",
        "n": "integer",
        "ref": "text",
    }


def test_transform_star_expands_upstream_columns() -> None:
    program = compile_doc(pipeline_doc("SELECT * FROM df_extract_orders"))
    assert program.diagnostics == []
    assert list(program.lineage["by_country"]) == ["id", "amount", "country"]
    assert program.column_types["by_country"]["amount"] == "decimal"
