"""Chains of DuckDB-only steps run as one DuckDB statement: which ones, the checks, the run.

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
(`run_chain`), so every error is worded and attributed as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compiler.manifest import ManifestStep
from components.common.quoting import quote_identifier
from components.protocol import DriverError, StepResult
from runtime.streams import Configs, DriverOf, upstreams

if TYPE_CHECKING:
    from runtime.runner import Runner

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
    steps: Sequence[ManifestStep], configs: Configs, driver_of: DriverOf
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
        for upstream in upstreams(step):
            consumers.setdefault(upstream, []).append(step.id)
    chains = {}
    for writer in steps:
        if writer.mode != "write" or not _takes_fused(driver_of, writer, configs):
            continue
        links = [writer]
        while True:
            before = upstreams(links[-1])
            if len(before) != 1:
                break
            (up_id,) = before
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
            or upstreams(reader)
            or any(s.when or s.retry or s.timeout_s for s in links)
            or not hasattr(driver_of(reader.component), "relation")
            or not _takes_fused(driver_of, reader, configs)
        ):
            continue
        chains[reader.id] = Chain(reader, tuple(reversed(links[1:-1])), writer)
    return chains


def _takes_fused(driver_of: DriverOf, step: ManifestStep, configs: Configs) -> bool:
    takes = getattr(driver_of(step.component), "takes_fused", None)
    return takes is not None and bool(takes(configs.get(step.id, {})))


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


def fuse(plane: Any, chain: Chain, read_sql: str, configs: Configs) -> Fused | None:
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


# ---- running a chain ------------------------------------------------------------------------


def run_chain(runner: Runner, chain: Chain) -> None:
    """Run a chain as one statement on a cursor of its own (its views are temporary): the
    reader's rows a view, each transform's query a view over the one before, the writer's
    one COPY over the last. The reader types its columns once; a chain that cannot run as
    one statement, or whose statement fails, goes on step by step from there, so each step
    reports (and fails) as it would have."""
    reader = chain.reader
    cursor = runner.data_plane.cursor()
    runner.cursors[reader.id] = cursor
    try:
        started = {reader.id: runner.announce(reader)}
        ctx = runner.context_on(reader, cursor)
        driver = runner.load_driver(reader.component)
        read_config = runner.plan.configs[reader.id]
        read, error = runner.guarded(lambda: driver.relation(ctx, read_config))
        if error is not None:
            outcome = runner.outcomes[reader.id]
            runner.failed(reader, outcome, error)
            runner.ended(reader, outcome, started[reader.id])
            _step_by_step(runner, chain.steps[1:], reader, started)
            return
        try:
            fused = fuse(cursor, chain, read.sql, runner.plan.configs)
        except Exception:  # a chain that cannot be checked is not fused
            fused = None
        if fused is None:
            _load_then_rest(runner, chain, cursor, read, started)
            return
        for step in chain.steps[1:]:
            started[step.id] = runner.announce(step)
        writer = chain.writer
        write_ctx = runner.context_on(writer, cursor)
        write_driver = runner.load_driver(writer.component)
        write_config = runner.plan.configs[writer.id]
        result, error = runner.guarded(
            lambda: write_driver.run(write_ctx, write_config, {"df": fused.source})
        )
        if error is None:
            _fused_done(runner, chain, cursor, fused, read.details, result, started)
        elif error.category == "cancelled":
            for step in chain.steps:
                runner.failed(step, runner.outcomes[step.id], error)
                runner.ended(step, runner.outcomes[step.id], started[step.id])
        else:  # run step by step: each step fails, or not, with its own error
            _load_then_rest(runner, chain, cursor, read, started)
    finally:
        runner.cursors.pop(reader.id, None)
        cursor.close()


def _fused_done(
    runner: Runner,
    chain: Chain,
    cursor: Any,
    fused: Fused,
    read_details: dict[str, Any],
    result: StepResult,
    started: dict[str, float],
) -> None:
    """A fused chain's statement wrote the file: every step read and made the COPY's
    rows (the plan is projections over one scan), and keeps its sample."""
    writer = chain.writer
    try:
        keep_samples(cursor, chain, fused)
    except Exception as err:  # keeping a sample must never fail the run
        runner.session.event("artifact.error", step_id=writer.id, error=str(err)[:500])
    rows = int(result.rows_written)
    for step in chain.steps[:-1]:
        outcome = runner.outcomes[step.id]
        outcome.rows_read = outcome.rows_written = rows
        outcome.details = {"fused_into": writer.id}
        outcome.sample_only = True
        outcome.status = "success"
    reader = runner.outcomes[chain.reader.id]
    reader.details = {**read_details, "columns": fused.columns, "fused_into": writer.id}
    runner.outcomes[writer.id].record(result)
    runner.outcomes[writer.id].status = "success"
    for step in chain.steps:
        runner.ended(step, runner.outcomes[step.id], started[step.id])


def _load_then_rest(
    runner: Runner, chain: Chain, cursor: Any, read: Any, started: dict[str, float]
) -> None:
    """A chain run step by step: the reader's table made of the relation it gave (its
    columns typed already), then the others as they run on their own."""
    reader = chain.reader
    outcome = runner.outcomes[reader.id]
    table = quote_identifier(reader.id)

    def load() -> StepResult:
        if runner.cancel.is_set():
            raise DriverError("cancelled before reading", category="cancelled")
        result: StepResult = read.load(cursor, table)
        return result

    result, error = runner.guarded(load)
    if error is None:
        outcome.record(result)
        outcome.status = "success"
    else:
        runner.drop_output(cursor, table)
        runner.failed(reader, outcome, error)
    runner.ended(reader, outcome, started[reader.id])
    _step_by_step(runner, chain.steps[1:], reader, started)


def _step_by_step(
    runner: Runner, steps: list[ManifestStep], previous: ManifestStep, started: dict[str, float]
) -> None:
    """The rest of a chain, each step after the one before, as the run loop would:
    skipped when its upstream did not succeed, left out when the run is cancelled."""
    for step in steps:
        outcome = runner.outcomes[step.id]
        status = runner.outcomes[previous.id].status
        if runner.cancel.is_set() and step.id in started:
            runner.failed(step, outcome, DriverError("run cancelled", category="cancelled"))
            runner.ended(step, outcome, started[step.id])
        elif runner.cancel.is_set():
            outcome.status = "cancelled"
            reason = "run cancelled"
            runner.session.event("execution.step.skipped", step_id=step.id, reason=reason)
        elif status != "success":
            runner.skip(step, f"upstream step '{previous.id}' {status}")
        else:
            runner.run_step(step, started.get(step.id))
        previous = step
