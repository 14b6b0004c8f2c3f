"""Looking at data: the first rows of what a run's step made or wrote, of a project file, or
the sample rows discovery took of a table.

Every run keeps each step's output in `artifacts/<step_id>/output.parquet` (a bounded
sample unless the run kept whole outputs: runtime/outputs.py). `data_preview` reads it —
or a CSV / Parquet file inside the project — with an in-memory DuckDB on a worker thread
(DuckDB releases the GIL while it reads), bounded in rows, cell size and result bytes.
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context

from osiris_mcp import tool_models as m
from osiris_mcp.errors import OsirisToolError
from osiris_mcp.paging import listing_key
from osiris_mcp.project import UnsafePath, check_identifier, file_inside
from osiris_mcp.tool_adapter import (
    READS_PROJECT,
    READS_SOURCE,
    ServerState,
    page_of,
    paged_fields,
    tool,
)

#: Longest text kept of one cell: a row should not be one huge value.
MAX_CELL_CHARS = 500
_READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".tsv": "read_csv"}


@tool("Preview data", READS_PROJECT)
async def data_preview(
    state: ServerState, args: m.DataPreviewArgs, ctx: Context
) -> m.DataPreviewResult:
    """Show the first rows of data: what a run's step made (run_id + step_id; a writer
    step shows the rows it wrote), a CSV / Parquet file in the project (path), or the
    sample rows a discovery took of a table (discovery_id + table).

    Rows and cell sizes are bounded (limit up to 100 rows; long values are cut); the
    result says how many rows the source has when it is known.
    """
    given = [args.run_id, args.path, args.discovery_id]
    if sum(value is not None for value in given) != 1:
        raise OsirisToolError(
            "invalid_arguments",
            "Give one of `run_id` with `step_id` (a run's step output), `path` (a file) or "
            "`discovery_id` with `table` (a discovered table's sample rows).",
            "runs_list and run_status show the runs and their steps; discovery_request "
            "returns a discovery_id.",
        )
    if args.discovery_id is not None:
        source, columns, rows, total, note = _discovered(state, args.discovery_id, args.table)
        rows = rows[: args.limit]
    else:
        if args.run_id is not None:
            file, source, total, note = _step_output(state, args.run_id, args.step_id)
        else:
            assert args.path is not None
            file, source, total, note = _project_file(state, args.path), args.path, None, None
        columns, rows = await anyio.to_thread.run_sync(lambda: _read(file, args.limit))
    listing = listing_key("data_preview", source, str(args.limit))
    page = page_of(state, rows, listing, args.cursor)
    return m.DataPreviewResult(
        source=source,
        columns=[m.ColumnInfo(name=n, type=t) for n, t in columns],
        rows=page.rows,
        rows_in_source=total,
        note=note,
        **paged_fields(page, "data_preview"),
    )


def _step_output(
    state: ServerState, run_id: str, step_id: str | None
) -> tuple[Path, str, int | None, str | None]:
    """The file holding a step's output (a writer's: what it wrote), its name, its rows."""
    from runtime.outputs import output_info
    from runtime.sessions import find_run, read_status

    if step_id is None:
        raise OsirisToolError(
            "invalid_arguments",
            "With `run_id`, give the `step_id` whose output to show.",
            "run_status lists the run's steps; outputs says which made data.",
        )
    try:
        check_identifier(run_id, "run id")
    except UnsafePath as err:
        raise OsirisToolError("unknown_run", f"{err}.", "runs_list shows the runs.") from None
    session = find_run(state.project.root, run_id)
    if session is None:
        raise OsirisToolError(
            "unknown_run",
            f"No run with id '{run_id}' in this project.",
            "runs_list shows the runs.",
        )
    steps = {str(s.get("id")): s for s in read_status(session).get("steps", [])}
    if step_id not in steps:
        raise OsirisToolError(
            "unknown_step",
            f"Run '{run_id}' has no step '{step_id}'; its steps are {', '.join(steps) or 'none'}.",
            "Pass one of the step ids run_status lists.",
        )
    info = output_info(session, step_id)
    note = None
    if info is None:  # a writer: show what it wrote (its file, or its input's rows)
        details = steps[step_id].get("details") or {}
        written = details.get("path")
        if isinstance(written, str) and Path(written).suffix.lower() in _READERS:
            path = Path(written)
            if path.is_file() and path.resolve().is_relative_to(state.project.root.resolve()):
                return path, _relative(state, path), None, f"the file step '{step_id}' wrote"
        upstream = _upstream(session, step_id)
        info = output_info(session, upstream) if upstream else None
        if info is None or upstream is None:
            raise OsirisToolError(
                "not_found",
                f"Step '{step_id}' of run '{run_id}' kept no output (it failed, was skipped "
                "or cancelled, or writes nothing).",
                "Steps that succeed keep their first rows; run_status shows each step's status.",
            )
        note = f"the rows step '{step_id}' wrote: the output of step '{upstream}'"
        step_id = upstream
    if not info.get("whole"):
        note = (note + "; " if note else "") + (
            f"the run kept the first {info['kept_rows']} of {info['rows']} rows"
        )
    file = session / "artifacts" / step_id / str(info.get("file"))
    return file, f"{run_id}/{step_id}", int(info["rows"]), note


def _discovered(
    state: ServerState, discovery_id: str, table: str | None
) -> tuple[str, list[tuple[str, str]], list[list[Any]], int | None, str | None]:
    """The sample rows a discovery took of one table: read from the catalog, so the
    source is not queried again (and shows what discovery showed, secrets masked)."""
    from runtime.catalog import CatalogStore, table_label

    if table is None:
        raise OsirisToolError(
            "invalid_arguments",
            "With `discovery_id`, give the `table` whose sample rows to show.",
            "discovery_request lists the discovered tables.",
        )
    with CatalogStore(state.project.root) as store:
        found = store.lookup(discovery_id)
    if found is None:
        raise OsirisToolError(
            "unknown_discovery",
            f"No discovery '{state.secrets.text(discovery_id)}' in this project.",
            "discovery_request returns a discovery_id.",
        )
    schema, _, name = table.rpartition(".")
    match = found.catalog.table(name, schema or None)
    if match is None:
        known = ", ".join(table_label(t) for t in found.catalog.tables[:20]) or "none"
        raise OsirisToolError(
            "not_found",
            f"Discovery '{discovery_id}' has no table '{state.secrets.text(table)}'; "
            f"it has {known}.",
            "Pass a table name discovery_request listed.",
        )
    label = table_label(match)
    columns = [(c.name, c.type) for c in match.columns]
    rows = [[_cell(sample.get(c.name)) for c in match.columns] for sample in match.samples]
    note = f"sample rows discovery took of {label} (secret-looking columns masked)"
    if not match.samples:
        note = (
            f"discovery took no sample rows of {label}: call discovery_request with "
            "samples: N (up to 100) and refresh: true to take some"
        )
    return f"{discovery_id}/{label}", columns, rows, match.row_estimate, note


def _upstream(session: Path, step_id: str) -> str | None:
    """The step whose table a writer step wrote (its one input), from the run's manifest."""
    from components.common import strict_yaml

    try:
        manifest = strict_yaml.load((session / "manifest.yaml").read_text("utf-8"))
    except (OSError, ValueError):  # a YamlError is a ValueError
        return None
    for step in manifest.get("steps", []):
        if step.get("id") == step_id:
            inputs = list((step.get("inputs") or {}).values()) or list(step.get("needs") or [])
            return str(inputs[0]) if inputs else None
    return None


