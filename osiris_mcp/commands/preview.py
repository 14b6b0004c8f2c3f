"""`osiris preview FILE STEP` and `osiris run --dry-run`: look at a plan before it changes anything.

A dry run reads only the compiled build: each step's component, mode, what it reads and
what it writes, and the targets the run would change (the same list `oml_compile` gives
an MCP client, `osiris_mcp.plans.write_targets`). A preview runs STEP and the steps it
needs, never a writer, on a scratch data plane whose session folder lives in a temporary
folder and goes with it, then shows STEP's first rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from osiris_mcp.commands.options import (
    add_compile_inputs,
    compile_context,
    project_dir,
    read_source,
    usage_error,
)

HELP = (
    "Run a pipeline up to STEP on a scratch data plane and print STEP's first rows "
    "(writers never run; exit 0 ok, 1 a step failed, 2 bad input)."
)

#: A cell wider than this is cut in the text table (the JSON keeps it whole).
MAX_CELL_CHARS = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="FILE|BUILD_DIR", help="OML file, or a compiled build folder"
    )
    parser.add_argument("step", metavar="STEP", help="the step whose rows to show")
    parser.add_argument(
        "--rows", type=int, default=20, metavar="N", help="show the first N rows (20)"
    )
    parser.add_argument("--json", action="store_true", help="print {columns, rows} as JSON")
    parser.add_argument(
        "--no-optimize", action="store_true", help="compile without pushdown rewrites"
    )
    add_compile_inputs(parser)


def run(args: argparse.Namespace) -> int:
    from runtime.adapters.local import PlanError, load_plan

    if args.rows < 1:
        usage_error("--rows must be at least 1")
        return 2
    project = project_dir(args)
    build_dir = compiled_build(Path(args.target), args, project)
    if build_dir is None:
        return 2
    try:
        plan = plan_up_to(load_plan(build_dir), args.step, args.target)
        shown = run_up_to(plan, args.step, project, args.rows)
    except PlanError as err:
        usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    except StepFailed as failure:
        usage_error(f"{failure}\n  hint: {failure.hint}")
        return 1
    if args.json:
        shown["rows"] = [[_json_value(v) for v in row] for row in shown["rows"]]
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        print_rows(shown)
    return 0


# ---- the build ---------------------------------------------------------------------------


def compiled_build(target: Path, args: argparse.Namespace, project: Path) -> Path | None:
    """The build folder to preview: TARGET itself, or TARGET compiled as `osiris run`
    compiles it (cached); None after printing why there is none."""
    from compiler.diagnostics import render
    from osiris_mcp.commands.compile import compile_to_disk

    if target.name == "manifest.yaml" and target.is_file():
        target = target.parent
    if target.is_dir():
        return target
    context = compile_context(args, optimize=not args.no_optimize)
    source = read_source(target)
    if context is None or source is None:
        return None
    outcome = compile_to_disk(source, context, str(target), project, None)
    if outcome["ok"]:
        return Path(outcome["build_dir"])
    if args.json:
        print(json.dumps({"status": "compile_error", "diagnostics": outcome["diagnostics"]}))
    else:
        for diagnostic in outcome["diagnostics_objects"]:
            print(render(diagnostic, str(target), outcome["source"]), file=sys.stderr)
    if outcome.get("error"):
        usage_error(outcome["error"])
    return None


def plan_up_to(plan: Any, step_id: str, target: str) -> Any:
    """The plan cut down to STEP and its upstream steps, in the same order.

    Refuses an unknown STEP (with the closest names) and a writer: a preview must leave
    every target as it is, so it shows the writer's input instead.
    """
    from compiler.diagnostics import did_you_mean, suggestion_hint
    from runtime.adapters.local import PlanError
    from runtime.runner import Plan

    by_id = {step["id"]: step for step in plan.manifest["steps"]}
    if step_id not in by_id:
        close = suggestion_hint(did_you_mean(step_id, by_id))
        steps = ", ".join(plan.manifest["order"])
        raise PlanError(
            f"no step '{step_id}' in pipeline '{plan.pipeline}'",
            hint=f"{close} the steps are: {steps}" if close else f"the steps are: {steps}",
        )
    if by_id[step_id]["mode"] == "write":
        inputs = upstream_of(by_id[step_id])
        instead = f"osiris preview {target} {inputs[0]}" if inputs else "preview a step it reads"
        raise PlanError(
            f"step '{step_id}' is a writer ({by_id[step_id]['component']}): a preview never writes",
            hint=f"preview its input instead: {instead}",
        )
    keep = {step_id}
    waiting = [step_id]
    while waiting:
        step = by_id[waiting.pop()]
        for up in list(step.get("needs") or []) + upstream_of(step):
            if up not in keep:
                keep.add(up)
                waiting.append(up)
    manifest = {
        **plan.manifest,
        "steps": [s for s in plan.manifest["steps"] if s["id"] in keep],
        "order": [s for s in plan.manifest["order"] if s in keep],
    }
    configs = {k: v for k, v in plan.configs.items() if k in keep}
    return Plan(plan.build_dir, manifest, configs, plan.meta)


def upstream_of(step: dict[str, Any]) -> list[str]:
    """The steps whose tables `step` reads, first named first (manifest `tables`, else
    `inputs`, as the runner reads them)."""
    tables = step.get("tables")
    names = (tables if tables is not None else step.get("inputs") or {}).values()
    return list(dict.fromkeys(names))


# ---- the scratch run ------------------------------------------------------------------------


class StepFailed(Exception):
    """A step of the preview failed or was skipped, so STEP has no rows to show."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def run_up_to(plan: Any, step_id: str, project: Path, rows: int) -> dict[str, Any]:
    """Run the cut-down plan as `osiris run` would, but in a temporary folder that is
    removed afterwards (run_logs/ stays as it was), and read STEP's rows off the data
    plane before it closes."""
    import os
    import tempfile
    from contextlib import ExitStack

    from runtime.adapters.local import declared_files, open_data_plane, resolve_connections
    from runtime.redaction import Redactor
    from runtime.runner import Runner
    from runtime.sessions import Session, new_run_id

    connections, secrets, _ = resolve_connections(plan, project, dict(os.environ))
    with (
        tempfile.TemporaryDirectory(prefix="osiris-preview-", ignore_cleanup_errors=True) as tmp,
        ExitStack() as closing,  # closed before the folder goes
    ):
        scratch = Path(tmp)
        session = Session(scratch, plan.pipeline, new_run_id(), Redactor(secrets))
        closing.callback(session.close)
        files = declared_files(plan, connections, project)
        plane = open_data_plane(None, scratch / ".spill", files_read=files)
        closing.callback(plane.close)
        runner = Runner(plan, session, connections, plane, project)
        runner.run()
        _check_outcomes(runner.outcomes, step_id)
        return read_rows(plane, step_id, rows)


