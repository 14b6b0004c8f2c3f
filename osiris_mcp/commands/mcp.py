"""`osiris mcp run|clients|selftest`: serve MCP over stdio, configure a client, or check it.

`osiris mcp run` is 0.5.7's way to start the server (its users' client configs may say
`"command": "osiris", "args": ["mcp", "run"]`): it is `osiris-mcp`, in this process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from osiris_mcp.commands.options import add_project, project_dir

HELP = (
    "Serve MCP over stdio (run), print MCP client configuration for osiris-mcp (clients), "
    "or run a stdio self-test of the server (selftest)."
)

CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode", "http")
#: Where `osiris-mcp --http` listens in the configuration printed for a team server.
HTTP_ADDRESS = "127.0.0.1:8765"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    serve = actions.add_parser(
        "run", help="start the MCP server over stdio: the same as `osiris-mcp` (0.5.7's form)"
    )
    serve.add_argument(
        "--project",
        "--base-path",
        dest="project",
        metavar="DIR",
        help="project directory (default: $OSIRIS_HOME, else the working directory); "
        "--base-path is 0.5.7's name for it",
    )
    serve.add_argument(
        "--selftest", action="store_true", help="instead of serving: `osiris mcp selftest`"
    )
    serve.add_argument("--debug", action="store_true", help="log at DEBUG level (to its log file)")
    clients = actions.add_parser(
        "clients",
        help="ready-to-paste configuration for Claude Desktop, Claude Code, Cursor, VS Code",
    )
    clients.add_argument(
        "--client", choices=(*CLIENTS, "all"), default="all", help="only this client"
    )
    clients.add_argument("--json", action="store_true", help="print the configurations as JSON")
    add_project(clients)
    selftest = actions.add_parser(
        "selftest", help="start osiris-mcp over stdio like a client, list, validate, compile"
    )
    selftest.add_argument("--json", action="store_true", help="print the results as JSON")
    selftest.add_argument(
        "--project",
        metavar="DIR",
        help="project to serve (default: a temporary folder, so nothing is written here)",
    )


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "run":
        return _serve(args)
    if getattr(args, "action", None) == "selftest":
        return _selftest(args)
    if getattr(args, "action", None) == "clients":
        return _clients(args)
    print("usage: osiris mcp run|clients|selftest (see osiris mcp --help)", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    if args.selftest:
        args.json = False
        return _selftest(args)
    from osiris_mcp.server import main as serve

    argv = ["--project", args.project] if args.project else []
    return serve([*argv, *(["--log-level", "DEBUG"] if args.debug else [])])


# -- clients ----------------------------------------------------------------------------------


def server_command() -> list[str]:
    """The absolute command that starts osiris-mcp from this installation."""
    import shutil

    beside = Path(sys.executable).with_name("osiris-mcp")
    if beside.is_file():
        return [str(beside.absolute())]
    found = shutil.which("osiris-mcp")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "osiris_mcp.server"]


def client_configs(project: Path) -> dict[str, dict[str, Any]]:
    """Each client's configuration: where it goes and what to paste (or run)."""
    command, *prefix = server_command()
    args = [*prefix, "--project", str(project)]
    stdio = {"command": command, "args": args}
    claude_code = " ".join(
        _shell_quote(part) for part in ("claude", "mcp", "add", "osiris", "--", command, *args)
    )
    shared = " ".join(
        _shell_quote(part)
        for part in ("claude", "mcp", "add", "--scope", "project", "osiris", "--", command, *args)
    )
    url = f"http://{HTTP_ADDRESS}/mcp"
    http_server = " ".join(_shell_quote(part) for part in (command, *args, "--http", HTTP_ADDRESS))
    return {
        "claude-desktop": {
            "where": _claude_desktop_config_path(),
            "config": {"mcpServers": {"osiris": stdio}},
        },
        "claude-code": {
            "where": "run in a terminal",
            "command": claude_code,
            # `--scope project` writes <project>/.mcp.json, shared with the team in git
            "project_command": shared,
            "project_file": str(project / ".mcp.json"),
            "project_config": {"mcpServers": {"osiris": {"type": "stdio", **stdio}}},
        },
        "cursor": {
            "where": f"{project / '.cursor' / 'mcp.json'} (~/.cursor/mcp.json: every project)",
            "config": {"mcpServers": {"osiris": stdio}},
        },
        "vscode": {
            "where": str(project / ".vscode" / "mcp.json"),
            "config": {"servers": {"osiris": {"type": "stdio", **stdio}}},
        },
        "http": {
            "where": f"a team server: start `{http_server}` (it prints a bearer token once, "
            "or set OSIRIS_MCP_TOKEN); clients connect with the token",
            "server_command": http_server,
            "command": (
                f"claude mcp add --transport http osiris {url} "
                '--header "Authorization: Bearer $OSIRIS_MCP_TOKEN"'
            ),
            "config": {
                "mcpServers": {
                    "osiris": {
                        "type": "http",
                        "url": url,
                        "headers": {"Authorization": "Bearer ${OSIRIS_MCP_TOKEN}"},
                    }
                }
            },
        },
    }


