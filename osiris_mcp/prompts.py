"""Prompts: ready-made workflows the user picks in the client (author a pipeline, debug a run)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from osiris_mcp.project import UnsafePath, check_identifier
from osiris_mcp.tool_adapter import ServerState

AUTHOR_PIPELINE = """\
Help me build an Osiris pipeline for this goal: {goal}

Work through the Osiris tools, step by step, and show me what you found at each step:
1. Call guide_start with the goal, then connections_list to see the connections I have.
2. Call discovery_request on the source connection (tables=[…] to narrow it). Use only
   tables and columns it returns; never guess a name.
3. Call usecases_list and component_describe for the components you plan to use; start
   from the closest example.
4. Write the OML and call oml_validate. Fix every diagnostic at the line and column it
   gives, and validate again until valid is true.
5. Save it with oml_save (ask me before overwriting), then oml_compile it. Show me the
   step order and the targets it will modify with their write modes.
6. Call run_pipeline with the manifest_hash. Database writes need my own consent:
   Osiris asks me itself when this client can; otherwise do what its error says I must
   do. Follow the run with run_status and summarize the rows read and written per step.
Never write a password or token into OML: connections come from osiris_connections.yaml.
"""

DEBUG_RUN = """\
Help me understand what happened in the Osiris run {run_id} and how to fix it.
{known}
1. Call run_status with run_id={run_id}: which step failed (or was skipped or cancelled),
   its error and its category (auth, network, timeout, permission, config, sql, data, io).
2. Call run_logs with kind='bundle' for the plan, the resolved configs (secrets masked),
   the event timeline and the metrics; page with cursor if it is truncated.
3. Check, in this order: the connection (connections_doctor), the SQL and the columns it
   names (discovery_request with refresh=true shows drift), the params the plan was
   compiled with, and whether an upstream step produced rows.
4. Propose the smallest fix to the OML, validate it with oml_validate, compile it, and
   ask me before running it again.
"""


def register_prompts(server: MCPServer, state: ServerState) -> None:
    """Add the two prompts."""

    @server.prompt(name="author_pipeline", title="Author a pipeline")
    def author_pipeline(
        goal: Annotated[str, Field(description="What the pipeline should do, in plain words.")],
    ) -> str:
        """A guided workflow from a goal to a validated, compiled and confirmed run."""
        # the text is echoed back to the client: a secret pasted into it is masked
        return state.secrets.text(AUTHOR_PIPELINE.format(goal=" ".join(goal.split())[:2000]))

    @server.prompt(name="debug_run", title="Debug a run")
    def debug_run(
        run_id: Annotated[str, Field(description="The run to look into (runs_list shows ids).")],
    ) -> str:
        """What to read and check to find out why a run failed, and how to fix it."""
        from runtime.sessions import find_run, read_status

        known = ""
        try:
            session = find_run(state.project.root, check_identifier(run_id, "run id"))
        except UnsafePath:
            session = None
            run_id = "<a run id from runs_list>"
        if session is None:
            known = "(This run id is not in the project: start with runs_list to find it.)\n"
        else:
            try:
                status = read_status(session)
                failed = [s["id"] for s in status.get("steps", []) if s.get("status") == "failed"]
                known = (
                    f"(Pipeline {status.get('pipeline')}, status {status.get('status')}"
                    + (f", failed steps: {', '.join(failed)}" if failed else "")
                    + ".)\n"
                )
            except (OSError, ValueError, KeyError, TypeError):
                known = ""
        return state.secrets.text(DEBUG_RUN.format(run_id=run_id, known=known))