def _project_file(state: ServerState, relative: str) -> Path:
    try:
        path = file_inside(state.project.root, relative)
    except UnsafePath as err:
        raise OsirisToolError(
            "invalid_name",
            f"{err}.",
            "Give a path relative to the project, e.g. output/revenue.csv (no .., no hidden "
            "files).",
        ) from None
    if path.suffix.lower() not in _READERS:
        raise OsirisToolError(
            "invalid_name",
            f"{relative!r} is not a CSV or Parquet file.",
            "data_preview reads .csv, .tsv and .parquet files.",
        )
    if not path.is_file():
        raise OsirisToolError(
            "not_found", f"No file {relative} in the project.", "Check the path a run wrote."
        )
    return path


def _relative(state: ServerState, path: Path) -> str:
    return path.resolve().relative_to(state.project.root.resolve()).as_posix()


def _read(file: Path, limit: int) -> tuple[list[tuple[str, str]], list[list[Any]]]:
    """The first `limit` rows of a CSV or Parquet file, as JSON-safe values."""
    import duckdb

    reader = _READERS[file.suffix.lower()]
    conn = duckdb.connect(":memory:", config={"memory_limit": "64MB", "threads": 1})
    try:
        relation = conn.sql(f"SELECT * FROM {reader}(?) LIMIT {int(limit)}", params=[str(file)])
        columns = [(str(n), str(t)) for n, t in zip(relation.columns, relation.types, strict=True)]
        rows = [[_cell(value) for value in row] for row in relation.fetchall()]
    except duckdb.Error as err:
        raise OsirisToolError(
            "not_found",
            f"Cannot read {file.name}: {str(err).splitlines()[0]}",
            "Check that the file is a CSV or Parquet file.",
        ) from None
    finally:
        conn.close()
    return columns, rows


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact: 79.19 stays 79.19
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        value = value.hex()
    text = str(value)
    if len(text) > MAX_CELL_CHARS:
        return text[:MAX_CELL_CHARS] + f"… (cut: {len(text):,} characters)"
    return text


#: Families `sql_query` can read, by the extractor that reads them.
_QUERY_EXTRACTORS = {
    "mysql": "mysql.extractor",
    "postgres": "postgres.extractor",
    "supabase": "supabase.extractor",
}


