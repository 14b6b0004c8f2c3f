"""duckdb.processor: one DuckDB SELECT over upstream tables becomes the step's table.

The query may name an upstream table by its input name, by its step id, or as
`df_<step_id>`: the compiler resolves those names (sanitized, collisions hashed) and the
runner passes them all in `inputs`; a caller that passes input names only still gets the
step id and `df_` aliases. Each name becomes a TEMP VIEW on the step's own cursor (temp
objects are private to a DuckDB connection), so the names resolve for this query only
and never leak into another step. An input name wins over a step id, which wins over a
`df_` name, when two would collide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.common.quoting import quote_identifier
from components.protocol import (
    DriverError,
    StepContext,
    StepResult,
    first_paragraph,
    missing_input,
    no_python_tables,
)


class DuckDBProcessorDriver:
    """Runs `config["query"]` and stores its result as `ctx.output_table`."""

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        import duckdb

        query = _single_select(config.get("query"))
        if ctx.cancelled():
            raise DriverError("cancelled before the query ran", category="cancelled")
        cur = ctx.data_plane
        no_python_tables(cur)
        views = input_views(inputs)
        qualified = {table: _qualified(cur, table) for table in set(views.values())}
        try:
            try:
                rows_read = sum(
                    int(cur.execute(f"SELECT count(*) FROM {qualified[table]}").fetchone()[0])
                    for table in dict.fromkeys(inputs.values())
                )
                for name, table in views.items():
                    source = qualified[table]
                    view = quote_identifier(name)
                    cur.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {source}")
            except duckdb.Error as err:
                raise missing_input(err) from None
            try:
                cur.execute(f"CREATE OR REPLACE TABLE {ctx.output_table} AS {query}")
            except duckdb.Error as err:
                raise _query_failure(err, views) from None
            rows_written = int(
                cur.execute(f"SELECT count(*) FROM {ctx.output_table}").fetchone()[0]
            )
        finally:
            for name in views:
                cur.execute(f"DROP VIEW IF EXISTS temp.main.{quote_identifier(name)}")
        return StepResult(rows_read=rows_read, rows_written=rows_written)


DRIVER = DuckDBProcessorDriver


def input_views(inputs: Mapping[str, str]) -> dict[str, str]:
    """Every name the query may use → the data-plane table it stands for.

    >>> input_views({"orders": '"extract_orders"'})
    {'orders': '"extract_orders"', 'extract_orders': '"extract_orders"', \
'df_extract_orders': '"extract_orders"'}
    """
    names: dict[str, tuple[str, str]] = {}  # lowered name -> (name, table): DuckDB folds case
    for rank in range(3):
        for input_name, table in inputs.items():
            step_id = _split(table)[-1]
            name = (input_name, step_id, f"df_{step_id}")[rank]
            names.setdefault(name.lower(), (name, table))
    return dict(names.values())


def _single_select(query: Any) -> str:
    import duckdb

    if not isinstance(query, str) or not query.strip():
        raise DriverError("`query` is required: one DuckDB SELECT", category="config")
    text = query.strip().rstrip(";").strip()
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise DriverError(
            f"the query does not parse: {first_paragraph(err)}", category="sql"
        ) from None
    if len(statements) != 1:
        raise DriverError(
            f"`query` must be one statement, found {len(statements)}", category="config"
        )
    if statements[0].type != duckdb.StatementType.SELECT:
        raise DriverError(
            f"`query` must be a SELECT, found {statements[0].type.name}",
            category="config",
            hint="a duckdb.processor only reads its inputs; its result becomes the step's table",
        )
    return text


def _query_failure(err: Exception, views: Mapping[str, str]) -> DriverError:
    import duckdb

    if isinstance(err, duckdb.OutOfMemoryException):
        return _out_of_memory(err)
    hint = None
    if isinstance(err, duckdb.CatalogException):
        hint = "the query can read: " + ", ".join(views)
    category = "data" if isinstance(err, duckdb.ConversionException) else "sql"
    return DriverError(f"the query failed: {first_paragraph(err)}", category=category, hint=hint)


def _out_of_memory(err: Exception) -> DriverError:
    """Out of memory, or out of disk to spill to: the run's resources, not its SQL."""
    reason = str(err).strip().splitlines()[0]
    if "max_temp_directory_size" in str(err):  # the disk under the session's .spill is full
        return DriverError(
            f"the query ran out of disk space to spill to: {reason}",
            category="io",
            hint="free disk space where run_logs/ is (DuckDB spills there past the memory "
            "limit), or raise --memory-limit",
        )
    return DriverError(
        f"the query ran out of memory: {reason}",
        category="config",
        hint="raise --memory-limit (or OSIRIS_MEMORY_LIMIT): past it DuckDB spills to disk, "
        "but some work must fit in memory",
    )


def _qualified(cur: Any, table: str) -> str:
    """`"t"` → `"db"."main"."t"`: a view named like its table must not select itself."""
    parts = _split(table)
    if len(parts) >= 3:
        return table
    database, schema = cur.execute("SELECT current_database(), current_schema()").fetchone()
    prefix = [database] if len(parts) == 2 else [database, schema]
    return ".".join(quote_identifier(part) for part in [*prefix, *parts])


def _split(name: str) -> list[str]:
    """A possibly quoted, possibly dotted SQL name as its unquoted parts."""
    parts: list[str] = []
    current: list[str] = []
    index, quoted = 0, False
    while index < len(name):
        char = name[index]
        if quoted:
            if char == '"' and name[index + 1 : index + 2] == '"':
                current.append('"')
                index += 1
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted = True
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts
