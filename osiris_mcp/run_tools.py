"""The run tools: run a compiled plan, follow it, cancel it, read its logs, list runs.

A plan runs in a worker process (runs.py) with the runner `osiris run` uses; a call
waits up to `wait_s`, sending a progress notification per step. A plan that writes
database tables needs consent the model cannot give itself: when the client supports
elicitation, only the user's answer counts (a `Resolve` parameter the SDK fills before
the body runs, in both protocol eras) — `confirm_writes` never skips the question;
without elicitation, the policy the user put in the server's arguments decides
(`--writes deny|confirm|allow`, see `WRITE_POLICIES`).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from osiris_mcp import tool_models as m
from osiris_mcp.errors import OsirisToolError, load_build
from osiris_mcp.paging import cut_line, fit_rows, json_size, listing_key, row_room
from osiris_mcp.project import UnsafePath, check_identifier
from osiris_mcp.runs import TERMINAL, TrackedRun, status_snapshot
from osiris_mcp.tool_adapter import (
    READS_PROJECT,
    RUNS_PLAN,
    STOPS_RUN,
    Reply,
    ServerState,
    page_of,
    paged_fields,
    tool,
)


class WriteConfirmation(BaseModel):
    """What the user is asked before a plan modifies database tables."""

    confirm: bool = Field(description="Run the plan and modify the tables listed above?")


Confirmation = AcceptedElicitation[Any] | DeclinedElicitation | CancelledElicitation


#: What `osiris-mcp --writes` means for a client that cannot ask the user (no elicitation).
WRITE_POLICIES = {
    "deny": "database writes are refused (the default)",
    "confirm": "the model asks the user and passes confirm_writes: true",
    "allow": "database writes run without asking",
}


def _confirmation_resolver(state: ServerState) -> Any:
    """Decides, before run_pipeline runs, whether to ask the user (elicitation) or which
    policy applies. Never looks at confirm_writes: with elicitation the user decides."""

    async def confirm_database_writes(
        manifest_hash: str, ctx: Context
    ) -> str | Elicit[WriteConfirmation]:
        try:
            plan = await anyio.to_thread.run_sync(lambda: load_build(state.builds, manifest_hash))
        except ToolError:
            return "not_needed"  # the tool body reports the unknown or stale plan
        if not plan.writes_tables:
            return "not_needed"
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return f"policy_{state.project.writes}"
        return Elicit(_confirmation_message(plan), WriteConfirmation)

    return confirm_database_writes


def _confirmation_message(plan: Any) -> str:
    lines = [f"Run pipeline '{plan.pipeline}' (plan {plan.manifest_hash[:12]})? It will modify:"]
    for target in plan.write_targets():
        if target["kind"] == "database_table":
            lines.append(
                f"- table {target['target']} via {target['connection']} "
                f"({target['write_mode'] or 'default'} mode, step {target['step']})"
            )
    return "\n".join(lines)


def _confirmation_parameter(state: ServerState) -> dict[str, Any]:
    """`confirmation`, filled by the SDK from the resolver (an elicitation when needed)."""
    return {"confirmation": Annotated[Confirmation, Resolve(_confirmation_resolver(state))]}


@tool("Run a compiled plan", RUNS_PLAN, m.RunStatusResult, _confirmation_parameter)
async def run_pipeline(
    state: ServerState, args: m.RunPipelineArgs, ctx: Context, confirmation: Any = None
) -> Reply:
    """Run a plan compiled by oml_compile, named by its manifest_hash, in the background.

    Only compiled, unchanged plans run. A plan that writes to database tables needs the
    user's consent: Osiris asks the user when the client supports elicitation; otherwise
    the user's server policy decides (an error says what the user must do). Waits up to
    wait_s seconds (sending progress notifications), then returns the run_id and the
    status reached; follow with run_status. A run stops when the client disconnects,
    unless detach is true.
    """
    plan = await anyio.to_thread.run_sync(lambda: load_build(state.builds, args.manifest_hash))
    if args.params is not None and _params_differ(args.params, plan.params):
        raise OsirisToolError(
            "params_mismatch",
            "These params differ from the ones the plan was compiled with "
            f"({', '.join(f'{k}={v!r}' for k, v in sorted(plan.params.items())) or 'none'}).",
            "Params are part of the plan: compile again with oml_compile(params=…) and "
            "run the new manifest_hash.",
        )
    if args.engine == "spark":
        _spark_can_run(plan)
    if plan.writes_tables:
        _require_consent(confirmation, args.confirm_writes)
    run = state.runs.start(
        plan.build_dir,
        manifest_hash=plan.manifest_hash,
        pipeline=plan.pipeline,
        total_steps=len(plan.manifest.order),
        parallel=args.parallel,
        detached=args.detach,
        keep_outputs=args.keep_outputs,
        engine=args.engine,
        spark_master=args.spark_master,
    )
    # a Spark run starts a JVM first (~10 s on 2 cores): wait for it a little longer
    start_wait = _START_WAIT_S * (3 if args.engine == "spark" else 1)
    await _wait(state, run.run_id, run, max(args.wait_s, start_wait), ctx, until_started=True)
    if run.error:
        raise OsirisToolError(
            "run_failed_to_start",
            f"Run {run.run_id} could not start: {run.error}",
            "Fix what the message names (often a connection or an unset variable: "
            "connections_list shows them), then compile and run again.",
        )
    if args.wait_s > 0 and not run.done.is_set():
        await _wait(state, run.run_id, run, args.wait_s, ctx)
    return _run_reply(state, run.run_id)


def _spark_can_run(plan: Any) -> None:
    """Refuse, before anything starts, a plan with a step the Spark engine cannot run."""
    from runtime.builds import PlanError
    from runtime.spark.engine import check_plan

    try:
        check_plan(plan)
    except PlanError as err:
        raise OsirisToolError("engine_unsupported", str(err), err.hint or "") from None


#: How long run_pipeline waits, at least, to see a run start (or fail to start).
_START_WAIT_S = 10.0


def _params_differ(wanted: dict[str, Any], compiled: dict[str, Any]) -> bool:
    """True when a given param is not the compiled value (`"100"` and `100` are the same)."""
    return any(
        name not in compiled or (value != compiled[name] and str(value) != str(compiled[name]))
        for name, value in wanted.items()
    )


def _require_consent(confirmation: Any, confirm_writes: bool) -> None:
    """Return when the user consented (or their policy allows the writes), else refuse
    with a hint that says what the user must do."""
    if isinstance(confirmation, AcceptedElicitation):
        data = confirmation.data
        if isinstance(data, WriteConfirmation):
            if data.confirm:
                return
        elif data in ("not_needed", "policy_allow"):
            return
        elif data == "policy_confirm":
            if confirm_writes:
                return
            raise OsirisToolError(
                "confirmation_required",
                "This plan modifies database tables (see the targets oml_compile listed) and "
                "the user has not confirmed it.",
                "Show the user the targets and write modes and ask them; only when they agree, "
                "call run_pipeline again with confirm_writes: true (this server was started "
                "with --writes confirm).",
            )
        elif data == "policy_deny":
            raise OsirisToolError(
                "confirmation_required",
                "This plan modifies database tables, and this client cannot ask the user "
                "for consent, so Osiris refuses database writes (its --writes policy is deny).",
                "Tell the user: to allow it, use a client that supports elicitation (Osiris "
                "then asks them), or add `--writes confirm` (you ask them first) or "
                "`--writes allow` to osiris-mcp's arguments in the client's configuration "
                "and restart the server. confirm_writes cannot override this.",
            )
    raise OsirisToolError(
        "not_confirmed",
        "The user did not confirm the database writes, so the plan was not run.",
        "Ask the user what to change (targets, write_mode) before compiling and running again.",
    )


async def _wait(
    state: ServerState,
    run_id: str,
    run: TrackedRun | None,
    wait_s: float,
    ctx: Context,
    until_started: bool = False,
) -> None:
    """Wait up to `wait_s` for the run to end (or, `until_started`, to get going),
    sending a progress notification per change."""
    last: tuple[int, str] | None = None
    deadline = anyio.current_time() + wait_s
    while True:
        if run is not None:
            now = (run.steps_finished, run.last_message)
            if now != last:
                last = now
                await ctx.report_progress(now[0], run.total_steps or None, now[1])
            if run.done.is_set() or (until_started and run.status != "starting"):
                return
        else:
            snapshot = status_snapshot(state.project.root, run_id, None)
            status = (snapshot or {}).get("status")
            steps = (snapshot or {}).get("steps") or []
            finished = sum(s.get("status") not in ("pending", "running") for s in steps)
            now = (finished, str(status))
            if now != last:
                last = now
                await ctx.report_progress(finished, len(steps) or None, f"run {status}")
            if status in TERMINAL:
                return
        if anyio.current_time() >= deadline:
            return
        await anyio.sleep(min(0.05, max(0.0, deadline - anyio.current_time())))


def _run_reply(state: ServerState, run_id: str, cancel_requested: bool | None = None) -> Reply:
    result = _run_status(state, run_id, cancel_requested)
    return Reply(result, [(result.status_uri, "status.json")])


def _run_status(
    state: ServerState, run_id: str, cancel_requested: bool | None = None
) -> m.RunStatusResult:
    """The run as it is now: from this server's tracker, else from its status.json."""
    tracked = state.runs.get(run_id)
    snapshot = status_snapshot(state.project.root, run_id, tracked)
    if snapshot is None:
        raise OsirisToolError(
            "unknown_run",
            f"No run with id '{run_id}' in this project.",
            "runs_list shows the runs, newest first; run_pipeline returns the id of a new run.",
        )
    status = str(snapshot.get("status") or "unknown")
    if tracked is not None and tracked.error:
        status = "failed"
    finished = status in TERMINAL
    steps = [
        m.StepStatus(
            id=str(s.get("id")),
            status=str(s.get("status")),
            rows_read=int(s.get("rows_read") or 0),
            rows_written=int(s.get("rows_written") or 0),
            duration_ms=int(s.get("duration_ms") or 0),
            error=state.secrets.text(str(s["error"])) if s.get("error") else None,
        )
        for s in (snapshot.get("steps") or [])
    ]
    if tracked is not None and tracked.error:
        next_step = "The run could not start: fix what `error` says, compile again and run."
    elif not finished:
        next_step = "Still running: call run_status with wait_s to follow it, or run_cancel."
    elif status == "success":
        next_step = (
            "Done. outputs lists what each step made or wrote; data_preview(run_id, step_id) "
            "shows its first rows; run_logs shows events and metrics."
        )
    else:
        next_step = "Read run_logs(kind='bundle') or use the debug_run prompt to find the cause."
    fields: dict[str, Any] = dict(
        run_id=run_id,
        pipeline=snapshot.get("pipeline"),
        manifest_hash=snapshot.get("manifest_hash"),
        status=status,
        finished=finished,
        started_at=snapshot.get("started_at"),
        finished_at=snapshot.get("finished_at"),
        duration_ms=snapshot.get("duration_ms"),
        steps=steps,
        outputs=_outputs(state, run_id, snapshot) if finished else [],
        error=tracked.error if tracked is not None else None,
        status_uri=f"osiris://runs/{run_id}/status.json",
        next=next_step,
    )
    if cancel_requested is None:
        return m.RunStatusResult(**fields)
    return m.RunCancelResult(**fields, cancel_requested=cancel_requested)