def _check_outcomes(outcomes: dict[str, Any], step_id: str) -> None:
    """Raise StepFailed unless STEP ran: why the first step that did not run stopped."""
    if outcomes[step_id].status == "success":
        return
    stopped = next((o for o in outcomes.values() if o.status == "failed"), outcomes[step_id])
    if stopped.status == "failed":
        raise StepFailed(
            f"step '{stopped.id}' failed ({stopped.category}): {stopped.error}",
            hint="`osiris run` keeps the run's logs for `osiris logs bundle --last`",
        )
    reason = stopped.reason or stopped.status
    hint = (
        "a `when` was false: set the params it reads with --param NAME=VALUE"
        if "when" in reason
        else "`osiris run --dry-run` shows the steps it depends on"
    )
    raise StepFailed(f"step '{step_id}' did not run ({reason})", hint=hint)


def read_rows(plane: Any, step_id: str, rows: int) -> dict[str, Any]:
    """STEP's first `rows` rows, its column names and how many rows its table has."""
    from runtime.runner import quote_table

    table = quote_table(step_id)
    cursor = plane.execute(f"SELECT * FROM {table} LIMIT {int(rows)}")
    columns = [str(d[0]) for d in cursor.description]
    values = [list(row) for row in cursor.fetchall()]
    (total,) = plane.execute(f"SELECT count(*) FROM {table}").fetchone()
    return {"step": step_id, "columns": columns, "rows": values, "total_rows": int(total)}


