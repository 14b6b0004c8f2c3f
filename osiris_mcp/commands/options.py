"""Options and input handling shared by the commands that compile (validate, compile, run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compiler.program import CompileContext

#: The file that marks a project folder: commands look for it from the working directory up.
PROJECT_MARKER = "osiris_connections.yaml"
PROJECT_HELP = (
    "project directory (default: $OSIRIS_HOME, else the nearest folder from here up that "
    f"holds {PROJECT_MARKER}, else the working directory)"
)


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
        help=PROJECT_HELP,
    )
    parser.add_argument(
        "--catalog",
        choices=("auto", "off"),
        default="auto",
        help="auto: check SQL against schemas `osiris discover` cached (never connects); "
        "off: no schema checks",
    )


def add_verify_sql(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-sql",
        action="store_true",
        help="also PREPARE each extract query on its database server (read-only, never "
        "executed): the server's own syntax, tables and columns",
    )


def project_dir(args: argparse.Namespace) -> Path:
    """The project a command works in: `--project DIR`, else `$OSIRIS_HOME`, else the
    nearest folder from the working directory up that holds osiris_connections.yaml (as
    git finds `.git`, so a command works from any subfolder), else the working directory.

    A project found above the working directory is named once, on stderr: the user sees
    where run_logs/ and build/ go, and --json output on stdout stays clean. Decided once
    per command (kept on `args`), since a command asks more than once.
    """
    decided = getattr(args, "project_root", None)
    if isinstance(decided, Path):
        return decided
    chosen = getattr(args, "project", None) or os.environ.get("OSIRIS_HOME")
    if chosen:
        root = Path(chosen).resolve()
    else:
        here = Path.cwd().resolve()
        root = find_project(here) or here
        if root != here:
            print(
                f"osiris: using the project in {root} (found {PROJECT_MARKER} there)",
                file=sys.stderr,
            )
    args.project_root = root
    return root


def find_project(start: Path) -> Path | None:
    """The nearest folder from `start` up that holds osiris_connections.yaml, or None."""
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return None


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
    project = project_dir(args)
    return default_context(
        params=params,
        env=env,
        profile=args.profile,
        optimize=optimize,
        connections=known_connections(project),
        connection_facts=connection_facts(project),
        catalogs=project_catalogs(project) if args.catalog == "auto" else {},
        filesystem_bases=filesystem_bases(project),
    )


def filesystem_bases(project: Path) -> dict[str, str]:
    """Each filesystem connection's absolute base_dir, where an absolute CSV path may point."""
    if not (project / "osiris_connections.yaml").is_file():
        return {}
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        infos = ConnectionsFile.load(project).aliases()
    except ConnectionProblem:
        return {}  # a broken connections file is reported when a run resolves it
    bases: dict[str, str] = {}
    for info in infos:
        base = info.fields.get("base_dir", ".")
        if info.family != "filesystem" or not isinstance(base, str) or info.missing_variables:
            continue
        folder = Path(base).expanduser()
        resolved = str((folder if folder.is_absolute() else project / folder).resolve())
        bases[info.ref] = resolved
        if info.is_default:
            bases["@filesystem"] = resolved
    return bases


def known_connections(project: Path) -> frozenset[str] | None:
    """Every `@family.alias` (and `@family` with a default) the project defines.

    None when there is no osiris_connections.yaml: then references are not checked.
    """
    if not (project / "osiris_connections.yaml").is_file():
        return None
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        return ConnectionsFile.load(project).refs()
    except ConnectionProblem:
        return None  # a broken connections file is reported when a run resolves it


def connections_problem(project: Path) -> str | None:
    """Why the project's osiris_connections.yaml cannot be read (None: it can, or there is
    none): `validate` says so, since it then cannot check the connection references."""
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        ConnectionsFile.load(project)
    except ConnectionProblem as err:
        return err.message + (f"\n  hint: {err.hint}" if err.hint else "")
    return None


def connection_facts(project: Path) -> dict[str, Any] | None:
    """What each connection reference resolves to, without secrets, for the manifest
    (`ConnectionsFile.facts`); None when the connections file is broken."""
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        return ConnectionsFile.load(project).facts()
    except ConnectionProblem:
        return None


def project_catalogs(project: Path) -> Any:
    """Cached catalogs for schema checks (looked up lazily; never connects)."""
    from runtime.project_catalogs import ProjectCatalogs

    return ProjectCatalogs(project)


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
