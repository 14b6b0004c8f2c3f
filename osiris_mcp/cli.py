"""The `osiris` command line: a thin dispatcher over one module per command.

Command modules keep their top level light (argparse only) and import the heavy parts
inside `run`, so `osiris --version` and `osiris validate` start fast: importing this
module must never pull in duckdb, sqlalchemy, pymysql or mcp (a test checks).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from osiris_mcp import __version__

# command name -> module under osiris_mcp.commands (each has HELP, add_arguments, run)
COMMANDS: dict[str, str] = {
    "validate": "validate",
    "compile": "compile",
    "run": "run",
    "preview": "preview",
    "logs": "logs",
    "components": "components",
    "connections": "connections",
    "discover": "discover",
    "init": "init",
    "mcp": "mcp",
    # 0.5.7's command forms, kept so its users' scripts and habits keep working
    "oml": "oml",
    "maintenance": "maintenance",
}


class VersionAction(argparse.Action):
    """`osiris --version`: the version, and whether another package shadows one of ours."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        from osiris_mcp.installation import ISOLATED_INSTALL_HINT, foreign_packages

        print(f"osiris {__version__}")
        problems = foreign_packages()
        for problem in problems:
            print(f"osiris: error: another package shadows Osiris's {problem}", file=sys.stderr)
        if problems:
            print(f"  hint: {ISOLATED_INSTALL_HINT}", file=sys.stderr)
        parser.exit(1 if problems else 0)


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped command or option.

    Measured before choosing: importing click costs 40-50 ms of a cold start whose budget
    is already spent (argparse: 3 ms), and Python 3.14's argparse suggests on its own
    (`suggest_on_error`); this adds the same to 3.11-3.13.
    """

    def error(self, message: str) -> NoReturn:
        import re

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2)) or choice.group(2).split(", ")
            message += _did_you_mean(choice.group(1), options)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def subcommand(self, name: str) -> argparse.ArgumentParser:
        """The parser of one sub-command (this parser when it has no such command)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                return action.choices[name]
        return self

    def options(self) -> list[str]:
        """Every option string of this parser and of its sub-commands."""
        found: list[str] = []
        for action in self._actions:
            found.extend(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found.extend(sub.options() if isinstance(sub, Parser) else [])
        return found


def _did_you_mean(given: str, options: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(given, options, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="osiris",
        description="Validate, compile and run OML data pipelines.",
    )
    parser.add_argument(
        "--version", action=VersionAction, nargs=0, help="show the version and check the install"
    )
    parser.add_argument(
        "--json",
        dest="global_json",
        action="store_true",
        help="machine-readable output: `osiris --json CMD` is `osiris CMD --json` (0.5.7's form)",
    )
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
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = parser.subcommand(args.command) if args.command else parser
        known = command.options() if isinstance(command, Parser) else []
        flags = [word for word in extra if word.startswith("-")]
        hint = _did_you_mean(flags[0].split("=")[0], known) if flags else ""
        command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    if args.global_json:
        if not hasattr(args, "json"):
            command = " ".join(str(a) for a in (args.command, getattr(args, "action", None)) if a)
            print(f"osiris: error: `osiris {command}` has no --json output", file=sys.stderr)
            return 2
        args.json = True
    problem = project_problem(args)
    if problem is not None:
        print(f"osiris: error: {problem}", file=sys.stderr)
        print(
            "  hint: name an existing project folder (`osiris init DIR` creates one)",
            file=sys.stderr,
        )
        return 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("osiris: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        if err.errno not in _NO_ROOM:
            raise
        where = f" writing {err.filename}" if err.filename else ""
        print(f"osiris: error: {err.strerror}{where}", file=sys.stderr)
        print("  hint: free space on that disk, then run the command again", file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:
        from runtime.packages import missing_package

        missing = missing_package(err)
        if missing is None:
            raise
        print(f"osiris: error: {missing}", file=sys.stderr)
        return 2


#: The ways a disk says it has no room: one clean line for these, never a traceback.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def project_problem(args: argparse.Namespace) -> str | None:
    """Why the chosen project folder cannot be used, or None.

    `--project DIR` (else `$OSIRIS_HOME`) must be an existing folder: a command never
    creates a project tree where a typo points, nor fails later on a file named as one.
    Without either, the project is looked for from the working directory up
    (`options.project_dir`), and what that finds is a folder that exists.
    """
    if not hasattr(args, "project"):
        return None
    chosen, source = args.project, "--project"
    if not chosen and getattr(args, "action", None) != "selftest":
        chosen, source = os.environ.get("OSIRIS_HOME"), "$OSIRIS_HOME"
    if not chosen:
        return None
    path = Path(chosen)
    if not path.exists():
        return f"{source} {chosen}: no such folder"
    if not path.is_dir():
        return f"{source} {chosen}: not a folder"
    return None


if __name__ == "__main__":
    sys.exit(main())
