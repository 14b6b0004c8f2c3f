"""`osiris-mcp`: the Osiris MCP server over stdio (entry point `main`).

The project directory is `--project DIR`, else `$OSIRIS_HOME`, else the working
directory. Nothing but protocol goes to stdout: logs go to stderr and
`.osiris/mcp/server.log`, the audit trail to `.osiris/mcp/audit.jsonl`.

Start-up is kept short: only the SDK and the tool contract are imported before the first
`tools/list` answer; the compiler is loaded on a background thread right after it.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer

from osiris_mcp import __version__
from osiris_mcp.audit import AuditLog, AuditMiddleware, SecretText, configure_logging
from osiris_mcp.project import (
    DEFAULT_MAX_RESOURCE_BYTES,
    DEFAULT_MAX_RESULT_BYTES,
    Project,
)
from osiris_mcp.tool_adapter import ServerState
from runtime.app import project_root

logger = logging.getLogger("osiris_mcp.server")

INSTRUCTIONS = """\
Osiris validates, compiles and runs data pipelines written in OML (YAML). Work through
the tools; never guess a table, column or connection name:
1. guide_start(intent) says which tools to call; connections_list shows the connections.
2. discovery_request(connection) reads the real tables and columns.
3. Write OML (oml_schema_get, component_describe, usecases_list help); oml_validate it and
   fix each diagnostic at its line and column; oml_save keeps it under pipelines/.
4. oml_compile returns the manifest_hash and the targets the plan will modify.
5. run_pipeline(manifest_hash) runs it; database writes need the user's confirmation.
   run_status follows it, run_logs reads it, run_cancel stops it.
