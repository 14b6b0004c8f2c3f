"""Looking at a plan before it changes anything: the dry run, a preview, a sample run.

The shells only word what these return: `osiris run --dry-run`, `osiris preview` and
`osiris run --limit` on the command line.

- `describe_plan` reads only the compiled build: each step's component, mode, what it
  reads and writes, and every target the run would change (`Build.write_targets`, the
  same list `oml_compile` gives an MCP client).
- `run_up_to` runs STEP and the steps it needs, never a writer, on a scratch data plane
  whose session folder lives in a temporary folder and goes with it, and returns
  STEP's first rows.
- `sample_run` runs the plan on at most N rows per source with its writers taken out;
  each writer's input goes to run_logs/samples/<pipeline>/<run_id>/<writer>.csv.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.manifest import ManifestStep
from components.common.errors import HintedError
from runtime.builds import Build, PlanError
from runtime.runner import Runner, RunOutcome, quote_table


class StepFailed(HintedError):
    """A step of the preview failed or was skipped, so STEP has no rows to show."""


def upstream_of(step: ManifestStep) -> list[str]:
    """The steps whose tables `step` reads, first named first (manifest `tables`, else
    `inputs`, as the runner reads them)."""
    return list(dict.fromkeys(step.input_tables.values()))


# ---- a preview: osiris preview FILE STEP ---------------------------------------------------


def plan_up_to(plan: Build, step_id: str, target: str) -> Build:
    """The plan cut down to STEP and its upstream steps, in the same order.

    Refuses an unknown STEP (with the closest names) and a writer: a preview must leave
    every target as it is, so it shows the writer's input instead.
    """
    from compiler.diagnostics import did_you_mean, suggestion_hint

    by_id = {step.id: step for step in plan.manifest.steps}
    if step_id not in by_id:
        close = suggestion_hint(did_you_mean(step_id, by_id))
        steps = ", ".join(plan.manifest.order)
        raise PlanError(
            f"no step '{step_id}' in pipeline '{plan.pipeline}'",
            hint=f"{close} the steps are: {steps}" if close else f"the steps are: {steps}",
        )
    if by_id[step_id].mode == "write":
        inputs = upstream_of(by_id[step_id])
        instead = f"osiris preview {target} {inputs[0]}" if inputs else "preview a step it reads"
        raise PlanError(
            f"step '{step_id}' is a writer ({by_id[step_id].component}): a preview never writes",
            hint=f"preview its input instead: {instead}",
        )
    keep = {step_id}
    waiting = [step_id]
    while waiting:
        step = by_id[waiting.pop()]
        for up in [*step.needs, *upstream_of(step)]:
            if up not in keep:
                keep.add(up)
                waiting.append(up)
    return plan.keeping(keep)


def run_up_to(plan: Build, step_id: str, project: Path, rows: int) -> dict[str, Any]:
    """Run the cut-down plan as `osiris run` would, but in a temporary folder that is
    removed afterwards (run_logs/ stays as it was), and read STEP's rows off the data
    plane before it closes."""
    with _scratch_run(plan, project, "osiris-preview-") as (runner, plane):
        runner.run()
        _check_outcomes(runner.outcomes, step_id)
        return read_rows(plane, step_id, rows)


@contextmanager
def _scratch_run(plan: Build, project: Path, prefix: str) -> Iterator[tuple[Runner, Any]]:
    """A runner for `plan` whose session and data plane live in a temporary folder,
    closed and removed on leaving."""
    from runtime.adapters.local import declared_files, open_data_plane, resolve_connections
    from runtime.redaction import Redactor
    from runtime.sessions import Session, new_run_id

    connections, secrets, _ = resolve_connections(plan, project, dict(os.environ))
    with (
        tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as tmp,
        ExitStack() as closing,  # closed before the folder goes
    ):
        scratch = Path(tmp)
        session = Session(scratch, plan.pipeline, new_run_id(), Redactor(secrets))
        closing.callback(session.close)
        files = declared_files(plan, connections, project)
        plane = open_data_plane(None, scratch / ".spill", files_read=files)
        closing.callback(plane.close)
        yield Runner(plan, session, connections, plane, project), plane


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
    table = quote_table(step_id)
    cursor = plane.execute(f"SELECT * FROM {table} LIMIT {int(rows)}")
    columns = [str(d[0]) for d in cursor.description]
    values = [list(row) for row in cursor.fetchall()]
    (total,) = plane.execute(f"SELECT count(*) FROM {table}").fetchone()
    return {"step": step_id, "columns": columns, "rows": values, "total_rows": int(total)}


# ---- a dry run: osiris run --dry-run -------------------------------------------------------


def describe_plan(plan: Build) -> dict[str, Any]:
    """Each step in run order with what it reads and writes, and every target it changes."""
    from components.registry import default_registry

    registry = default_registry()
    targets = plan.write_targets()
    writes = {target["step"]: target for target in targets}
    steps = []
    for step in plan.steps():
        config = plan.configs[step.id]
        described = {
            "id": step.id,
            "component": step.component,
            "mode": step.mode,
            "reads": _reads(step, config, registry.get(step.component)),
            "writes": writes.get(step.id),
        }
        if step.when:
            described["when"] = step.when
        steps.append(described)
    return {
        "status": "dry_run",
        "pipeline": plan.pipeline,
        "manifest_hash": plan.manifest_hash,
        "build_dir": str(plan.build_dir),
        "steps": steps,
        "would_change": targets,
    }


def _reads(step: ManifestStep, config: dict[str, Any], spec: Any) -> dict[str, Any]:
    """What a step reads: upstream steps, or its source (connection, tables or file)."""
    reads: dict[str, Any] = {}
    upstream = upstream_of(step)
    if upstream:
        reads["steps"] = upstream
    if step.mode != "read":
        return reads
    resolved = (step.connection or {}).get("ref")
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


# ---- a sample run: osiris run --limit N ----------------------------------------------------


@dataclass
class SampleRun:
    """What a sample run did: the run, and each writer's rows as a CSV file."""

    limit: int
    outcome: RunOutcome
    samples: list[dict[str, Any]] = field(default_factory=list)


