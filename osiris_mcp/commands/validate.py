"""`osiris validate FILE...`: every checking pass of the compiler, no output files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from osiris_mcp.commands import options

HELP = "Check OML files and print their diagnostics (exit 0 valid, 1 errors, 2 usage)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="OML pipeline files")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    options.add_verify_sql(parser)
    options.add_compile_inputs(parser)


def run(args: argparse.Namespace) -> int:
    from compiler.compile import check
    from compiler.diagnostics import has_errors, render
    from runtime.app import connections_problem

    context = options.compile_context(args)
    if context is None:
        return 2
    problem = connections_problem(options.project_dir(args))
    if problem is not None:
        print(
            f"osiris: warning: {problem}\n  (connection references are not checked)",
            file=sys.stderr,
        )
    results: list[dict[str, Any]] = []
    status = 0
    for name in args.files:
        source = options.read_source(Path(name))
        if source is None:
            return 2
        program = check(source, context, filename=name)
        if args.verify_sql and not has_errors(program.diagnostics):
            from runtime.sql_verify import verify_sql

            verify_sql(program, context, options.project_dir(args))
        valid = not has_errors(program.diagnostics)
        status = max(status, 0 if valid else 1)
        if args.json:
            results.append(
                {
                    "file": name,
                    "valid": valid,
                    "diagnostics": [d.to_dict() for d in program.diagnostics],
                }
            )
            continue
        for diagnostic in program.diagnostics:
            print(render(diagnostic, name, program.source))
        errors = sum(d.is_error for d in program.diagnostics)
        warnings = len(program.diagnostics) - errors
        verdict = "valid" if valid else f"{errors} error{'s' * (errors != 1)}"
        extra = f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
        print(f"{name}: {verdict}{extra}", file=sys.stderr if valid and not extra else sys.stdout)
    if args.json:
        if len(results) == 1:
            del results[0]["file"]
            print(json.dumps(results[0], indent=2, ensure_ascii=False))
        else:
            print(json.dumps(results, indent=2, ensure_ascii=False))
    return status
