"""Options and input handling shared by the commands: the project folder, and what the
commands that compile (validate, compile, run, preview) take."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.program import CompileContext


PROJECT_HELP = (
    "project directory (default: $OSIRIS_HOME, else the nearest folder from here up that "
    "holds osiris_connections.yaml, else the working directory)"
)


def add_project(parser: argparse.ArgumentParser) -> None:
    """`--project DIR`, for every command that works in a project (see `project_dir`)."""
    parser.add_argument("--project", metavar="DIR", help=PROJECT_HELP)


def add_compile_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="select a profile defined in the pipeline")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a param (repeatable); wins over OSIRIS_PARAM_<NAME>, profile and default",
    )
    add_project(parser)
    parser.add_argument(
        "--catalog",
        choices=("auto", "off"),
        default="auto",
        help="auto: check SQL against schemas `osiris discover` cached (never connects); "
        "off: no schema checks",
    )


def add_no_optimize(parser: argparse.ArgumentParser) -> None:
    """`--no-optimize`, for the commands that compile a plan (`compile_context(optimize=...)`)."""
    parser.add_argument(
        "--no-optimize", action="store_true", help="compile without pushdown rewrites"
    )


def add_verify_sql(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-sql",
        action="store_true",
        help="also PREPARE each extract query on its database server (read-only, never "
        "executed): the server's own syntax, tables and columns",
    )


def add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="ENGINE",
        help="also compile for ENGINE (spark: each transform's Spark SQL, checked by Spark's "
        "own parser, goes into the plan); repeatable or comma-separated, e.g. duckdb,spark. "
        "Every plan runs on DuckDB",
    )


def parse_engines(values: list[str] | str | None) -> tuple[str, ...] | None:
    """The engines `--engine` names (repeated or comma-separated), DuckDB always among
    them; None after a usage error."""
    from compiler.diagnostics import did_you_mean
    from compiler.program import ENGINES, plan_engines

    given = [values] if isinstance(values, str) else list(values or [])
    names = [part for value in given for part in value.split(",")]
    try:
        return plan_engines(names)
    except ValueError as err:
        unknown = str(err)
        close = did_you_mean(unknown, ENGINES)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        usage_error(f"--engine {unknown!r} is not an engine (engines: {', '.join(ENGINES)}){hint}")
        return None


def project_dir(args: argparse.Namespace) -> Path:
    """The project a command works in (`runtime.app.project_root`: `--project DIR`, else
    `$OSIRIS_HOME`, else the nearest folder from here up that holds
    osiris_connections.yaml, else the working directory).

    A project found above the working directory is named once, on stderr: the user sees
    where run_logs/ and build/ go, and --json output on stdout stays clean. Decided once
    per command (kept on `args`), since a command asks more than once.
    """
    from runtime.app import PROJECT_MARKER, project_root

    decided = getattr(args, "project_root", None)
    if isinstance(decided, Path):
        return decided
    root = project_root(getattr(args, "project", None))
    named = getattr(args, "project", None) or os.environ.get("OSIRIS_HOME")
    if not named and root != Path.cwd().resolve():
        print(
            f"osiris: using the project in {root} (found {PROJECT_MARKER} there)",
            file=sys.stderr,
        )
    args.project_root = root
    return root


def usage_error(message: str) -> None:
    print(f"osiris: error: {message}", file=sys.stderr)


def parse_params(pairs: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            usage_error(f"--param expects NAME=VALUE, got {pair!r}")
            return None
        params[name.strip()] = value
    return params


def compile_context(args: argparse.Namespace, optimize: bool = True) -> CompileContext | None:
    """The compile context from the command line, or None after a usage error."""
    from runtime.app import compile_context as project_context

    params = parse_params(args.param)
    if params is None:
        return None
    engines = parse_engines(getattr(args, "engine", None))  # only commands that take --engine
    if engines is None:
        return None
    return project_context(
        project_dir(args),
        params,
        args.profile,
        optimize=optimize,
        catalogs=args.catalog == "auto",
        engines=engines,
    )


def read_source(path: Path) -> bytes | None:
    """The file's bytes, or None after printing why it cannot be read."""
    try:
        if path.is_dir():
            usage_error(f"{path}: is a directory, not an OML file")
            return None
        from compiler.loader import MAX_BYTES

        with path.open("rb") as handle:  # never read more than the loader accepts
            return handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        usage_error(f"{path}: no such file")
    except PermissionError:
        usage_error(f"{path}: permission denied")
    except OSError as err:
        usage_error(f"{path}: cannot read ({err.strerror})")
    return None
