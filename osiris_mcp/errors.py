"""Tool errors: a stable code, a message and a hint the model can act on — never a traceback.

Every failure a tool anticipates leaves as an `OsirisToolError`. The SDK turns it into a
`CallToolResult` with `isError: true` whose text reads
`Error executing tool <name>: [<code>] <message> Hint: <hint>`, so a model (or a test)
finds the code between the first square brackets.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

#: Every code a tool can return, with what it means. `docs/mcp.md` lists the same table.
ERROR_CODES: dict[str, str] = {
    "invalid_arguments": "the arguments do not match the tool's inputSchema",
    "invalid_name": "a file or pipeline name that is not a plain name inside the project",
    "invalid_cursor": "a paging cursor that does not belong to this listing",
    "not_found": "a saved pipeline, example or file that does not exist",
    "too_large": "a resource too large to send; read a smaller part",
    "already_exists": "oml_save would overwrite a pipeline and overwrite is false",
    "oml_invalid": "the OML has errors; the message names the first of them",
    "unknown_component": "no component has that name",
    "unknown_connection": "no connection has that reference",
    "connections_file": "osiris_connections.yaml is missing or cannot be read",
    "discovery_auth": "the source refused the credentials",
    "discovery_network": "the source cannot be reached",
    "discovery_timeout": "the source did not answer in time",
    "discovery_permission": "the user may not read the source's catalog",
    "discovery_config": "the connection's settings cannot work for discovery",
    "unknown_discovery": "no discovery has that discovery_id",
    "unknown_manifest": "no compiled plan has that manifest_hash",
    "stale_manifest": "the plan was compiled but its files or the compiler changed since",
    "params_mismatch": "run params differ from the params the plan was compiled with",
    "confirmation_required": "the plan writes to database tables and nobody confirmed it",
    "not_confirmed": "the user declined to run a plan that writes to database tables",
    "unknown_run": "no run has that id",
    "unknown_step": "the run has no step with that id",
    "query_rejected": "sql_query refused the query (not one read-only SELECT, or a checked name)",
    "query_failed": "the query ran and failed (the server's error, a timeout)",
    "run_failed_to_start": "the run could not start (its plan or connections are unusable)",
    "engine_unsupported": (
        "the engine asked for (spark) cannot run the plan: a step it lacks, or not compiled for it"
    ),
    "consent_required": "memory_capture needs consent: true",
    "unknown_tool": "no tool has that name",
    "internal": "a bug in Osiris; the server log has the details, the result never does",
}


class OsirisToolError(ToolError):
    """A tool failure the model can act on: `[code] message Hint: hint`."""

    def __init__(self, code: str, message: str, hint: str) -> None:
        if code not in ERROR_CODES:  # a typo here would break the documented contract
            raise ValueError(f"undocumented tool error code {code!r}")
        self.code = code
        self.message = message
        self.hint = hint
        super().__init__(f"[{code}] {message} Hint: {hint}")


def error_code_of(text: str) -> str | None:
    """The code of an error result's text, or None when it carries none.

    >>> error_code_of("Error executing tool run_status: [unknown_run] No run 'x'. Hint: …")
    'unknown_run'
    >>> error_code_of("Error executing tool run_status") is None
    True
    """
    start = text.find("[")
    end = text.find("]", start + 1)
    if start < 0 or end < 0:
        return None
    code = text[start + 1 : end]
    return code if code in ERROR_CODES else None


def load_build(index: Any, manifest_hash: str) -> Any:
    """The verified plan compiled as `manifest_hash` (a `runtime.builds.Build`), or an
    `unknown_manifest` / `stale_manifest` error: only a compiled, unchanged plan made by
    the compiler and components installed now may run."""
    from runtime.builds import PlanError

    short = manifest_hash[:12] + ("…" if len(manifest_hash) > 12 else "")
    build_dir = index.build_dir(manifest_hash)
    if build_dir is None:
        raise OsirisToolError(
            "unknown_manifest",
            f"No compiled plan has manifest_hash '{short}'.",
            "Compile the pipeline with oml_compile and pass the manifest_hash it returns; "
            "only a compiled plan can run.",
        )
    try:
        return index.load(manifest_hash, build_dir).current()
    except PlanError as err:
        message = {
            "changed": f"The plan '{short}' was changed after it was compiled: {err.detail}.",
            "other_plan": f"The build folder of '{short}' now holds another plan.",
            "stale": f"The plan '{short}' was compiled with {err.detail}.",
        }.get(err.code, f"The plan '{short}' cannot be read: {err.detail}.")
        hint = "Compile the pipeline again with oml_compile and run the new manifest_hash."
        raise OsirisToolError("stale_manifest", message, hint) from None