def sample_plan(plan: Build, rows: int) -> tuple[Build, list[ManifestStep]]:
    """The plan with every extract cut to `rows` rows and its writers taken out (they are
    returned, to write their inputs into the scratch folder instead)."""
    from components.registry import default_registry

    registry = default_registry()
    configs: dict[str, dict[str, Any]] = {}
    writers = []
    for step in plan.manifest.steps:
        config = dict(plan.configs[step.id])
        if step.mode == "write":
            writers.append(step)
            continue
        spec = registry.get(step.component)
        if step.mode == "read" and spec is not None and "limit" in spec.properties:
            given = config.get("limit")
            config["limit"] = rows if given is None else min(int(given), rows)
        configs[step.id] = config
    return plan.keeping(configs, configs), writers


def sample_run(plan: Build, project: Path, rows: int) -> SampleRun:
    """Run the plan on at most `rows` rows per source, writing no target: each writer's
    rows go to run_logs/samples/<pipeline>/<run_id>/<writer>.csv for a look."""
    import pyarrow.csv as pa_csv

    cut, writers = sample_plan(plan, rows)
    with _scratch_run(cut, project, "osiris-sample-") as (runner, plane):
        outcome = runner.run()
        sampled = SampleRun(rows, outcome)
        folder = project / "run_logs" / "samples" / plan.pipeline / outcome.run_id
        for writer in writers:
            sources = upstream_of(writer)
            source = runner.outcomes.get(sources[0]) if sources else None
            if source is None or source.status != "success":
                continue
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{writer.id}.csv"
            table = plane.sql(f"SELECT * FROM {quote_table(sources[0])}").to_arrow_table()
            pa_csv.write_csv(table, target)
            sampled.samples.append({"step": writer.id, "rows": table.num_rows, "path": str(target)})
    return sampled
