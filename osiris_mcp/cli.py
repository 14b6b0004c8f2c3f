"""The `osiris` command line: a thin dispatcher over one module per command.

Command modules keep their top level light (argparse only) and import the heavy parts
inside `run`, so `osiris --version` and `osiris validate` start fast: importing this
module must never pull in duckdb, sqlalchemy, pymysql or mcp (a test checks).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from osiris_mcp import __version__

# command name -> module under osiris_mcp.commands (each has HELP, add_arguments, run)
COMMANDS: dict[str, str] = {
    "validate": "validate",
    "compile": "compile",
    "run": "run",
    "logs": "logs",
    "components": "components",
    "connections": "connections",
    "discover": "discover",
    "init": "init",
    "mcp": "mcp",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osiris",
        description="Validate, compile and run OML data pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"osiris {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"osiris_mcp.commands.{module_name}")
        except ModuleNotFoundError as err:
            if err.name != f"osiris_mcp.commands.{module_name}":
                raise
            continue  # a command not built yet
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("osiris: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