def _claude_desktop_config_path() -> str:
    import os

    if sys.platform == "darwin":
        return "~/Library/Application Support/Claude/claude_desktop_config.json"
    if sys.platform == "win32":
        return os.path.join(
            os.environ.get("APPDATA", "%APPDATA%"), "Claude", "claude_desktop_config.json"
        )
    return "~/.config/Claude/claude_desktop_config.json"


def _shell_quote(part: str) -> str:
    import shlex

    return shlex.quote(part)


def _clients(args: argparse.Namespace) -> int:
    project = project_dir(args)  # the CLI's rule: the configs name the project found
    configs = client_configs(project)
    chosen = CLIENTS if args.client == "all" else (args.client,)
    if args.json:
        print(json.dumps({name: configs[name] for name in chosen}, indent=2))
        return 0
    titles = {
        "claude-desktop": "Claude Desktop",
        "claude-code": "Claude Code",
        "cursor": "Cursor",
        "vscode": "VS Code",
        "http": "Streamable HTTP",
    }
    for name in chosen:
        entry = configs[name]
        print(f"# {titles[name]} — {entry['where']}")
        if "command" in entry:
            print(entry["command"])
        if "config" in entry:
            print(json.dumps(entry["config"], indent=2))
        if "project_command" in entry:
            print(f"# … or for everyone working on the project ({entry['project_file']}):")
            print(entry["project_command"])
        print()
    print(
        "# Secrets: clients start osiris-mcp without your shell's environment. Put the\n"
        f"# variables osiris_connections.yaml uses (${{VAR}}) in {project / '.env'}."
    )
    return 0


# -- selftest ----------------------------------------------------------------------------------


def _selftest(args: argparse.Namespace) -> int:
    import tempfile

    import anyio

    with tempfile.TemporaryDirectory(prefix="osiris-selftest-") as scratch:
        project = Path(args.project).resolve() if args.project else Path(scratch)
        try:
            results = anyio.run(selftest, project)
        except Exception as err:  # the server did not start or broke the protocol
            results = {"ok": False, "error": f"{type(err).__name__}: {err}", "protocols": []}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_selftest(results)
    return 0 if results["ok"] else 1


QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "quickstart.yaml"
#: Used when the examples are not installed beside the package (a wheel install).
FALLBACK_OML = """\
oml_version: "0.1.0"
name: selftest
steps:
  - {id: orders, component: filesystem.csv_extractor, mode: read, config: {path: orders.csv}}
  - id: paid
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${orders.df}"}
    config: {query: "SELECT * FROM orders WHERE status = 'paid'"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${paid.df}"}
    config: {path: paid.csv}
"""


async def selftest(project: Path) -> dict[str, Any]:
    """Start osiris-mcp over stdio once per protocol era; list, validate and compile."""
    import os
    import time

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command, *prefix = server_command()
    parameters = StdioServerParameters(
        command=command, args=[*prefix, "--project", str(project)], env=dict(os.environ)
    )
    oml = QUICKSTART.read_text("utf-8") if QUICKSTART.is_file() else FALLBACK_OML
    report: dict[str, Any] = {"ok": True, "command": [command, *parameters.args], "protocols": []}
    with open(os.devnull, "w") as quiet:
        for mode in ("auto", "legacy"):
            started = time.perf_counter()
            async with Client(stdio_client(parameters, errlog=quiet), mode=mode) as client:
                tools = (await client.list_tools()).tools
                listed = time.perf_counter()
                checks: dict[str, Any] = {
                    "protocol": client.protocol_version,
                    "tools": len(tools),
                    "start_to_tools_ms": round((listed - started) * 1000, 1),
                }
                for tool, arguments in (
                    ("oml_validate", {"oml": oml}),
                    ("oml_compile", {"oml": oml}),
                    ("oml_validate", {"oml": oml}),
                    ("oml_compile", {"oml": oml}),
                ):
                    began = time.perf_counter()
                    result = await client.call_tool(tool, arguments)
                    elapsed = round((time.perf_counter() - began) * 1000, 1)
                    data = result.structured_content or {}
                    good = not result.is_error and bool(data.get("valid") or data.get("ok"))
                    checks[f"{tool}_ms"] = elapsed  # the second (warm) call is kept
                    checks[f"{tool}_ok"] = good
                    if tool == "oml_compile" and good:
                        checks["manifest_hash"] = data["manifest_hash"]
                    report["ok"] = report["ok"] and good
                report["ok"] = report["ok"] and len(tools) >= 17
            report["protocols"].append(checks)
    return report


def _print_selftest(results: dict[str, Any]) -> None:
    if results.get("error"):
        print(f"osiris mcp selftest: FAILED — {results['error']}")
        return
    print("osiris mcp selftest — " + " ".join(results["command"]))
    for checks in results["protocols"]:
        print(
            f"  protocol {checks['protocol']}: {checks['tools']} tools listed "
            f"{checks['start_to_tools_ms']:.0f} ms after start"
        )
        mark = {True: "ok", False: "FAILED"}
        for tool, label in (
            ("oml_validate", "oml_validate quickstart:"),
            ("oml_compile", "oml_compile quickstart: "),
        ):
            line = f"    {label} {mark[checks[f'{tool}_ok']]} in {checks[f'{tool}_ms']:.1f} ms"
            if tool == "oml_compile" and checks.get("manifest_hash"):
                line += f" (manifest {checks['manifest_hash'][:12]})"
            print(line)
    print("ok" if results["ok"] else "FAILED")
