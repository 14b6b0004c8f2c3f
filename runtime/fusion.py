"""Which chains of DuckDB-only steps run as one DuckDB statement, and the checks that say so.

A file read whose rows go through `duckdb.processor` transforms into one file writer needs
no data-plane table on the way: the reader's rows become a view over its table function
(`read_csv(...)` with exactly the options and types its `run` uses: components/protocol.py
`ReadRelation`), each transform's query a view over the one before, and the writer's one
`COPY` streams the last view into its staged file, published as always. At 5M rows CSV →
DuckDB → CSV took 4.4 s through two tables (each written, spilled past the memory limit,
and read back) against 1.7 s for the one COPY.

A chain runs as one statement only where nothing but the time can tell the difference:
- every step of it but the writer has exactly one consumer, the next step; the reader
  reads no table, each transform reads only the step before it;
- no step retries, times out or runs on a condition; no `--select`, `--keep-outputs` or
  `--keep-data-plane` (the runner's `streaming`);
- the statement reads every value the reader's table would hold and yields one row for
  each (`reads_every_value`: DuckDB's plan is projections over one scan of all the
  reader's columns, no filter, no limit), so the row counts of every step are the COPY's,
  and a value the reader cannot read fails as it would have;
- no transform calls a function whose value changes from one statement to the next
  (`repeatable`): each step keeps the first 100 rows of its view as its sample for
  artifacts/, read again by a LIMIT 100, and they must be the rows the file got.

A chain that fails these checks, or whose statement fails, runs step by step as before
(runtime/runner.py `_run_fused`), so every error is worded and attributed as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.manifest import ManifestStep
from components.common.quoting import quote_identifier

#: The one transform component whose step is a DuckDB SELECT over its inputs.
PROCESSOR = "duckdb.processor"
#: What the plan may say about the scan: anything else (filters pushed into it) means the
#: scan may skip rows, and the chain is not fused.
SCAN_INFO = frozenset({"Function", "Projections", "Estimated Cardinality"})
#: Functions that read the clock, besides DuckDB's volatile ones: the same query gives
#: another value a statement later.
CLOCK = frozenset(
    {
        "now",
        "today",
        "current_date",
        "current_time",
        "current_timestamp",
        "current_localtime",
        "current_localtimestamp",
        "get_current_time",
        "get_current_timestamp",
        "transaction_timestamp",
        "localtime",
        "localtimestamp",
    }
)


@dataclass(frozen=True)
class Chain:
    """A file read, the transforms its rows go through, and the writer that gets them."""

    reader: ManifestStep
    transforms: tuple[ManifestStep, ...]
    writer: ManifestStep

    @property
    def steps(self) -> list[ManifestStep]:
        return [self.reader, *self.transforms, self.writer]


def fused_chains(
    steps: Sequence[ManifestStep],
    configs: Mapping[str, Mapping[str, Any]],
    driver_of: Callable[[str], Any],
) -> dict[str, Chain]:
    """Each read step that starts a fusable chain -> the chain.

    >>> from compiler.manifest import ManifestStep
    >>> def step(id, component, mode, up=None, **more):
    ...     tables = {"df": up} if up else {}
    ...     needs = (up,) if up else ()
    ...     return ManifestStep(id, component, "1", mode, "", "", needs=needs, tables=tables)
    >>> class File:
    ...     def relation(self): ...
    ...     def takes_fused(self, config): return True
    >>> plan = [
    ...     step("a", "filesystem.csv_extractor", "read"),
    ...     step("t", "duckdb.processor", "transform", "a"),
    ...     step("w", "filesystem.csv_writer", "write", "t"),
    ... ]
    >>> [s.id for s in fused_chains(plan, {}, lambda c: File())["a"].steps]
    ['a', 't', 'w']
    >>> plan.append(step("w2", "filesystem.csv_writer", "write", "a"))  # a second consumer
    >>> fused_chains(plan, {}, lambda c: File())
    {}
    """
    by_id = {step.id: step for step in steps}
    consumers: dict[str, list[str]] = {}
    for step in steps:
        for upstream in _upstreams(step):
            consumers.setdefault(upstream, []).append(step.id)
    chains = {}
    for writer in steps:
        if writer.mode != "write" or not _takes_fused(driver_of, writer, configs):
            continue
        links = [writer]
        while True:
            upstreams = _upstreams(links[-1])
            if len(upstreams) != 1:
                break
            (up_id,) = upstreams
            up = by_id.get(up_id)
            if up is None or consumers.get(up_id) != [links[-1].id]:
                break
            links.append(up)
            if up.mode == "read":
                break
            if up.mode != "transform" or up.component != PROCESSOR:
                break
        reader = links[-1]
        if (
            len(links) < 2
            or reader.mode != "read"
            or _upstreams(reader)
            or any(s.when or s.retry or s.timeout_s for s in links)
            or not hasattr(driver_of(reader.component), "relation")
            or not _takes_fused(driver_of, reader, configs)
        ):
            continue
        chains[reader.id] = Chain(reader, tuple(reversed(links[1:-1])), writer)
    return chains


def _takes_fused(
    driver_of: Callable[[str], Any], step: ManifestStep, configs: Mapping[str, Mapping[str, Any]]
) -> bool:
    takes = getattr(driver_of(step.component), "takes_fused", None)
    return takes is not None and bool(takes(configs.get(step.id, {})))


def _upstreams(step: ManifestStep) -> set[str]:
    return set(step.needs) | set(step.input_tables.values())


def view_name(index: int) -> str:
    """The view a chain's step `index` is read through: a name no query of a plan can
    use (the compiler lets a transform read only its inputs' names)."""
    return f"_osiris_fused_{index}"


def one_select(query: Any) -> str | None:
    """The processor's query as it runs it (one SELECT, no trailing semicolon), or None
    when it is not one: the processor itself then says why, run step by step."""
    import duckdb

    if not isinstance(query, str) or not query.strip():
        return None
    text = query.strip().rstrip(";").strip()
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error:
        return None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        return None
    return text


def transform_sql(query: str, relations: Mapping[str, str]) -> str:
    """`query` reading each name it may use (-> a relation) through a CTE of that name.

    The processor makes a temporary view of each name; in a chain two transforms may use
    the same name (`df`) for different steps, so here each query gets its own names.

    >>> print(transform_sql("SELECT a FROM df", {"df": '"v0"'}))
    WITH "df" AS NOT MATERIALIZED (SELECT * FROM "v0")
    SELECT * FROM (
    SELECT a FROM df
    ) AS "_osiris_query"
    """
    ctes = ", ".join(
        f"{quote_identifier(name)} AS NOT MATERIALIZED (SELECT * FROM {relation})"
        for name, relation in relations.items()
    )
    return f'WITH {ctes}\nSELECT * FROM (\n{query}\n) AS "_osiris_query"'


def reads_every_value(plane: Any, select: str, columns: Sequence[str]) -> bool:
    """True when DuckDB's plan of `select` is projections over one table-function scan
    that reads all of `columns` and skips nothing: every row and value the reader's table
    would hold is read (a value it cannot read fails the statement), and each row gives
    one row out, so every step of the chain has the COPY's row count."""
    import duckdb

    try:
        (row,) = plane.execute(f"EXPLAIN (FORMAT json) {select}").fetchall()
        plan = json.loads(row[1])
    except (duckdb.Error, ValueError):
        return False
    if not isinstance(plan, list) or len(plan) != 1:
        return False
    node = plan[0]
    while node.get("name") == "PROJECTION" and len(node.get("children") or []) == 1:
        node = node["children"][0]
    info = node.get("extra_info") or {}
    if node.get("children") or "Function" not in info or set(info) - SCAN_INFO:
        return False
    projected = info.get("Projections") or []
    if isinstance(projected, str):
        projected = [projected]
    return set(columns) <= set(projected)


def repeatable(plane: Any, queries: Sequence[str]) -> bool:
    """True when no query calls a volatile function (random(), uuid()) or reads the clock:
    run twice, each gives the same rows."""
    import duckdb

    if not queries:
        return True
    try:
        volatile = _volatile(plane)
        for query in queries:
            (text,) = plane.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
            tree = json.loads(text)
            if tree.get("error") or set(_called(tree)) & volatile:
                return False
    except (duckdb.Error, ValueError):
        return False
    return True


_VOLATILE: frozenset[str] | None = None


def _volatile(plane: Any) -> frozenset[str]:
    """DuckDB's volatile functions and the clock's, asked once a process (the catalog
    query takes tens of milliseconds)."""
    global _VOLATILE
    if _VOLATILE is None:
        found = plane.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE stability = 'VOLATILE'"
        ).fetchall()
        _VOLATILE = frozenset(str(name).lower() for (name,) in found) | CLOCK
    return _VOLATILE


