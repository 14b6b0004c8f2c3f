"""A transform's query bound by DuckDB itself, over empty tables shaped like its inputs.

sqlglot checks a query the way sqlglot reads it; the runtime runs it in DuckDB. Binding
the query in DuckDB at compile time (`SELECT ... FROM` empty views with the upstream
columns and types) catches what only the engine knows: its own syntax, a column no input
has, a function over the wrong type. Nothing is executed: building a DuckDB relation
binds the query; rows are never fetched. The connection has no file system, network or
extension access and is locked, so a query that slipped past the checks still cannot
touch anything.

An input column of unknown type is declared as DuckDB's `NULL` type, which converts to
anything; a type error is then only reported when every input column's type is known,
so an unknown type never causes a false error. Unknown columns and syntax errors are
reported whenever the input's column names are known.

>>> movies = {"movies": [("id", "integer"), ("title", "string")]}
>>> bind_transform("SELECT title, rating FROM movies", movies).problems[0].message
"no input has a column 'rating' (the transform's inputs: movies)"
>>> bind_transform("SELECT id + 1 AS n FROM movies", {"movies": [("id", "integer")]}).outputs
[('n', 'integer')]
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compiler.diagnostics import did_you_mean
from compiler.sql.problem import Problem
from components.common.quoting import Dialect, quote_identifier

if TYPE_CHECKING:
    import duckdb

#: The catalog's normalized types (`normalized_type`) as DuckDB declares them. Types not
#: listed (time, json, binary, uuid, other) arrive in DuckDB as whatever the driver made
#: of them, so they bind as the NULL type rather than as a guess.
DUCKDB_TYPES = {
    "integer": "BIGINT",
    "decimal": "DECIMAL(38, 10)",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
    "text": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
}

#: DuckDB's result types back in the normalized vocabulary (prefix match, first wins).
_NORMALIZED = (
    ("TIMESTAMP WITH TIME ZONE", "timestamptz"),
    ("TIMESTAMP", "datetime"),
    ("DECIMAL", "decimal"),
    ("HUGEINT", "integer"),
    ("UHUGEINT", "integer"),
    ("BIGINT", "integer"),
    ("UBIGINT", "integer"),
    ("INTEGER", "integer"),
    ("UINTEGER", "integer"),
    ("SMALLINT", "integer"),
    ("USMALLINT", "integer"),
    ("TINYINT", "integer"),
    ("UTINYINT", "integer"),
    ("DOUBLE", "float"),
    ("FLOAT", "float"),
    ("BOOLEAN", "boolean"),
    ("VARCHAR", "string"),
    ("DATE", "date"),
    ("TIME", "time"),
    ("BLOB", "binary"),
    ("UUID", "uuid"),
    ("JSON", "json"),
)

Columns = Sequence[tuple[str, str | None]]

#: DuckDB's NULL type: converts to any type, so an unknown type binds anywhere.
_ANY = '"NULL"'


@dataclass(frozen=True, slots=True)
class Bound:
    """What DuckDB said: problems, and the output columns with types when it bound."""

    problems: tuple[Problem, ...]
    outputs: list[tuple[str, str]] | None = None


def bind_transform(text: str, tables: Mapping[str, Columns | None]) -> Bound:
    """Parse `text` in DuckDB; bind it too when every table's column names are known."""
    connection = _connection()
    connection.begin()  # the views go with the rollback: the connection is reused
    try:
        return _bind(connection, text, tables)
    finally:
        connection.rollback()


def _bind(
    connection: duckdb.DuckDBPyConnection, text: str, tables: Mapping[str, Columns | None]
) -> Bound:
    import duckdb

    try:
        statements = connection.extract_statements(text)
    except duckdb.ParserException as err:
        return Bound((_syntax_error(err, text),))
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        # the driver runs exactly one SELECT: PIVOT, for one, expands into several
        kinds = ", ".join(s.type.name for s in statements) or "nothing"
        return Bound(
            (
                Problem(
                    "SQL402",
                    f"DuckDB reads the query as {kinds}, not one SELECT",
                    hint="write one SELECT; for a PIVOT, list its values "
                    "(PIVOT ... ON k IN ('a', 'b') USING ...) or aggregate with FILTER",
                ),
            )
        )
    if any(columns is None for columns in tables.values()):
        return Bound(())
    shapes = {name: columns for name, columns in tables.items() if columns is not None}
    typed = all(t in DUCKDB_TYPES for columns in shapes.values() for _, t in columns)
    for name, columns in shapes.items():
        connection.execute(_empty_view(name, columns))
    try:
        relation = connection.sql(text)
    except duckdb.Error as err:
        problem = _bind_error(err, text, tables)
        if problem.code == "SQL412" and not typed:
            return Bound(())
        return Bound((problem,))
    if relation is None:
        return Bound(())
    outputs = [
        (name, _normalized(str(kind)))
        for name, kind in zip(relation.columns, relation.types, strict=True)
    ]
    return Bound((), outputs)


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's binding connection, made once (a new one costs ~20 ms)."""
    import duckdb

    cached: duckdb.DuckDBPyConnection | None = getattr(_local, "connection", None)
    if cached is not None:
        return cached
    connection = duckdb.connect(
        config={
            "enable_external_access": False,
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "threads": 1,
            "memory_limit": "64MB",
        }
    )
    connection.execute("SET lock_configuration = true")
    _local.connection = connection
    return connection


