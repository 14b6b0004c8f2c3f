"""`osiris init [DIR]`: scaffold a project (connections file, .env.example, folders, .gitignore).

The scaffold's files are package data (osiris_mcp/scaffold/), copied byte for byte.
`--example NAME` adds a shipped example to it: the pipeline, the connections file the
examples use, and the example data. Both are read through importlib.resources, so an
installed wheel has them as a checkout does.
"""

from __future__ import annotations

import argparse
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

HELP = "Create a project: osiris_connections.yaml, .env.example, pipelines/, data/, .gitignore."

#: file name in the project -> its template in osiris_mcp/scaffold/, written in this order.
#: The templates are stored without their leading dot, so git never takes the scaffold's
#: gitignore for one of the package's own.
SCAFFOLD: dict[str, str] = {
    "osiris_connections.yaml": "osiris_connections.yaml",
    ".env.example": "env.example",
    ".gitignore": "gitignore",
}
FOLDERS = ("pipelines", "data")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        nargs="?",
        default=".",
        metavar="DIR",
        help="project directory, created if missing (default: the working directory)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--example",
        metavar="NAME",
        help="also copy a shipped example: its pipeline, the examples' connections and data "
        "(quickstart: CSV → DuckDB → CSV, no server needed)",
    )


NO_EXAMPLES_HINT = "this installation has no examples: reinstall osiris-oml"


def shipped_examples() -> Traversable:
    """The examples folder inside the installed package (a symlink to examples/ in a checkout)."""
    return files("osiris_mcp") / "examples"


def example_names(examples: Traversable) -> list[str]:
    """Every example, by the name of its pipeline file under pipelines/ (none when the
    installation lost them, e.g. a checkout where git did not make the symlink)."""
    pipelines = examples / "pipelines"
    if not pipelines.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in pipelines.iterdir()
        if entry.name.endswith(".yaml") and entry.is_file()
    )


def example_files(examples: Traversable, name: str) -> dict[str, bytes]:
    """What an example adds to a project: its pipeline, the connections file the example
    pipelines name (`@filesystem.local` reads data/ from the project folder) and the
    example data. The same files pyproject.toml ships as package data."""
    data = sorted(
        (entry for entry in (examples / "data").iterdir() if entry.name.endswith(".csv")),
        key=lambda entry: entry.name,
    )
    return {
        "osiris_connections.yaml": (examples / "osiris_connections.yaml").read_bytes(),
        f"pipelines/{name}.yaml": (examples / "pipelines" / f"{name}.yaml").read_bytes(),
        **{f"data/{entry.name}": entry.read_bytes() for entry in data},
    }


def scaffold_files() -> dict[str, bytes]:
    """What every new project gets, from the templates the package ships."""
    scaffold = files("osiris_mcp") / "scaffold"
    return {name: (scaffold / template).read_bytes() for name, template in SCAFFOLD.items()}


def project_files(example: str | None) -> dict[str, bytes] | None:
    """File name -> content for the new project, or None after an unknown example name."""
    if example is None:
        return scaffold_files()
    examples = shipped_examples()
    known = example_names(examples)
    if example not in known:
        print(f"osiris: error: no example named {example!r}", file=sys.stderr)
        hint = f"the examples are {', '.join(known)}" if known else NO_EXAMPLES_HINT
        print(f"  hint: {hint}", file=sys.stderr)
        return None
    return {**scaffold_files(), **example_files(examples, example)}


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        print(f"osiris: error: {target} exists and is not a directory", file=sys.stderr)
        return 2
    written = project_files(args.example)
    if written is None:
        return 2
    existing = [name for name in written if (target / name).exists()]
    blocked = [
        name for name in FOLDERS if (target / name).exists() and not (target / name).is_dir()
    ]
    if blocked:
        print(f"osiris: error: {', '.join(blocked)} in {target} is not a folder", file=sys.stderr)
        return 1
    if existing and not args.force:
        print(
            f"osiris: error: {target} already has {', '.join(existing)}; nothing was written",
            file=sys.stderr,
        )
        print("  hint: use --force to overwrite them", file=sys.stderr)
        return 1
    try:
        for folder in FOLDERS:
            (target / folder).mkdir(parents=True, exist_ok=True)
        for name, content in written.items():
            (target / name).write_bytes(content)
    except OSError as err:
        print(f"osiris: error: cannot write in {target}: {err.strerror}", file=sys.stderr)
        return 1
    filled = {name.split("/")[0] for name in written if "/" in name}
    created = [*written, *(f"{folder}/" for folder in FOLDERS if folder not in filled)]
    verb = "wrote (overwriting " + ", ".join(existing) + ")" if existing else "created"
    print(f"{verb} in {target.resolve()}:")
    for name in created:
        print(f"  {name}")
    print("\nnext:")
    if target.resolve() != Path.cwd().resolve():
        print(f"  cd {target}")
    if args.example:
        print(f"  osiris run pipelines/{args.example}.yaml")
        return 0
    print("  cp .env.example .env      # then fill in the passwords")
    print("  osiris connections doctor # check that each connection answers")
    return 0