def _called(node: Any) -> Iterator[str]:
    """The function names in DuckDB's serialized parse tree, and the bare names (the
    parser keeps `current_date` as a column reference)."""
    if isinstance(node, list):
        for item in node:
            yield from _called(item)
    elif isinstance(node, dict):
        if isinstance(node.get("function_name"), str):
            yield node["function_name"].lower()
        names = node.get("column_names")
        if node.get("class") == "COLUMN_REF" and isinstance(names, list) and len(names) == 1:
            yield str(names[0]).lower()
        for value in node.values():
            yield from _called(value)


def view_columns(plane: Any, name: str) -> list[str]:
    """A temporary view's columns as its catalog entry keeps them: no second bind (each
    bind of `read_csv` sniffs the file again, tens of milliseconds)."""
    found = plane.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'temp' "
        "AND table_name = ? ORDER BY column_index",
        [name],
    ).fetchall()
    return [str(row[0]) for row in found]


@dataclass
class Fused:
    """A chain's views on the cursor that runs it."""

    #: the view the writer reads: the last transform's, or the reader's
    source: str
    #: step id -> the view of its rows (every step but the writer)
    views: dict[str, str]
    #: step id -> its SQL over the names it reads (a transform's), and those names' steps
    queries: dict[str, tuple[str, dict[str, str]]]
    #: the reader's columns, as its table would have them
    columns: list[str]


