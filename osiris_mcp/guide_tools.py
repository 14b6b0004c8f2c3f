"""The guidance tools: where to start, the shipped use cases, and consented project memory."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from osiris_mcp import tool_models as m
from osiris_mcp.errors import OsirisToolError
from osiris_mcp.paging import listing_key
from osiris_mcp.tool_adapter import (
    APPENDS_PROJECT,
    READS_PROJECT,
    ServerState,
    page_of,
    paged_fields,
    tool,
)
from osiris_mcp.tools import connections_file


@tool("Start here", READS_PROJECT)
async def guide_start(
    state: ServerState, args: m.GuideStartArgs, ctx: Context
) -> m.GuideStartResult:
    """Start here: turn what the user wants into the tools to call next, the components
    that fit and the closest shipped examples, given the state of the project."""
    from osiris_mcp import guide

    goal = guide.read_goal(args.intent)
    suggested = guide.suggest_components(args.intent)
    pool = guide.examples()
    related = guide.related_examples([name for name, _ in suggested], pool)
    state_of = _project_state(state)
    notes = []
    if not state_of.connections_file:
        notes.append(
            "There is no osiris_connections.yaml in the project yet: the user must add the "
            "connections (secrets as ${ENV_VARS}) before discovery or runs can reach a database."
        )
    if goal == "author":
        notes.append(
            "Write the OML from discovered columns only; validate after every change and "
            "fix each diagnostic at its line and column."
        )
    notes.append("Database writes always need the user's confirmation before a run.")
    return m.GuideStartResult(
        goal=goal,
        next_steps=[m.GuideStep(tool=t, why=w) for t, w in guide.WORKFLOWS[goal]],
        components=[m.GuideComponent(name=n, why=w) for n, w in suggested],
        examples=[m.UsecaseRef(name=e.name, description=e.description, uri=e.uri) for e in related],
        project=state_of,
        notes=notes,
    )


def _project_state(state: ServerState) -> m.ProjectState:
    from runtime.sessions import runs_root

    root = state.project.root
    try:
        file = connections_file(state)
        has_file, connections = file.exists, len(file.aliases())
    except ToolError:
        has_file, connections = True, 0  # present but broken: connections_list says why
    pipelines = state.project.pipelines_dir
    runs = runs_root(root)
    return m.ProjectState(
        connections_file=has_file,
        connections=connections,
        saved_pipelines=len(list(pipelines.glob("*.y*ml"))) if pipelines.is_dir() else 0,
        runs=len(list(runs.glob("*/*/status.json"))) if runs.is_dir() else 0,
    )


@tool("List use cases", READS_PROJECT)
async def usecases_list(
    state: ServerState, args: m.UsecasesListArgs, ctx: Context
) -> m.UsecasesListResult:
    """The example pipelines shipped with Osiris: what each does, its components, and
    its OML (include_oml, or the osiris://examples/{name} resource) to start from."""
    from osiris_mcp import guide

    rows = [
        m.Usecase(
            name=e.name,
            title=e.title,
            description=e.description,
            components=list(e.components),
            needs_database=e.needs_database,
            uri=e.uri,
            oml=e.path.read_text("utf-8") if args.include_oml else None,
        )
        for e in guide.examples()
    ]
    page = page_of(state, rows, listing_key("usecases_list", args.include_oml), args.cursor)
    return m.UsecasesListResult(usecases=page.rows, **paged_fields(page, "usecases_list"))


@tool("Remember a decision", APPENDS_PROJECT)
async def memory_capture(
    state: ServerState, args: m.MemoryCaptureArgs, ctx: Context
) -> m.MemoryCaptureResult:
    """Store a decision or lesson for this project (.osiris/memory/), only with the user's
    consent (consent: true). Secrets and personal data (e-mails, phone numbers, card
    numbers, IBANs, IP addresses) are redacted before anything is written."""
    from osiris_mcp.memory import redact_note, store_note

    if not args.consent:
        raise OsirisToolError(
            "consent_required",
            "Nothing was stored: memory_capture needs the user's consent.",
            "Ask the user whether to remember this; call again with consent: true if they agree.",
        )
    text, counts = redact_note(args.text, state.secrets.text)
    note_id, path = store_note(state.project.memory_dir, kind=args.kind, text=text, tags=args.tags)
    return m.MemoryCaptureResult(
        id=note_id,
        stored_in=path.relative_to(state.project.root).as_posix(),
        text=text,
        redacted=counts,
    )
