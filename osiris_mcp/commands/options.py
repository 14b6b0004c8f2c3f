"""Options and input handling shared by the commands that compile (validate, compile, run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.program import CompileContext


def add_compile_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="select a profile defined in the pipeline")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a param (repeatable); wins over OSIRIS_PARAM_<NAME>, profile and default",
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        help="project directory (default: $OSIRIS_HOME, else the working directory)",
    )


def project_dir(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "project", None) or os.environ.get("OSIRIS_HOME") or "."
    return Path(chosen).resolve()


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
    from compiler.compile import default_context

    params = parse_params(args.param)
    if params is None:
        return None
    env = {k: v for k, v in os.environ.items() if k.startswith("OSIRIS_PARAM_")}
    return default_context(params=params, env=env, profile=args.profile, optimize=optimize)


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
