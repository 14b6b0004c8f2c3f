"""A transform's DuckDB SQL as Spark SQL, for plans compiled with `--engine spark`.

sqlglot transpiles the canonical DuckDB text; a construct sqlglot cannot express in Spark
is an `UnsupportedSpark` carrying the message, never SQL that means something else.

>>> to_spark('SELECT "id", CAST(amount AS DECIMAL(10, 2)) AS a FROM orders')
'SELECT `id`, CAST(amount AS DECIMAL(10, 2)) AS a FROM orders'
"""

from __future__ import annotations


class UnsupportedSpark(ValueError):
    """The query uses something Spark SQL has no equivalent for."""


def to_spark(sql: str) -> str:
    """`sql` (DuckDB) as one Spark SQL statement; raises `UnsupportedSpark`."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

    try:
        statements = sqlglot.transpile(
            sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE
        )
    except (UnsupportedError, ParseError) as err:
        raise UnsupportedSpark(str(err)) from None
    if len(statements) != 1:
        raise UnsupportedSpark(f"expected one statement, found {len(statements)}")
    return statements[0]
