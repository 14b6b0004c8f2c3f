"""`osiris compile FILE`: check, then write the manifest and its files to a build folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from osiris_mcp.commands import options

HELP = "Compile an OML file into a hashed, deterministic manifest (exit 0 ok, 2 diagnostics)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="OML pipeline file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write the build files directly into DIR: a new or empty folder, or an earlier "
        "build (a folder holding anything else is refused, never replaced)",
    )
    parser.add_argument(
        "--compile",
        choices=("auto", "force", "never"),
        default="auto",
        help="auto: reuse an identical earlier build; force: always compile; "
        "never: only reuse, fail when there is none",
    )
    options.add_no_optimize(parser)
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--debug", action="store_true", help="also print the manifest")
    options.add_verify_sql(parser)
    options.add_engine(parser)
    options.add_compile_inputs(parser)


def run(args: argparse.Namespace) -> int:
    from compiler.diagnostics import render

    context = options.compile_context(args, optimize=not args.no_optimize)
    if context is None:
        return 2
    path = Path(args.file)
    source = options.read_source(path)
    if source is None:
        return 2
    from runtime.app import compile_to_disk

    try:
        outcome = compile_to_disk(
            source,
            context,
            str(path),
            options.project_dir(args),
            args.out,
            args.compile,
            verify_sql=args.verify_sql,
        )
    except Exception as err:  # a bug: say so, never a traceback
        return _internal_error(err, args.json)
    if outcome.ok:
        from runtime.builds import record_last_build

        record_last_build(options.project_dir(args), outcome.build_dir)
    if args.json:
        print(json.dumps(outcome.summary(), indent=2, ensure_ascii=False))
    else:
        for diagnostic in outcome.diagnostics:
            print(render(diagnostic, str(path), outcome.source))
        if outcome.ok:
            _print_summary(outcome.summary())
            if args.debug:
                print()
                print((outcome.build_dir / "manifest.yaml").read_text("utf-8"), end="")
        elif outcome.error:
            options.usage_error(outcome.error)
    return 0 if outcome.ok else 2


def _print_summary(outcome: dict[str, Any]) -> None:
    cached = " (cached)" if outcome.get("cached") else ""
    print(f"compiled '{outcome['pipeline']}'{cached}")
    print(f"  manifest_hash  {outcome['manifest_hash']}")
    print(f"  order          {' -> '.join(outcome['order'])}")
    if outcome.get("engines"):
        print(f"  engines        {', '.join(outcome['engines'])}")
    rewrites = outcome.get("rewrites") or []
    print(f"  rewrites       {len(rewrites) or 'none'}")
    for rewrite in rewrites:
        print(f"    {rewrite.get('kind')} into '{rewrite.get('step')}'")
    print(f"  files          {outcome['build_dir']}")


def _internal_error(err: Exception, as_json: bool) -> int:
    import os

    message = f"internal error ({type(err).__name__}): this is a bug in Osiris, please report it"
    if as_json:
        diagnostic = {"code": "INT900", "severity": "error", "message": message}
        print(json.dumps({"ok": False, "diagnostics": [diagnostic]}, indent=2))
    else:
        print(f"osiris: error[INT900]: {message}", file=sys.stderr)
    if os.environ.get("OSIRIS_DEBUG"):
        raise err
    return 1
