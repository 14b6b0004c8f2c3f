"""`osiris oml validate FILE...`: 0.5.7's form of `osiris validate`, the same command."""

from __future__ import annotations

import argparse

from osiris_mcp.commands import validate

HELP = "OML files: `osiris oml validate FILE...` is `osiris validate FILE...`."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("validate", help=validate.HELP, description=validate.HELP)
    validate.add_arguments(check)


def run(args: argparse.Namespace) -> int:
    return validate.run(args)