def _empty_view(name: str, columns: Columns) -> str:
    return empty_view(name, columns, lambda kind: DUCKDB_TYPES.get(kind or "", _ANY))


def empty_view(
    name: str,
    columns: Columns,
    sql_type: Callable[[str | None], str],
    dialect: Dialect = "duckdb",
) -> str:
    """`CREATE TEMP VIEW name AS SELECT CAST(NULL AS T) AS c, ... WHERE false`: a table of
    `columns` and no rows, each column's type `sql_type(kind)` (the Spark check makes the
    same views in Spark SQL)."""
    if not columns:
        return f"CREATE TEMP VIEW {quote_identifier(name, dialect)} AS SELECT 1 AS _ WHERE false"
    select = ", ".join(
        f"CAST(NULL AS {sql_type(kind)}) AS {quote_identifier(column, dialect)}"
        for column, kind in columns
    )
    return f"CREATE TEMP VIEW {quote_identifier(name, dialect)} AS SELECT {select} WHERE false"


def _normalized(kind: str) -> str:
    upper = kind.upper()
    return next((name for prefix, name in _NORMALIZED if upper.startswith(prefix)), "other")


def _first_line(err: Exception) -> str:
    message = str(err).split("\n", 1)[0]
    return re.sub(r"^[A-Za-z ]+ Error: ", "", message).rstrip("!")


def _syntax_error(err: Exception, text: str) -> Problem:
    """SQL400 at the caret DuckDB prints under `LINE n: ...`."""
    return Problem(
        "SQL400",
        f"SQL syntax error (DuckDB): {_first_line(err)}",
        _caret_span(str(err), text),
        hint="the transform runs in DuckDB: write it in DuckDB's SQL",
    )


def _caret_span(message: str, text: str) -> tuple[int, int] | None:
    found = re.search(r"^LINE (\d+): (.*)\n( *)\^", message, re.MULTILINE)
    if found is None:
        return None
    number, shown, pad = int(found.group(1)), found.group(2), len(found.group(3))
    column = pad - len(f"LINE {number}: ")
    lines = text.split("\n")
    if not 0 < number <= len(lines):
        return None
    line = lines[number - 1]
    # DuckDB may show a window of a long line, marked with "..." at either end
    context = shown.removeprefix("...")
    column -= len(shown) - len(context)
    context = context.removesuffix("...")
    start = line.find(context)
    if start < 0 or column < 0:
        return None
    offset = sum(len(part) + 1 for part in lines[: number - 1]) + start + column
    return (offset, min(offset + 1, len(text))) if offset < len(text) else None


_UNKNOWN_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_CANDIDATES = re.compile(r'"([^"]+)"')


def _bind_error(err: Exception, text: str, tables: Mapping[str, Columns | None]) -> Problem:
    """SQL408 for a column no input has; SQL412 for anything else DuckDB refuses."""
    message = str(err)
    unknown = _UNKNOWN_COLUMN.search(message)
    if unknown is not None:
        column = unknown.group(1).split(".")[-1]
        pool = sorted({name for columns in tables.values() for name, _ in columns or ()})
        names = ", ".join(sorted(tables)) or "none"
        suggestions = did_you_mean(column, pool)
        return Problem(
            "SQL408",
            f"no input has a column '{column}' (the transform's inputs: {names})",
            _word_span(text, column),
            hint=None if suggestions else "columns: " + ", ".join(pool[:30]),
            suggestions=suggestions,
        )
    function = re.search(r"'(\w+)\(", message)
    span = _caret_span(message, text)
    if span is None and function is not None:
        span = _word_span(text, function.group(1))
    return Problem(
        "SQL412",
        f"DuckDB refuses the query: {_first_line(err)}",
        span,
        hint="check the types of the input columns (osiris discover shows them); "
        "an explicit CAST often fixes it"
        if re.search(r"type|cast", message, re.IGNORECASE)
        else "the transform runs in DuckDB: write it in DuckDB's SQL",
    )


def _word_span(text: str, word: str) -> tuple[int, int] | None:
    """The first place `word` stands as a name (not inside a longer one, nor a string)."""
    pattern = re.compile(rf"(?<![\w$'])\"?{re.escape(word)}\"?(?![\w$'])", re.IGNORECASE)
    found = pattern.search(text)
    return (found.start(), found.end()) if found else None