def _outputs(state: ServerState, run_id: str, snapshot: dict[str, Any]) -> list[m.RunOutput]:
    """Each step's output: the table or file a writer wrote, the sample a step kept."""
    from runtime.outputs import output_info
    from runtime.sessions import find_run

    session = find_run(state.project.root, run_id)
    outputs = []
    for step in snapshot.get("steps") or []:
        if step.get("status") != "success":
            continue
        step_id = str(step.get("id"))
        preview = f"data_preview(run_id={run_id!r}, step_id={step_id!r})"
        details = step.get("details") or {}
        info = output_info(session, step_id) if session is not None else None
        if details.get("table") and step.get("mode") == "write":
            kind, target, rows = "table", str(details["table"]), int(step.get("rows_written") or 0)
        elif details.get("path") and step.get("mode") == "write":
            kind, target = "file", _project_path(state, str(details["path"]))
            rows = int(step.get("rows_written") or 0)
        elif info is not None:
            kind, target, rows = "step_table", step_id, int(info["rows"])
        else:
            continue
        outputs.append(
            m.RunOutput(step=step_id, kind=kind, target=target, rows=rows, preview=preview)
        )
    return outputs


def _project_path(state: ServerState, path: str) -> str:
    """A path the run wrote, relative to the project when it lies inside it."""
    from pathlib import Path

    try:
        return Path(path).resolve().relative_to(state.project.root.resolve()).as_posix()
    except ValueError:
        return path


