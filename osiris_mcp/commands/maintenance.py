"""`osiris maintenance clean`: 0.5.7's retention command, the same as `osiris logs gc`.

Its limit is `filesystem.retention.run_logs_days` of a 0.5.7 `osiris.yaml` when the
project has one (else 7 days), and no size limit, as in 0.5.7.
"""

from __future__ import annotations

import argparse

from osiris_mcp.commands.logs import DEFAULT_DAYS, add_gc_arguments, collect_garbage
from osiris_mcp.commands.options import add_project, project_dir

HELP = "Apply log retention (clean: delete run folders older than osiris.yaml's run_logs_days)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("clean",), help="clean: the same as `osiris logs gc`")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_project(parser)
    add_gc_arguments(parser, with_limits=False)


def run(args: argparse.Namespace) -> int:
    from runtime.retention import retention_days

    project = project_dir(args)
    days = retention_days(project, DEFAULT_DAYS)
    return collect_garbage(project, days, None, args.dry_run, args.json)