Never write secrets into OML: connections live in osiris_connections.yaml.
"""


class OsirisServer(MCPServer[dict[str, Any]]):
    """The MCP server, holding the state its tools share (tests and the selftest read it)."""

    state: ServerState


def build_server(project: Project) -> OsirisServer:
    """The server for one project, with every tool, resource and prompt registered."""
    from osiris_mcp.prompts import register_prompts
    from osiris_mcp.resources import register_resources
    from osiris_mcp.tool_adapter import build_tools

    state = ServerState.open(project)

    @asynccontextmanager
    async def lifespan(_: MCPServer[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            import anyio.to_thread

            # Runs started by this connection stop cleanly (targets untouched) when it ends.
            await anyio.to_thread.run_sync(state.runs.shutdown)

    server = OsirisServer(
        "osiris",
        title="Osiris",
        description="Discover schemas, validate, compile and run OML data pipelines.",
        instructions=INSTRUCTIONS,
        version=__version__,
        tools=build_tools(state),
        lifespan=lifespan,
        log_level="INFO",
        middleware=[
            AuditMiddleware(AuditLog(project.state_dir / "audit.jsonl"), state.secrets),
            WarmUp(state.secrets),
            prompt_arguments,
        ],
    )
    register_resources(server, state)
    register_prompts(server, state)
    server.state = state
    return server


class WarmUp:
    """Middleware: after the first `tools/list`, load the compiler on a background thread.

    The first `oml_validate` then answers in milliseconds instead of paying the imports,
    without delaying the start-up answer itself.
    """

    def __init__(self, secrets: SecretText) -> None:
        self._started = False
        self.secrets = secrets

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        if not self._started and ctx.method == "tools/list":
            self._started = True
            # A moment later, so the answer is written before the imports take the GIL.
            timer = threading.Timer(0.25, _warm_up, args=(self.secrets,))
            timer.name = "osiris-warm-up"
            timer.daemon = True
            timer.start()
        return result


async def prompt_arguments(ctx: Any, call_next: Any) -> Any:
    """Middleware: a prompt asked for without a required argument is the client's mistake,
    so it gets JSON-RPC's invalid-params error — not an internal error with a traceback
    in the log (the SDK raises a bare ValueError for it)."""
    if ctx.method != "prompts/get":
        return await call_next(ctx)
    try:
        return await call_next(ctx)
    except ValueError as err:
        from mcp.shared.exceptions import MCPError
        from mcp_types import INVALID_PARAMS

        raise MCPError(INVALID_PARAMS, f"Invalid params: {err}") from None


def _warm_up(secrets: SecretText) -> None:
    try:
        secrets.refresh()  # the connections' secret values, for the log masker
        import runtime.app
        import runtime.builds  # noqa: F401
        from compiler.compile import check, default_context

        check(b'oml_version: "0.1.0"\nname: warm\nsteps: []\n', default_context())
    except Exception:  # warming up is an optimization: never fail because of it
        logger.debug("warm-up failed", exc_info=True)


def _leave_logging_to_us() -> None:
    """Skip the SDK's own logging set-up in `MCPServer()`: osiris-mcp configures logging
    itself (stderr and the log file, both redacted), and the SDK's would first import
    `rich` when it is installed, tens of milliseconds of start-up for a handler we drop."""
    from mcp.server.mcpserver import server as sdk_server

    sdk_server.configure_logging = lambda *args, **kwargs: None  # type: ignore[attr-defined]


def _serve_http(server: OsirisServer, project: Project, address: str) -> int:
    import sys

    from osiris_mcp.transport import TOKEN_VARIABLE, http_token, serve_http

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        print(
            f"osiris-mcp: --http wants HOST:PORT, e.g. 127.0.0.1:8765 (got {address!r})",
            file=sys.stderr,
        )
        return 2
    token, generated = http_token()
    url = f"http://{host}:{port}/mcp"
    if generated:  # printed once, here only: never logged
        print(
            f"osiris-mcp: serving {url}; bearer token (set {TOKEN_VARIABLE} to choose one): "
            f"{token}",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(
            f"osiris-mcp: serving {url}; bearer token from ${TOKEN_VARIABLE}",
            file=sys.stderr,
            flush=True,
        )
    server.state.secrets.add({token})  # the token is masked in every log line and result
    logger.info("osiris-mcp %s serving %s over HTTP at %s", __version__, project.root, url)
    try:
        serve_http(server, host, int(port), token)
    except KeyboardInterrupt:
        return 130
    finally:
        server.state.runs.cancel_attached()
    return 0


def _cancel_runs_on_sigterm(state: ServerState) -> None:
    """A client that gives up on its server sends SIGTERM (the SDK's stdio client does, 2 s
    after closing stdin): stop this server's runs first — their queries on the servers,
    their cancel files, which their workers (in sessions of their own) obey — then exit."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        try:
            state.runs.cancel_attached()
        finally:
            os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1024:
        raise argparse.ArgumentTypeError("must be at least 1024 bytes")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osiris-mcp",
        description="The Osiris MCP server (stdio). Clients start it; it speaks MCP on stdout.",
    )
    parser.add_argument("--version", action="version", version=f"osiris-mcp {__version__}")
    parser.add_argument(
        "--project",
        metavar="DIR",
        help="project directory (default: $OSIRIS_HOME, else the working directory)",
    )
    parser.add_argument(
        "--max-result-bytes",
        type=_positive,
        default=int(os.environ.get("OSIRIS_MCP_MAX_RESULT_BYTES", DEFAULT_MAX_RESULT_BYTES)),
        metavar="N",
        help="cap on a tool result, cut at a row boundary (default 65536; "
        "env OSIRIS_MCP_MAX_RESULT_BYTES)",
    )
    parser.add_argument(
        "--max-resource-bytes",
        type=_positive,
        default=int(os.environ.get("OSIRIS_MCP_MAX_RESOURCE_BYTES", DEFAULT_MAX_RESOURCE_BYTES)),
        metavar="N",
        help="cap on a resource read (default 1048576; env OSIRIS_MCP_MAX_RESOURCE_BYTES)",
    )
    parser.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio; clients send "
        "Authorization: Bearer <token> — $OSIRIS_MCP_TOKEN, else a new token printed once "
        "to stderr",
    )
    parser.add_argument(
        "--writes",
        choices=("deny", "confirm", "allow"),
        default=os.environ.get("OSIRIS_MCP_WRITES", "deny"),
        help="database writes when the client cannot ask the user (no elicitation): deny "
        "(default), confirm (the model asks you, then passes confirm_writes), allow; a client "
        "that can ask always asks you (env OSIRIS_MCP_WRITES)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one client over stdio until it disconnects."""
    args = build_parser().parse_args(argv)
    project = Project(
        project_root(args.project, walk_up=False),
        max_result_bytes=args.max_result_bytes,
        max_resource_bytes=args.max_resource_bytes,
        writes=args.writes,
    )
    if not project.root.is_dir():
        import sys

        print(f"osiris-mcp: project directory {project.root} does not exist", file=sys.stderr)
        return 2
    _leave_logging_to_us()
    server = build_server(project)
    configure_logging(project.state_dir, server.state.secrets, getattr(logging, args.log_level))
    if args.http:
        return _serve_http(server, project, args.http)
    logger.info("osiris-mcp %s serving %s over stdio", __version__, project.root)
    _cancel_runs_on_sigterm(server.state)
    try:
        import anyio

        from osiris_mcp.transport import serve_stdio

        anyio.run(serve_stdio, server)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