def _run_id(run_id: str) -> str:
    try:
        return check_identifier(run_id, "run id")
    except UnsafePath as err:
        raise OsirisToolError(
            "unknown_run",
            f"{err}.",
            "runs_list shows the runs, newest first; run_pipeline returns the id of a new run.",
        ) from None


@tool("Run status", READS_PROJECT, m.RunStatusResult)
async def run_status(state: ServerState, args: m.RunStatusArgs, ctx: Context) -> Reply:
    """The status of a run and of each step (rows, time, error). With wait_s, waits for
    the run to finish (sending progress notifications) before answering."""
    run_id = _run_id(args.run_id)
    _run_status(state, run_id)  # an unknown run fails before any waiting
    if args.wait_s > 0:
        await _wait(state, run_id, state.runs.get(run_id), args.wait_s, ctx)
    return _run_reply(state, run_id)


@tool("Cancel a run", STOPS_RUN, m.RunCancelResult)
async def run_cancel(state: ServerState, args: m.RunCancelArgs, ctx: Context) -> Reply:
    """Stop a running run: its queries are stopped on the database servers, it ends
    `cancelled` and leaves its targets untouched.

    Waits up to wait_s for it to stop. A run that already finished is left as it is.
    """
    run_id = _run_id(args.run_id)
    current = _run_status(state, run_id)
    tracked = state.runs.get(run_id)
    if current.finished:
        return _run_reply(state, run_id, cancel_requested=False)
    if tracked is not None:
        await anyio.to_thread.run_sync(lambda: state.runs.cancel(tracked))
    else:  # a run of another process (a detached run, `osiris run`): the same two switches
        from runtime.sessions import find_run
        from runtime.worker import request_cancel

        session = find_run(state.project.root, run_id)
        if session is None:
            return _run_reply(state, run_id, cancel_requested=False)
        root = state.project.root
        await anyio.to_thread.run_sync(lambda: request_cancel(root, run_id, session))
    await _wait(state, run_id, tracked, args.wait_s, ctx)
    return _run_reply(state, run_id, cancel_requested=True)