def query_pipeline(extractor: str, connection: str, sql: str, limit: int, timeout_s: float) -> str:
    """The one-step OML `sql_query` runs: the query as an extract, so the compiler's SQL
    checks, the read-only database session and the worker process all apply to it.

    >>> print(query_pipeline("mysql.extractor", "@mysql.shop", "SELECT 1 AS one", 5, 30))
    ... # doctest: +ELLIPSIS
    oml_version: "0.1.0"
    name: sql_query
    ...
          query: |-
            SELECT 1 AS one
          limit: 5
          fetch_timeout_s: 30
    <BLANKLINE>
    """
    body = "\n".join("        " + line for line in sql.strip().splitlines())
    return (
        'oml_version: "0.1.0"\n'
        "name: sql_query\n"
        "steps:\n"
        "  - id: query\n"
        f"    component: {extractor}\n"
        "    mode: read\n"
        "    config:\n"
        f'      connection: "{connection}"\n'
        "      query: |-\n"
        f"{body}\n"
        f"      limit: {int(limit)}\n"
        f"      fetch_timeout_s: {timeout_s:g}\n"
    )


@tool("Run a read-only SQL query", READS_SOURCE)
async def sql_query(state: ServerState, args: m.SqlQueryArgs, ctx: Context) -> m.SqlQueryResult:
    """Run one read-only SELECT on a connection and return its first rows.

    The query passes the same checks as an extract step (one statement, read-only, no
    file or network functions), runs in a read-only database session with a server-side
    time limit, in a worker process, and returns at most `limit` rows. It is recorded as
    a run of the pipeline `sql_query` (runs_list, run_logs).
    """
    from osiris_mcp.tools import compile_context, connections_file

    file = connections_file(state)
    family = args.connection.lstrip("@").split(".", 1)[0]
    extractor = _QUERY_EXTRACTORS.get(family)
    if extractor is None or not any(ref.startswith(f"@{family}.") for ref in file.refs()):
        known = ", ".join(
            sorted(r for r in file.refs() if r.split(".")[0][1:] in _QUERY_EXTRACTORS)
        )
        raise OsirisToolError(
            "unknown_connection",
            f"{args.connection} is not a database connection sql_query can read.",
            f"Use one of: {known or 'none (add a mysql, postgres or supabase connection)'}.",
        )
    oml = query_pipeline(extractor, args.connection, args.sql, args.limit, args.timeout_s)
    context = compile_context(state, {}, None, optimize=False)
    plan = await _compile(state, oml.encode("utf-8"), context)
    run = state.runs.start(
        plan.build_dir, manifest_hash=plan.manifest_hash, pipeline=plan.pipeline, total_steps=1
    )
    with anyio.move_on_after(args.timeout_s + 30):
        while not run.done.is_set():
            await anyio.sleep(0.05)
    if not run.done.is_set():
        await anyio.to_thread.run_sync(lambda: state.runs.cancel(run))
    from runtime.sessions import find_run, read_status

    session = find_run(state.project.root, run.run_id)
    status = read_status(session) if session is not None else {}
    step = next(iter(status.get("steps") or []), {})
    if run.error or status.get("status") != "success":
        reason = run.error or step.get("error") or f"the query ended {status.get('status')}"
        raise OsirisToolError(
            "query_failed",
            f"The query did not complete: {state.secrets.text(str(reason))}",
            f"Fix what the message names; run_logs(run_id={run.run_id!r}) has the details.",
        )
    assert session is not None
    file_path, _, total, _ = _step_output(state, run.run_id, "query")
    columns, rows = await anyio.to_thread.run_sync(lambda: _read(file_path, args.limit))
    listing = listing_key("sql_query", run.run_id)
    page = page_of(state, rows, listing, args.cursor)
    return m.SqlQueryResult(
        run_id=run.run_id,
        columns=[m.ColumnInfo(name=n, type=t) for n, t in columns],
        rows=page.rows,
        limited=total is not None and total >= args.limit,
        **paged_fields(page, "sql_query"),
    )


async def _compile(state: ServerState, source: bytes, context: Any) -> Any:
    """Compile the query's pipeline; a query the checks refuse is a `query_rejected` error."""
    from osiris_mcp.commands.compile import compile_to_disk
    from osiris_mcp.plans import load_plan

    def build() -> tuple[dict[str, Any], Any]:
        with state.compile_lock:
            outcome = compile_to_disk(
                source, context, "<sql_query>", state.project.root, None, "auto"
            )
            if not outcome["ok"]:
                return outcome, None
            build_dir = Path(outcome["build_dir"])
            state.builds.remember(outcome["manifest_hash"], build_dir)
            return outcome, load_plan(build_dir, outcome["manifest_hash"])

    outcome, plan = await anyio.to_thread.run_sync(build)
    if plan is None:
        errors = [d for d in outcome.get("diagnostics", []) if d.get("severity") == "error"]
        first = errors[0] if errors else {"code": "?", "message": "the query was refused"}
        raise OsirisToolError(
            "query_rejected",
            f"The query was refused ({first['code']}): {first['message']}",
            str(first.get("hint") or "sql_query runs one read-only SELECT."),
        )
    return plan