def fuse(
    plane: Any, chain: Chain, read_sql: str, configs: Mapping[str, Mapping[str, Any]]
) -> Fused | None:
    """The chain's views on `plane` (a cursor of its own: they are temporary), or None
    when the chain cannot run as one statement that nothing but the time tells apart."""
    import duckdb

    from components.duckdb_processor.driver import input_views

    reader = quote_identifier(view_name(0))
    views = {chain.reader.id: reader}
    relation_of = {quote_identifier(chain.reader.id): reader}
    reads: dict[str, tuple[str, dict[str, str]]] = {}
    try:
        plane.execute(f"CREATE OR REPLACE TEMP VIEW {reader} AS {read_sql}")
        columns = view_columns(plane, view_name(0))
        for index, step in enumerate(chain.transforms, 1):
            query = one_select(configs.get(step.id, {}).get("query"))
            if query is None:
                return None
            names = input_views({n: quote_identifier(up) for n, up in step.input_tables.items()})
            sql = transform_sql(query, {name: relation_of[table] for name, table in names.items()})
            if len(duckdb.extract_statements(sql)) != 1:  # the query stays inside its brackets
                return None
            view = quote_identifier(view_name(index))
            plane.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {sql}")
            views[step.id] = relation_of[quote_identifier(step.id)] = view
            reads[step.id] = (query, dict(names))
    except (duckdb.Error, KeyError):
        return None
    source = views[chain.steps[-2].id]
    if not reads_every_value(plane, f"SELECT * FROM {source}", columns):
        return None
    if not repeatable(plane, [query for query, _ in reads.values()]):
        return None
    return Fused(source, views, reads, columns)


def keep_samples(plane: Any, chain: Chain, fused: Fused) -> None:
    """Each step's sample as its data-plane table, for artifacts/: the reader's first rows
    (read from the file again), each transform's query over the sample before it — the
    plan is projections, row by row, so that is the first rows of its view."""
    from runtime.outputs import SAMPLE_ROWS

    reader = quote_identifier(chain.reader.id)
    first = f"SELECT * FROM {fused.views[chain.reader.id]} LIMIT {SAMPLE_ROWS}"
    plane.execute(f"CREATE OR REPLACE TABLE {reader} AS {first}")
    for step in chain.transforms:
        query, names = fused.queries[step.id]
        sample = transform_sql(query, {name: qualified(plane, t) for name, t in names.items()})
        plane.execute(f"CREATE OR REPLACE TABLE {quote_identifier(step.id)} AS {sample}")


def qualified(plane: Any, table: str) -> str:
    """`"t"` -> `"db"."schema"."t"`: a CTE named like the table must not read itself."""
    database, schema = plane.execute("SELECT current_database(), current_schema()").fetchone()
    return f"{quote_identifier(str(database))}.{quote_identifier(str(schema))}.{table}"