@tool("Read run logs", READS_PROJECT)
async def run_logs(state: ServerState, args: m.RunLogsArgs, ctx: Context) -> m.RunLogsResult:
    """A run's events (the timeline), metrics, or the bundle (plan, configs, timeline,
    metrics and artifacts in one text), paged with a cursor. Secrets never appear."""
    from runtime.sessions import bundle, find_run, read_jsonl

    run_id = _run_id(args.run_id)
    session = find_run(state.project.root, run_id)
    if session is None:
        _run_status(state, run_id)  # unknown_run, or a run that never started
        raise OsirisToolError(
            "unknown_run",
            f"Run '{run_id}' has no logs: it did not start.",
            "run_status shows why it could not start.",
        )
    if args.step_id is not None:
        _require_step(state, session, run_id, args.step_id)
    listing = listing_key("run_logs", run_id, args.kind, args.step_id)
    budget = state.project.max_result_bytes
    if args.kind == "bundle":
        text = state.secrets.text(await anyio.to_thread.run_sync(lambda: bundle(session)))
        room = row_room(budget)
        lines = [cut_line(line + "\n", room) for line in text.splitlines()]
        page = fit_rows(lines, budget=budget, listing=listing, cursor=args.cursor)
        return m.RunLogsResult(
            run_id=run_id, kind="bundle", text="".join(page.rows), **paged_fields(page, "run_logs")
        )
    name = "events.jsonl" if args.kind == "events" else "metrics.jsonl"
    rows = [
        state.secrets.data(row)
        for row in read_jsonl(session / name)
        if args.step_id is None or row.get("step_id") == args.step_id
    ]
    room = row_room(budget)
    rows = [row if json_size(row) <= room else _oversized(row, run_id, name) for row in rows]
    page = fit_rows(rows, budget=budget, listing=listing, cursor=args.cursor)
    return m.RunLogsResult(
        run_id=run_id, kind=args.kind, items=page.rows, **paged_fields(page, "run_logs")
    )


def _require_step(state: ServerState, session: Any, run_id: str, step_id: str) -> None:
    """An unknown step id is an error: an empty listing would read as a step that logged nothing."""
    from runtime.sessions import read_status

    try:
        steps = [str(s.get("id")) for s in read_status(session).get("steps", [])]
    except (OSError, ValueError):
        return  # no status yet: nothing to check against
    if step_id not in steps:
        from compiler.diagnostics import did_you_mean, suggestion_hint

        hint = suggestion_hint(did_you_mean(step_id, steps)) or ""
        raise OsirisToolError(
            "unknown_step",
            f"Run '{run_id}' has no step '{step_id}'; its steps are {', '.join(steps) or 'none'}.",
            f"{hint} Leave out step_id for the whole run.".strip(),
        )


def _oversized(row: dict[str, Any], run_id: str, file: str) -> dict[str, Any]:
    """What stands for a line too large for one result: where to read it whole."""
    keep: dict[str, Any] = {
        k: row[k] for k in ("timestamp", "event_type", "metric", "step_id") if k in row
    }
    return {**keep, "omitted": f"too large for one result: read osiris://runs/{run_id}/{file}"}


@tool("List runs", READS_PROJECT)
async def runs_list(state: ServerState, args: m.RunsListArgs, ctx: Context) -> m.RunsListResult:
    """The project's runs, newest first (also those started from the command line)."""
    from runtime.sessions import list_runs

    runs = [
        m.RunSummary(
            run_id=str(r.get("session_id")),
            pipeline=r.get("pipeline"),
            status=r.get("status"),
            started_at=r.get("started_at"),
            finished_at=r.get("finished_at"),
            duration_ms=r.get("duration_ms"),
            manifest_hash=r.get("manifest_hash"),
        )
        for r in await anyio.to_thread.run_sync(lambda: list_runs(state.project.root))
        if (args.pipeline is None or r.get("pipeline") == args.pipeline)
        and (args.status is None or r.get("status") == args.status)
    ]
    listing = listing_key("runs_list", args.pipeline, args.status)
    page = page_of(state, runs, listing, args.cursor)
    return m.RunsListResult(runs=page.rows, **paged_fields(page, "runs_list"))
