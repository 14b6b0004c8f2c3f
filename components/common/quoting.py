"""SQL quoting: identifiers by dialect, string literals. One spelling for every layer.

>>> quote_identifier('a"b'), quote_identifier("a`b", "mysql"), quote_literal("it's")
('"a""b"', '`a``b`', "'it''s'")
>>> quote_identifier("a`b", "spark")
'`a``b`'

"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["duckdb", "postgres", "mysql", "spark"]


def quote_identifier(name: str, dialect: Dialect = "duckdb") -> str:
    """`name` as one identifier: DuckDB and PostgreSQL double quotes, MySQL and Spark SQL
    backticks, the quote character doubled inside."""
    if dialect in ("mysql", "spark"):
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str, dialect: Dialect = "duckdb") -> str:
    """`text` as a string literal: `'` doubled, and for MySQL (whose default mode reads
    backslash escapes) `\\` doubled too."""
    if dialect == "mysql":
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"