def _json_value(value: Any) -> Any:
    """A cell as JSON keeps it: numbers and text as they are, a Decimal as its exact text
    (a float would round it), dates and anything else as their ISO or plain text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# ---- printing ------------------------------------------------------------------------------


def print_rows(shown: dict[str, Any]) -> None:
    """The rows as aligned plain text: a header, a rule, numbers to the right."""
    columns: list[str] = shown["columns"]
    cells = [[_cell(v) for v in row] for row in shown["rows"]]
    numeric = [_numeric([row[i] for row in shown["rows"]]) for i in range(len(columns))]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print(_line(columns, widths, numeric))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(_line(row, widths, numeric))
    total, count = shown["total_rows"], len(cells)
    which = f"all {count:,} rows" if count == total else f"first {count:,} of {total:,} rows"
    print(f"\n{shown['step']}: {which} (nothing was written)")


def _line(cells: Sequence[str], widths: list[int], right: list[bool]) -> str:
    return "  ".join(
        c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
    ).rstrip()


def _numeric(values: list[Any]) -> bool:
    """Whether a column holds numbers (NULLs aside): those read best right-aligned."""
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    )


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value).replace("\n", "\\n")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


# ---- osiris run --dry-run ---------------------------------------------------------------------


def dry_run(build_dir: Path, as_json: bool) -> int:
    """`osiris run --dry-run`: print the compiled plan and what it would change; run nothing."""
    from runtime.adapters.local import PlanError, load_plan

    try:
        plan = load_plan(build_dir)
    except PlanError as err:
        usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    described = describe_plan(plan)
    if as_json:
        print(json.dumps(described, indent=2, ensure_ascii=False))
    else:
        print_plan(described)
    return 0


def describe_plan(plan: Any) -> dict[str, Any]:
    """Each step in run order with what it reads and writes, and every target it changes."""
    from components.registry import default_registry
    from osiris_mcp.plans import write_targets

    registry = default_registry()
    targets = write_targets(plan.manifest, plan.configs)
    writes = {target["step"]: target for target in targets}
    steps = []
    for step in plan.steps():
        config = plan.configs[step["id"]]
        described = {
            "id": step["id"],
            "component": step["component"],
            "mode": step["mode"],
            "reads": _reads(step, config, registry.get(step["component"])),
            "writes": writes.get(step["id"]),
        }
        if step.get("when"):
            described["when"] = step["when"]
        steps.append(described)
    return {
        "status": "dry_run",
        "pipeline": plan.pipeline,
        "manifest_hash": plan.manifest_hash,
        "build_dir": str(plan.build_dir),
        "steps": steps,
        "would_change": targets,
    }


def _reads(step: dict[str, Any], config: dict[str, Any], spec: Any) -> dict[str, Any]:
    """What a step reads: upstream steps, or its source (connection, tables or file)."""
    reads: dict[str, Any] = {}
    upstream = upstream_of(step)
    if upstream:
        reads["steps"] = upstream
    if step["mode"] != "read":
        return reads
    resolved = (step.get("connection") or {}).get("ref")
    family = spec.family if spec is not None else None
    reads["connection"] = config.get("connection") or resolved or (f"@{family}" if family else None)
    extract = [f for f in (spec.sql_fields if spec else ()) if f.role == "extract"]
    query = next((config[f.field] for f in extract if config.get(f.field)), None)
    if query:
        reads["tables"] = query_tables(query, extract[0].dialect)
    elif config.get("table"):
        schema = config.get("schema")
        reads["tables"] = [f"{schema}.{config['table']}" if schema else str(config["table"])]
    if config.get("path"):
        reads["path"] = str(config["path"])
    return reads


def query_tables(query: str, dialect: str) -> list[str]:
    """The source tables an extract query reads (its CTEs are not tables), sorted."""
    import sqlglot.expressions as exp
    from sqlglot.optimizer.scope import traverse_scope

    from compiler.sql.safety import check_sql

    tree = check_sql(query, dialect, "extract").parsed
    if tree is None:
        return []
    names = {
        ".".join(part for part in (source.db, source.name) if part)
        for scope in traverse_scope(tree)
        for source in scope.sources.values()
        if isinstance(source, exp.Table)
    }
    return sorted(names)


def print_plan(described: dict[str, Any]) -> None:
    short = described["manifest_hash"][:12]
    print(f"dry run of '{described['pipeline']}' ({short}): nothing is read, written or opened")
    for number, step in enumerate(described["steps"], 1):
        print(f"\n{number}. {step['id']}  {step['component']}  {step['mode']}")
        if step.get("when"):
            print(f"     when    {step['when']}")
        reads = _read_text(step["reads"])
        if reads:
            print(f"     reads   {reads}")
        if step["writes"]:
            print(f"     writes  {_target_text(step['writes'])}")
    print("\nwould change:")
    for target in described["would_change"]:
        print(f"  {_target_text(target)}")
    if not described["would_change"]:
        print("  nothing")


def _read_text(reads: dict[str, Any]) -> str:
    parts = []
    if reads.get("steps"):
        noun = "step" if len(reads["steps"]) == 1 else "steps"
        parts.append(f"{noun} {', '.join(reads['steps'])}")
    if reads.get("connection"):
        parts.append(reads["connection"])
    if reads.get("tables"):
        noun = "table" if len(reads["tables"]) == 1 else "tables"
        parts.append(f"{noun} {', '.join(reads['tables'])}")
    if reads.get("path"):
        parts.append(f"file {reads['path']}")
    return " ".join(parts)


def _target_text(target: dict[str, Any]) -> str:
    kind = "table" if target["kind"] == "database_table" else "file"
    mode = f"{target['write_mode']}, " if target.get("write_mode") else ""
    return f"{kind} {target['target']} ({mode}{target['connection']})"


# ---- a sample run: osiris run --limit N ----------------------------------------------------


def sample_plan(plan: Any, rows: int) -> tuple[Any, list[dict[str, Any]]]:
    """The plan with every extract cut to `rows` rows and its writers taken out (they are
    returned, to write their inputs into the scratch folder instead)."""
    from components.registry import default_registry
    from runtime.runner import Plan

    registry = default_registry()
    configs: dict[str, dict[str, Any]] = {}
    writers = []
    for step in plan.manifest["steps"]:
        config = dict(plan.configs[step["id"]])
        if step["mode"] == "write":
            writers.append(step)
            continue
        spec = registry.get(step["component"])
        if step["mode"] == "read" and spec is not None and "limit" in spec.properties:
            given = config.get("limit")
            config["limit"] = rows if given is None else min(int(given), rows)
        configs[step["id"]] = config
    kept = set(configs)
    manifest = {
        **plan.manifest,
        "steps": [s for s in plan.manifest["steps"] if s["id"] in kept],
        "order": [s for s in plan.manifest["order"] if s in kept],
    }
    return Plan(plan.build_dir, manifest, configs, plan.meta), writers


def sample_run(build_dir: Path, project: Path, rows: int, as_json: bool) -> int:
    """Run the plan on at most `rows` rows per source, writing no target: each writer's
    rows go to run_logs/samples/<pipeline>/<run_id>/<writer>.csv for a look."""
    import os
    import tempfile
    from contextlib import ExitStack

    import pyarrow.csv as pa_csv

    from runtime.adapters.local import (
        PlanError,
        declared_files,
        load_plan,
        open_data_plane,
        resolve_connections,
    )
    from runtime.redaction import Redactor
    from runtime.runner import Runner, quote_table
    from runtime.sessions import Session, new_run_id

    if rows < 1:
        usage_error("--limit must be at least 1")
        return 2
    try:
        plan, writers = sample_plan(load_plan(build_dir), rows)
        connections, secrets, _ = resolve_connections(plan, project, dict(os.environ))
    except PlanError as err:
        usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    run_id = new_run_id()
    scratch = project / "run_logs" / "samples" / plan.pipeline / run_id
    written: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="osiris-sample-", ignore_cleanup_errors=True) as tmp,
        ExitStack() as closing,
    ):
        session = Session(Path(tmp), plan.pipeline, run_id, Redactor(secrets))
        closing.callback(session.close)
        files = declared_files(plan, connections, project)
        plane = open_data_plane(None, Path(tmp) / ".spill", files_read=files)
        closing.callback(plane.close)
        runner = Runner(plan, session, connections, plane, project)
        status = runner.run()
        outcomes = runner.outcomes
        for writer in writers:
            sources = upstream_of(writer)
            if not sources or outcomes.get(sources[0]) is None:
                continue
            if outcomes[sources[0]].status != "success":
                continue
            scratch.mkdir(parents=True, exist_ok=True)
            target = scratch / f"{writer['id']}.csv"
            table = plane.sql(f"SELECT * FROM {quote_table(sources[0])}").to_arrow_table()
            pa_csv.write_csv(table, target)
            written.append({"step": writer["id"], "rows": table.num_rows, "path": str(target)})
    steps = [o.to_status() for o in outcomes.values()]
    if as_json:
        print(json.dumps({"status": status, "limit": rows, "steps": steps, "samples": written}))
    else:
        for step in steps:
            print(f"{step['id']:<24} {step['status']:<9} {step.get('rows_written', 0):>8,} rows")
        print(f"\nsample run: at most {rows:,} rows per source; no target was written")
        for sample in written:
            print(f"  {sample['step']} would write {sample['rows']:,} rows: {sample['path']}")
        for step in steps:
            if step.get("error"):
                print(f"\nstep '{step['id']}' failed ({step.get('category')}): {step['error']}")
    return 0 if status == "success" else 1
